"""Forwarding Event rows to Temporal: claim rows, sync each with Temporal, record the result.

Delivery is a *sync of state*, not a replay of operations: a row says what should be
true (``status``, ``at``) and what Temporal was last told (``delivered_status``,
``delivered_at_value``); delivering makes Temporal match. So a row changed three
times before it is forwarded costs one delivery, and delivering it twice is
harmless: run ids are derived from the event (``<automation>:<entity>:<event id>``),
started with USE_EXISTING / REJECT_DUPLICATE, and timers are signalled absolute times.

Rows are claimed with a short lease (an UPDATE) so that two deliverers (the
committing process's background thread and a worker's relay) never forward the
same row at the same time, which could reorder two moves of one timer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from temporalio.service import RPCError

from durable_automation._engine import engine
from durable_automation._events import Event as CoreEvent
from durable_automation._scheduled_event import acancel_timer, amove_timer, astart_timer
from durable_automation.exceptions import NotConnectedError

from .models import Event, EventStatus

__all__ = ["Delivery", "Outcome", "adeliver", "claim", "is_transient", "record"]

log = logging.getLogger("django_integration.delivery")

LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Delivery:
    """A claimed row, as read at claim time (no ORM access is needed to forward it)."""

    id: int
    version: int
    scheduled: bool
    status: str
    at: datetime | None
    delivered_status: str
    delivered_at_value: datetime | None
    event: CoreEvent

    @classmethod
    def from_row(cls, row: Event) -> Delivery:
        return cls(
            id=row.pk, version=row.version, scheduled=row.scheduled, status=row.status,
            at=row.at, delivered_status=row.delivered_status,
            delivered_at_value=row.delivered_at_value, event=row.to_event(),
        )


@dataclass(frozen=True)
class Outcome:
    """What a delivery did: the state Temporal now has, or the error.

    Attributes:
        delivered_status: What Temporal now knows (``""`` = unchanged).
        status: New row status (immediate events become ``occurred``), if any.
        error: The error, when the delivery failed.
        transient: The error is about reaching Temporal: retry later. Otherwise it is
            the event's own problem (a ``create_context`` that raises, an entity that
            is gone) and retrying will not help: the row is marked failed.
    """

    delivered_status: str = ""
    status: str | None = None
    error: str | None = None
    transient: bool = False


def is_transient(exc: BaseException) -> bool:
    """Whether an error is about reaching Temporal (so the event is kept for a retry)."""
    return isinstance(exc, (RPCError, TimeoutError, NotConnectedError, ConnectionError))


async def adeliver(delivery: Delivery, timeout: float | None = None) -> Outcome:
    """Make Temporal match the row. Never raises: errors are returned in the outcome."""
    try:
        return await asyncio.wait_for(_sync(delivery), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the row
        transient = is_transient(exc)
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not transient:
            log.warning("Event %s (%s) cannot be forwarded: %s", delivery.id,
                        delivery.event.name, message)
        return Outcome(error=message, transient=transient)


async def _sync(d: Delivery) -> Outcome:
    event, wire = d.event, d.event.wire()
    if not d.scheduled:
        if d.status == EventStatus.PENDING:
            await engine.ahandle_event_occurred(event)
            return Outcome(EventStatus.OCCURRED, status=EventStatus.OCCURRED)
        return Outcome(d.delivered_status)
    if d.status == EventStatus.SCHEDULED:
        if d.delivered_status != EventStatus.SCHEDULED:
            await astart_timer(engine, wire)
            await engine.ahandle_event_scheduled(event)
        elif d.delivered_at_value != d.at:
            await amove_timer(engine, wire)
            await engine.ahandle_event_rescheduled(event)
        return Outcome(EventStatus.SCHEDULED)
    if d.status == EventStatus.CANCELLED:
        if d.delivered_status == EventStatus.SCHEDULED:
            await acancel_timer(engine, wire)
            await engine.ahandle_event_cancelled(event)
        # Cancelled before it was ever forwarded: nothing was announced, nothing to undo.
        return Outcome(EventStatus.CANCELLED)
    return Outcome(d.delivered_status)  # occurred / failed: recorded by the timer itself


# ── database side (sync; call from a thread, never from an event loop) ─────────────


def claim(ids: list[int] | None = None, *, limit: int = 100,
          older_than: timedelta | None = None) -> list[Delivery]:
    """Lease rows that need delivery: the given ``ids``, or the oldest ``limit`` ones.

    Args:
        ids: Rows just committed (the dispatcher), or ``None`` for any (the relay).
        limit: At most this many rows.
        older_than: Only rows not changed for this long (leave fresh rows to the
            committing process's own dispatcher).
    """
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    candidates = Event.objects.filter(needs_delivery=True).filter(free)
    if ids is not None:
        candidates = candidates.filter(id__in=ids)
    if older_than is not None:
        candidates = candidates.filter(updated_at__lt=now - older_than)
    pks = list(candidates.order_by("id").values_list("id", flat=True)[:limit])
    if not pks:
        return []
    token = uuid.uuid4().hex
    Event.objects.filter(id__in=pks).filter(free).update(lease_until=now + LEASE, lease_token=token)
    rows = Event.objects.filter(lease_token=token, id__in=pks).order_by("id")
    return [Delivery.from_row(row) for row in rows]


def record(delivery: Delivery, outcome: Outcome) -> None:
    """Write a delivery's outcome to its row and release the lease."""
    now = timezone.now()
    values: dict[str, Any] = {
        "lease_until": None, "lease_token": "",
        "delivery_attempts": models.F("delivery_attempts") + 1,
    }
    if outcome.error is not None and outcome.transient:
        values["last_delivery_error"] = outcome.error[:2000]
        Event.objects.filter(pk=delivery.id).update(**values)
        return
    # Done (or failed for good): clear the flag unless the row changed meanwhile, in
    # which case its new state still has to be forwarded.
    same = When(version=delivery.version, then=Value(False))
    values["needs_delivery"] = Case(same, default=Value(True))
    values["delivered_version"] = delivery.version
    values["delivered_at"] = now
    if outcome.error is not None:
        values["last_delivery_error"] = outcome.error[:2000]
        values["error"] = outcome.error[:2000]
        if not delivery.scheduled:
            values["status"] = Case(When(version=delivery.version, then=Value(EventStatus.FAILED)),
                                    default=models.F("status"))
    else:
        values["last_delivery_error"] = ""
        values["delivered_status"] = outcome.delivered_status
        values["delivered_at_value"] = delivery.at
        if outcome.status == EventStatus.OCCURRED:
            values["status"] = EventStatus.OCCURRED
            values["occurred_at"] = now
    Event.objects.filter(pk=delivery.id).update(**values)
