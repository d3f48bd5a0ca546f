"""The database side of delivery: claim rows with a lease, record what delivery did.

Rows are claimed with a lease (an UPDATE setting a fresh token). Every write after
delivery is checked against that token *and* the row version read at claim time: a
deliverer whose lease was taken over writes nothing, and a row changed while it was
forwarded stays in the outbox for its new state. A failed row waits :func:`backoff`
before its next attempt, and is dead after ``OUTBOX_MAX_ATTEMPTS`` (at once for a
permanent error, see ``_classify``).

All of it is sync: call it from a thread, never from an event loop.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from durable_automation.integration import get_settings

from ._delivery import Delivery, Outcome
from ._entities import with_entities
from .models import Event, EventStatus

__all__ = ["LEASE", "backoff", "claim", "record", "record_many", "release"]

log = logging.getLogger("django_integration.delivery")

LEASE = timedelta(seconds=60)
# Backoff after the n-th failed attempt: BACKOFF_BASE * 2**(n-1), at most BACKOFF_MAX.
BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def claim(ids: Sequence[int] | None = None, *, limit: int = 100,
          older_than: timedelta | None = None) -> list[Delivery]:
    """Lease rows that need delivery: the given ``ids``, or the oldest ``limit`` ones.

    Rows backing off after a failure (``next_attempt_at`` in the future) are left alone.

    Args:
        ids: Rows just committed (the dispatcher), or ``None`` for any (the relay).
        limit: At most this many rows.
        older_than: Only rows not changed for this long (leave fresh rows to the
            committing process's own dispatcher).
    """
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    candidates = Event.objects.filter(needs_delivery=True).filter(free & due)
    if ids is not None:
        candidates = candidates.filter(id__in=list(ids))
    if older_than is not None:
        candidates = candidates.filter(updated_at__lt=now - older_than)
    pks = list(candidates.order_by("id").values_list("id", flat=True)[:limit])
    if not pks:
        return []
    token = uuid.uuid4().hex
    # ``free & due`` again: another deliverer may have leased some of them meanwhile.
    Event.objects.filter(id__in=pks, needs_delivery=True).filter(free & due).update(
        lease_until=now + LEASE, lease_token=token)
    rows = Event.objects.filter(lease_token=token, id__in=pks).order_by("id")
    deliveries = [Delivery.from_row(row) for row in rows]
    with_entities(deliveries)  # here, so that the core need not call back for them
    return deliveries


def release(delivery: Delivery, error: str = "") -> None:
    """Give a row back untouched (not attempted), if this deliverer still holds it."""
    values: dict[str, Any] = {"lease_until": None, "lease_token": ""}
    if error:
        values["last_delivery_error"] = error[:2000]
    Event.objects.filter(pk=delivery.id, lease_token=delivery.token).update(**values)


def record(delivery: Delivery, outcome: Outcome) -> bool:
    """Write a delivery's outcome to its row and release the lease.

    Nothing is written unless this deliverer still holds the lease; what Temporal was
    told is always recorded, but the row only leaves the outbox when its version is
    still the one delivered.

    Returns:
        Whether the row needs delivering again now (it changed while it was forwarded,
        or it was skipped because its lease ran short).
    """
    if outcome.skipped:
        release(delivery, outcome.error or "")
        return not outcome.down  # the lease ran short: claim it again now
    now = timezone.now()
    mine = Event.objects.filter(pk=delivery.id, lease_token=delivery.token)
    values: dict[str, Any] = {"lease_until": None, "lease_token": "",
                              "target_errors": outcome.target_errors}
    same = Q(version=delivery.version)
    if outcome.error is not None and outcome.kind == "down":
        # Not this row's fault: no attempt counted, no backoff (the relay retries the
        # whole outbox once Temporal answers again). An outage kills no event.
        values["last_delivery_error"] = outcome.error[:2000]
        mine.update(**values)
        return False
    if outcome.error is not None:
        attempts = delivery.attempts + 1
        values["delivery_attempts"] = attempts
        values["last_delivery_error"] = outcome.error[:2000]
        dead = outcome.kind == "permanent" or attempts >= get_settings().outbox_max_attempts
        if not dead:
            values["next_attempt_at"] = now + backoff(attempts)
            mine.update(**values)
            return False
        # Dead, unless the row changed meanwhile: its new state deserves its own tries.
        values.update(dead_at=Case(When(same, then=Value(now)), default=Value(None)),
                      needs_delivery=Case(When(same, then=Value(False)), default=Value(True)),
                      next_attempt_at=None, error=outcome.error[:2000])
        if outcome.partial:  # what reached Temporal is recorded as delivered
            values.update(delivered_version=delivery.version, delivered_at=now,
                          delivered_status=outcome.delivered_status,
                          delivered_at_value=delivery.at)
        if outcome.partial and outcome.status == EventStatus.OCCURRED:
            values["status"] = Case(When(same, then=Value(EventStatus.OCCURRED)),
                                    default=models.F("status"))
            values["occurred_at"] = now
        elif not delivery.scheduled:
            values["status"] = Case(When(same, then=Value(EventStatus.FAILED)),
                                    default=models.F("status"))
        log.error("Event %s (%s) is dead after %d attempt(s): %s (see `manage.py "
                  "automation_outbox dead`)", delivery.id, delivery.event.name, attempts,
                  outcome.error)
        mine.update(**values)
        return False
    # Delivered: Temporal now knows this version's state.
    values.update(
        delivered_version=delivery.version, delivered_at=now, delivery_attempts=0,
        next_attempt_at=None, last_delivery_error="",
        delivered_status=outcome.delivered_status, delivered_at_value=delivery.at,
    )
    if outcome.target_errors:
        values["error"] = "; ".join(f"{t}: {e}" for t, e in outcome.target_errors.items())[:2000]
    # The common case first, in one statement: the row did not change meanwhile.
    final: dict[str, Any] = {"needs_delivery": False}
    if outcome.status == EventStatus.OCCURRED:
        final.update(status=EventStatus.OCCURRED, occurred_at=now)
    if mine.filter(same).update(**values, **final):
        return False
    # Changed while it was forwarded (or the lease was taken over: then nothing matches).
    return bool(mine.update(**values, needs_delivery=True))


def record_many(deliveries: Sequence[Delivery], outcomes: Sequence[Outcome]) -> list[int]:
    """:func:`record` each, in one transaction (one commit, not one per row: on SQLite each
    commit is an fsync); return the ids to deliver again now."""
    with transaction.atomic():
        return [d.id for d, o in zip(deliveries, outcomes, strict=True) if record(d, o)]
