"""One index instead of three on the Event table (a cheaper ``save()``).

The two partial unique constraints (one immediate occurrence per instance, one live
scheduled occurrence) and the plain ``(entity_type, entity_id, name)`` index become
one unique index over ``(entity_type, entity_id, name, live slot)``, where the slot is
NULL for rows that neither constraint covered. It enforces exactly what the two
constraints did, so every row that satisfied them satisfies it: rows carry over as
they are. The new index is added before the old ones go, so uniqueness holds
throughout.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_integration", "0002_delivery_attempts_and_uniqueness"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                models.F("entity_type"), models.F("entity_id"), models.F("name"),
                models.Case(
                    models.When(models.Q(("scheduled", False),
                                         models.Q(("status", "cancelled"), _negated=True)),
                                then=models.Value(0)),
                    models.When(models.Q(("scheduled", True), ("status", "scheduled")),
                                then=models.Value(1)),
                    default=None, output_field=models.IntegerField()),
                name="da_event_one_live"),
        ),
        migrations.RemoveConstraint(model_name="event", name="da_event_one_immediate"),
        migrations.RemoveConstraint(model_name="event", name="da_event_one_scheduled"),
        migrations.RemoveIndex(model_name="event", name="da_event_entity"),
    ]
