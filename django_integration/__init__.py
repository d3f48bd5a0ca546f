"""The Django app of durable-automation: model events forwarded to Temporal.

Add ``"django_integration"`` to ``INSTALLED_APPS`` and declare events on models::

    from django_integration import EventDefinition

    class Reservation(models.Model):
        events = [
            EventDefinition("reservation_confirmed", condition=lambda r: r.status == "confirmed"),
            EventDefinition("checkin_due", date_field="checkin_at",
                            condition=lambda r: r.status == "confirmed"),
        ]

Importing this package does not import Django models, so models can import it.
"""

from __future__ import annotations

from ._definitions import EventDefinition

__all__ = ["EventDefinition"]
