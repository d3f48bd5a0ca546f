"""The ``Event`` model: one row per event occurrence, and the transactional outbox.

A row is written by the model's ``post_save``/``post_delete`` handler in the same
transaction as the change that caused it, with ``needs_delivery=True``. After commit
it is forwarded to Temporal (a background thread in the process that committed, or
the relay the worker runs); ``delivered_*`` say what Temporal was last told, so
forwarding is a sync of the row's state, and repeating it is harmless. Rolled-back
transactions leave no row, so nothing is forwarded for them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from durable_automation.integration import Event as CoreEvent
from durable_automation.integration import EventWire

__all__ = ["Event", "EventStatus"]


class EventStatus(models.TextChoices):
    """Where an event is in its life."""

    PENDING = "pending", "pending"  # immediate: committed, not yet forwarded
    SCHEDULED = "scheduled", "scheduled"  # scheduled: waiting for its date
    OCCURRED = "occurred", "occurred"
    CANCELLED = "cancelled", "cancelled"
    FAILED = "failed", "failed"  # condition raised, or forwarding failed for good


# 0 for an immediate event that is not cancelled, 1 for a scheduled event that is
# still scheduled, NULL for any other row (see ``Event.Meta.constraints``).
LIVE_SLOT = models.Case(
    models.When(models.Q(scheduled=False) & ~models.Q(status="cancelled"),
                then=models.Value(0)),
    models.When(models.Q(scheduled=True, status="scheduled"), then=models.Value(1)),
    default=None, output_field=models.IntegerField(),
)


class Event(models.Model):
    """An event about a model instance (its *entity*).

    ``event.entity`` loads the instance. ``wire()`` is the form the engine takes.
    """

    name = models.CharField(max_length=200)
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False,  # never queried by it; one index less to write on every event
    )
    # ``app_label.model`` kept as text too: events outlive a model that is removed.
    entity_type = models.CharField(max_length=200)
    entity_id = models.CharField(max_length=64)
    scheduled = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=EventStatus.choices)
    at = models.DateTimeField(null=True, blank=True, help_text="when it is due / occurred")
    occurred_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # ── delivery bookkeeping (the outbox) ────────────────────────────────────────
    version = models.PositiveIntegerField(default=1)
    needs_delivery = models.BooleanField(default=True)
    delivered_version = models.PositiveIntegerField(default=0)
    delivered_status = models.CharField(max_length=16, blank=True, default="")
    delivered_at_value = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    last_delivery_error = models.TextField(blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    # After a failed attempt: not before this time (exponential backoff).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set when delivery gave up after ``OUTBOX_MAX_ATTEMPTS`` attempts (or on an error
    # that retrying cannot fix); such a row waits for ``automation_outbox retry``.
    dead_at = models.DateTimeField(null=True, blank=True)
    # Per target (automation, waiters, agents): the error of the last delivery, if any.
    target_errors = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]  # noqa: RUF012 - as in migration 0001
        indexes = (
            # Partial: only rows waiting for delivery (few) are in it.
            models.Index(fields=["id"], name="da_event_outbox",
                         condition=models.Q(needs_delivery=True)),
        )
        constraints = (
            # One index serves three needs: finding an instance's rows (its leading
            # columns), at most one immediate occurrence per instance that is not
            # cancelled (two concurrent saves must not both insert one; the second
            # INSERT does nothing, see ``_event_sql``), and at most one live
            # (scheduled) occurrence of a scheduled event. ``live_slot`` is NULL for
            # every other row, and NULLs never collide. Two partial unique indexes
            # and a plain one did the same, but every index an INSERT writes is one
            # more page for the commit to journal: on SQLite that doubled what events
            # add to a save.
            models.UniqueConstraint(
                "entity_type", "entity_id", "name", LIVE_SLOT, name="da_event_one_live"),
        )

    def __str__(self) -> str:
        return f"{self.name} {self.entity_type}:{self.entity_id} ({self.status})"

    @property
    def dead(self) -> bool:
        """Delivery gave up on this row (see ``manage.py automation_outbox dead``)."""
        return self.dead_at is not None

    @property
    def entity_ref(self) -> str:
        """``app_label.model:pk``, as in run ids."""
        return f"{self.entity_type}:{self.entity_id}"

    def wire(self) -> EventWire:
        """The event's wire form (what the engine and workflows receive)."""
        return EventWire(
            id=str(self.pk), name=self.name, entity_type=self.entity_type,
            entity_id=self.entity_id, data=dict(self.data or {}), at=self.at,
            scheduled=self.scheduled,
        )

    def to_event(self) -> CoreEvent:
        """The core event (``event.entity`` resolves lazily through the app's resolver)."""
        return CoreEvent.from_wire(self.wire())

    @property
    def entity(self) -> Any:
        """The model instance this event is about.

        Raises:
            EntityNotFoundError: The model no longer exists, or the row was deleted.
        """
        from ._resolver import resolve_entity

        return resolve_entity(self.entity_type, self.entity_id)

    def run_ids(self) -> list[str]:
        """Ids of the runs this event starts (or started), by the automations registered here."""
        from durable_automation.integration import registry

        ids = [f"{d.name}:{self.entity_ref}:{self.pk}" for d in registry.event_workflows(self.name)]
        for kind in ("occurred", "created", "cancelled"):
            ids += [f"{h.name}:{self.entity_ref}:{self.pk}"
                    for h in registry.event_handlers(self.name, kind)]
        if self.scheduled:
            ids.insert(0, f"event:{self.name}:{self.entity_ref}:{self.pk}")
        return ids
