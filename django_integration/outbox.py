"""The outbox: events committed but not yet forwarded to Temporal, and the relay that forwards them.

Every Event row that must reach Temporal is written with ``needs_delivery=True`` in
the transaction that caused it. Normally the committing process forwards it right
after commit (see ``_dispatcher``); rows left behind (Temporal was unreachable, the
process died) are forwarded by the relay: the worker runs :func:`arelay_forever`,
and ``manage.py automation_outbox relay`` runs :func:`relay_once`. Forwarding twice
starts nothing twice (deterministic run ids), so running several relays is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Min, QuerySet
from django.utils import timezone

from durable_automation.integration import get_settings

from ._delivery import Delivery, Outcome, adeliver_many
from ._dispatcher import dispatcher
from ._lease import claim, record_many
from ._resolver import run_db
from .models import Event, EventStatus

__all__ = [
    "OutboxStatus",
    "RelayResult",
    "arelay_forever",
    "arelay_once",
    "dead_events",
    "flush",
    "outbox_status",
    "relay_once",
    "resend",
    "retry_dead",
]

log = logging.getLogger("django_integration.relay")

# Rows younger than this are left to the dispatcher of the process that committed them.
FRESH = timedelta(seconds=2)


@dataclass(frozen=True)
class RelayResult:
    """What one relay pass did."""

    delivered: int = 0
    failed: int = 0
    retry_later: int = 0

    def __add__(self, other: RelayResult) -> RelayResult:
        return RelayResult(self.delivered + other.delivered, self.failed + other.failed,
                           self.retry_later + other.retry_later)


def flush(timeout: float = 30.0) -> bool:
    """Wait until this process has forwarded everything it committed so far (tests, scripts).

    Returns:
        False if ``timeout`` seconds passed first.
    """
    return dispatcher.flush(timeout)


async def arelay_once(*, batch: int = 100, include_fresh: bool = False,
                      timeout: float = 10.0,  # noqa: ASYNC109 - a per-row budget, not the pass's
                      concurrency: int = 32) -> RelayResult:
    """Forward every row that needs delivery, in concurrent batches.

    Rows backing off after a failure wait for their time; a row that fails for good
    goes dead and never holds up the others. The pass stops early only when Temporal
    cannot be reached at all.
    """
    total = RelayResult()
    older_than = None if include_fresh else FRESH
    while True:
        deliveries: list[Delivery] = await run_db(lambda: claim(limit=batch,
                                                                 older_than=older_than))
        if not deliveries:
            return total
        outcomes = await adeliver_many(deliveries, timeout=timeout, concurrency=concurrency)
        await run_db(record_many, deliveries, outcomes)
        for outcome in outcomes:
            total += _count(outcome)
        if any(o.down for o in outcomes):
            return total


def _count(outcome: Outcome) -> RelayResult:
    if outcome.error is None:
        return RelayResult(delivered=1)
    if outcome.transient:
        return RelayResult(retry_later=1)
    return RelayResult(failed=1)


def relay_once(**options: object) -> RelayResult:
    """Sync twin of :func:`arelay_once` (for management commands and scripts)."""
    return asyncio.run(arelay_once(**options))  # type: ignore[arg-type]


async def arelay_forever(stop: asyncio.Event | None = None,
                         interval: timedelta | None = None) -> None:
    """Relay until ``stop`` is set, every ``OUTBOX_RELAY_INTERVAL`` (default 5 s).

    The interval only bounds how long an event stays in the outbox after Temporal
    comes back (or after the process that committed it died before forwarding it).
    """
    stop = stop or asyncio.Event()
    period = (interval or get_settings().outbox_relay_interval).total_seconds()
    while not stop.is_set():
        try:
            result = await arelay_once()
            if result.delivered or result.failed:
                log.info("Relayed %d event(s), %d failed, %d left for later", result.delivered,
                         result.failed, result.retry_later)
            if result.delivered:
                dispatcher.resume()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Outbox relay pass failed; retrying in %.0fs", period)
        with contextlib.suppress(TimeoutError):  # the period ended without a stop
            await asyncio.wait_for(stop.wait(), period)


@dataclass(frozen=True)
class OutboxStatus:
    """Counts for ``manage.py automation_outbox status`` and monitoring."""

    undelivered: int
    oldest_undelivered: datetime | None
    with_errors: int
    by_status: dict[str, int]
    dead: int = 0


def outbox_status() -> OutboxStatus:
    """How many events wait for delivery, since when, and how many are in each status."""
    waiting = Event.objects.filter(needs_delivery=True)
    agg = waiting.aggregate(n=Count("id"), oldest=Min("updated_at"))
    errors = waiting.exclude(last_delivery_error="").count()
    by_status = dict(
        Event.objects.order_by().values_list("status").annotate(n=Count("id")).values_list(
            "status", "n")
    )
    dead = Event.objects.filter(dead_at__isnull=False).count()
    return OutboxStatus(agg["n"] or 0, agg["oldest"], errors, by_status, dead)


def resend(events: list[Event], *, timeout: float = 10.0) -> RelayResult:
    """Forward these events again now (the admin's "re-send" action, ``automation_outbox
    retry``): dead rows come back to life with a fresh attempt count.

    Immediate events that failed or never went out are delivered as if just
    committed; runs they already started are not started again. Scheduled events
    get their timer (re)started when it is missing.
    """
    ids = []
    now = timezone.now()
    for event in events:
        values: dict[str, object] = {
            "needs_delivery": True, "lease_until": None, "lease_token": "",
            "version": F("version") + 1, "updated_at": now, "dead_at": None,
            "delivery_attempts": 0, "next_attempt_at": None,
        }
        if not event.scheduled and event.status in (EventStatus.FAILED, EventStatus.PENDING,
                                                     EventStatus.OCCURRED):
            values["status"] = EventStatus.PENDING
        elif event.scheduled and event.status == EventStatus.SCHEDULED:
            values["delivered_status"] = ""  # restart the timer if it is gone
        Event.objects.filter(pk=event.pk).update(**values)
        ids.append(event.pk)

    async def deliver() -> RelayResult:
        total = RelayResult()
        deliveries = await run_db(claim, ids)
        outcomes = await adeliver_many(deliveries, timeout=timeout)
        await run_db(record_many, deliveries, outcomes)
        for outcome in outcomes:
            total += _count(outcome)
        return total

    return asyncio.run(deliver())


def dead_events() -> QuerySet[Event]:
    """Events whose delivery gave up (newest first), with their error."""
    return Event.objects.filter(dead_at__isnull=False).order_by("-dead_at", "-id")


def retry_dead(ids: list[int] | None = None, *, timeout: float = 10.0) -> RelayResult:
    """Deliver dead events again now: the given ones, or all of them."""
    events = dead_events()
    if ids is not None:
        events = events.filter(pk__in=ids)
    return resend(list(events), timeout=timeout)
