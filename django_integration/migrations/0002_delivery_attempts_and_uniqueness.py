"""Delivery attempts with backoff, dead rows, per-target errors, one live row per event.

Rows already in an outbox carry over: the new columns get their defaults (no backoff,
not dead, no target errors), and rows still waiting for delivery restart their
attempt count, since the old design counted attempts without ever giving up.
Duplicates that the old design could create (two concurrent saves) are resolved
before the unique constraints are added: the oldest row is kept; a duplicate
immediate row is marked cancelled (it already occurred or will be forwarded as the
kept one), a duplicate scheduled row is cancelled *and* queued for delivery, so its
Temporal timer is cancelled rather than firing a second time.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models import Count, F


def _resolve_duplicates(apps: Any, schema_editor: Any) -> None:
    Event = apps.get_model("django_integration", "Event")
    db = schema_editor.connection.alias
    live = {
        False: Event.objects.using(db).filter(scheduled=False).exclude(status="cancelled"),
        True: Event.objects.using(db).filter(scheduled=True, status="scheduled"),
    }
    for scheduled, rows in live.items():
        groups = (rows.values("entity_type", "entity_id", "name").order_by()
                  .annotate(n=Count("id")).filter(n__gt=1))
        for group in groups:
            ids = list(rows.filter(entity_type=group["entity_type"], entity_id=group["entity_id"],
                                   name=group["name"]).order_by("id").values_list("id", flat=True))
            extra = Event.objects.using(db).filter(id__in=ids[1:])
            values: dict[str, Any] = {"status": "cancelled",
                                      "error": "duplicate row (resolved by migration 0002)"}
            if scheduled:
                values.update(needs_delivery=True, version=F("version") + 1)
            extra.update(**values)
    Event.objects.using(db).filter(needs_delivery=True).update(delivery_attempts=0)


class Migration(migrations.Migration):

    dependencies = (
        ("django_integration", "0001_initial"),
    )

    operations = (
        migrations.AddField(
            model_name="event",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="event",
            name="dead_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="event",
            name="target_errors",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(_resolve_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                condition=models.Q(("scheduled", False), models.Q(("status", "cancelled"),
                                                                   _negated=True)),
                fields=("entity_type", "entity_id", "name"), name="da_event_one_immediate",
            ),
        ),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                condition=models.Q(("scheduled", True), ("status", "scheduled")),
                fields=("entity_type", "entity_id", "name"), name="da_event_one_scheduled",
            ),
        ),
    )
