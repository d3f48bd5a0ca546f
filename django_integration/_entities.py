"""The entities of claimed events, loaded on the Django side before the core sees them.

``create_context`` of an ``@event_workflow`` (and the key of a debounced handler) reads
``event.entity``. Loaded here, on the thread that claimed the rows (one query per
model per batch), the event reaches the engine carrying its entity, so on the way from
``save()`` to Temporal the core never has to call back into Django to resolve it.
Events nobody reads the entity of on that way (plain ``@on_event`` handlers, which get
the event in the worker) cost no query.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import apps
from django.core.exceptions import ValidationError

from durable_automation.integration import registry

from ._delivery import Delivery
from .models import EventStatus

__all__ = ["with_entities"]


def _reads_entity(name: str) -> bool:
    """Whether forwarding this event runs code that may read ``event.entity``."""
    if registry.event_workflows(name):
        return True
    return any(h.debounce_window is not None for h in registry.event_handlers(name, "occurred"))


def with_entities(deliveries: Sequence[Delivery]) -> None:
    """Attach each delivery's entity to its event where forwarding will read it.

    An entity that cannot be loaded here (the model or the row is gone) is left
    unloaded: where it is read, the resolver then says why.
    """
    wanted: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        event = delivery.event
        if event.entity_type and event.entity_id is not None and delivery.status in (
                EventStatus.PENDING, EventStatus.SCHEDULED) and _reads_entity(event.name):
            wanted.setdefault(event.entity_type, []).append(delivery)
    for label, group in wanted.items():
        try:
            model = apps.get_model(label)
            found = model._default_manager.in_bulk([d.event.entity_id for d in group])
        except (LookupError, ValueError, TypeError, ValidationError):
            continue
        by_id = {str(pk): obj for pk, obj in found.items()}
        for delivery in group:
            entity = by_id.get(str(delivery.event.entity_id))
            if entity is not None:
                delivery.event._entity = entity
