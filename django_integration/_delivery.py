"""Forwarding Event rows to Temporal: make Temporal match each claimed row.

Delivery is a *sync of state*, not a replay of operations: a row says what should be
true (``status``, ``at``) and what Temporal was last told (``delivered_status``,
``delivered_at_value``); delivering makes Temporal match. So a row changed three
times before it is forwarded costs one delivery (intermediate dates merge into the
last one), and delivering it twice is harmless: run ids are derived from the event
(``<automation>:<entity>:<event id>``), started with USE_EXISTING / REJECT_DUPLICATE,
and timers are signalled absolute times. Transitions that handlers listen to are
never skipped: a scheduled event cancelled before it was ever forwarded is announced
(``@on_event_created``) and then cancelled (``@on_event_cancelled``).

Whether a failure is retried is decided in ``_classify``; claiming rows and recording
the outcomes is in ``_lease``. Per target: one automation that fails never keeps the
others from the event; its error is kept in ``target_errors``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from durable_automation.exceptions import EventDeliveryError
from durable_automation.integration import Event as CoreEvent
from durable_automation.integration import (
    acancel_timer,
    amove_timer,
    astart_timer,
    engine,
)

from ._classify import Kind, classify
from .models import Event, EventStatus

__all__ = ["Delivery", "Outcome", "adeliver", "adeliver_many"]

log = logging.getLogger("django_integration.delivery")


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
    token: str = ""
    lease_until: datetime | None = None
    attempts: int = 0

    @classmethod
    def from_row(cls, row: Event) -> Delivery:
        return cls(
            id=row.pk, version=row.version, scheduled=row.scheduled, status=row.status,
            at=row.at, delivered_status=row.delivered_status,
            delivered_at_value=row.delivered_at_value, event=row.to_event(),
            token=row.lease_token, lease_until=row.lease_until, attempts=row.delivery_attempts,
        )


@dataclass(frozen=True)
class Outcome:
    """What a delivery did: the state Temporal now has, or the error.

    Attributes:
        delivered_status: What Temporal now knows (``""`` = unchanged).
        status: New row status (immediate events become ``occurred``), if any.
        error: The error, when the delivery (or part of it) failed.
        kind: For an error, its class (see :func:`classify`).
        target_errors: Per target that failed, its error (the others were reached).
        skipped: Not attempted (Temporal was found down, or the lease ran short).
        partial: With a permanent error: some targets were reached, so the state in
            ``delivered_status``/``status`` is what Temporal now has.
    """

    delivered_status: str = ""
    status: str | None = None
    error: str | None = None
    kind: Kind | None = None
    target_errors: dict[str, str] = field(default_factory=dict)
    skipped: bool = False
    partial: bool = False

    @property
    def transient(self) -> bool:
        """The failure may go away by itself (retry later)."""
        return self.error is not None and self.kind in ("down", "transient")

    @property
    def down(self) -> bool:
        """Temporal could not be reached at all."""
        return self.kind == "down"


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _target_errors(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, EventDeliveryError):
        return {target: _message(e)[:500] for target, e in exc.failures.items()}
    return {}


# ASYNC109: the timeout is the row's delivery budget, applied here so that every caller
# (the dispatcher, the relay, adeliver_many) gets the same classification of a timeout.
async def adeliver(delivery: Delivery, timeout: float | None = None) -> Outcome:  # noqa: ASYNC109
    """Make Temporal match the row. Never raises: errors are returned in the outcome."""
    try:
        return await asyncio.wait_for(_sync(delivery), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the row
        kind = classify(exc)
        targets = _target_errors(exc)
        message = _message(exc)
        if isinstance(exc, EventDeliveryError) and exc.delivered and kind == "permanent":
            # Some targets were reached, the others refuse for good: the event did
            # happen (recorded as delivered); the row is dead, listing the failed targets,
            # until it is retried (the targets reached then start nothing twice).
            log.warning("Event %s (%s): %s", delivery.id, delivery.event.name, exc)
            return _done(delivery, error=message, kind=kind, target_errors=targets,
                         partial=True)
        if kind == "permanent":
            log.warning("Event %s (%s) cannot be forwarded: %s", delivery.id,
                        delivery.event.name, message)
        return Outcome(error=message, kind=kind, target_errors=targets)


def _done(d: Delivery, **extra: Any) -> Outcome:
    if not d.scheduled:
        if d.status == EventStatus.PENDING:
            occurred = str(EventStatus.OCCURRED)
            return Outcome(occurred, status=occurred, **extra)
        return Outcome(d.delivered_status, **extra)
    if d.status in (EventStatus.SCHEDULED, EventStatus.CANCELLED):
        return Outcome(d.status, **extra)
    return Outcome(d.delivered_status, **extra)


class _Stages:
    """Runs the steps of one delivery; a step whose failures are all permanent (one
    automation refusing) does not stop the next one (the timer still starts, the
    cancellation still runs). Transient failures stop the delivery: it is retried."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: dict[str, BaseException] = {}
        self.delivered = 0

    async def step(self, call: Awaitable[Any]) -> None:
        try:
            await call
        except EventDeliveryError as exc:
            if classify(exc) != "permanent":
                raise
            self.failures.update(exc.failures)
            self.delivered += exc.delivered
        else:
            self.delivered += 1

    def done(self) -> None:
        if self.failures:
            raise EventDeliveryError(self.name, self.failures, self.delivered)


async def _sync(d: Delivery) -> Outcome:
    event, wire = d.event, d.event.wire()
    stages = _Stages(event.name)
    if not d.scheduled:
        if d.status == EventStatus.PENDING:
            await engine.ahandle_event_occurred(event)
        return _done(d)
    if d.status == EventStatus.SCHEDULED:
        if d.delivered_status != EventStatus.SCHEDULED:
            # Announce first (created handlers, negative-offset runs waiting for their
            # time), then start the timer: the event cannot occur before it is announced.
            await stages.step(engine.ahandle_event_scheduled(event))
            started = await astart_timer(engine, wire)
            if not started:
                # An earlier delivery of this row started the timer and died before
                # recording it (a killed process): it may be set for an older date.
                await amove_timer(engine, wire)
            if not started or d.version > 1:
                # Likewise the runs waiting for it (they already existed, so starting
                # them again did not set their time): bring them to this date.
                await stages.step(engine.ahandle_event_rescheduled(event))
        elif d.delivered_at_value != d.at:
            await amove_timer(engine, wire)
            await stages.step(engine.ahandle_event_rescheduled(event))
    elif d.status == EventStatus.CANCELLED:
        if d.delivered_status == EventStatus.SCHEDULED:
            await acancel_timer(engine, wire)
            await stages.step(engine.ahandle_event_cancelled(event))
        elif d.delivered_status == "":
            # Created and cancelled before anything was forwarded: both transitions
            # happened, and handlers listen to both. No timer was ever started.
            await stages.step(engine.ahandle_event_scheduled(event, announce_only=True))
            # A delivery that died before recording may have started the timer.
            await acancel_timer(engine, wire)
            await stages.step(engine.ahandle_event_cancelled(event))
    # occurred / failed: recorded by the timer itself
    stages.done()
    return _done(d)


# ASYNC109: a per-row budget (also checked against each row's lease), not one for the batch.
async def adeliver_many(deliveries: Sequence[Delivery], *, timeout: float = 10.0,  # noqa: ASYNC109
                        concurrency: int = 32) -> list[Outcome]:
    """Deliver rows concurrently (one outcome per row, in order).

    Stops starting new deliveries once Temporal is found unreachable, and skips rows
    whose lease would run out before their delivery could finish (they are released).
    """
    gate = asyncio.Semaphore(concurrency)
    down = asyncio.Event()
    probe: asyncio.Future[bool] | None = None

    async def reachable() -> bool:
        # A timeout is ambiguous: a slow row, or a server that is gone (the client
        # retries a dead server for longer than our timeout). One health check per
        # batch tells them apart, so that an outage never counts as a row's attempt.
        nonlocal probe
        if probe is None:
            probe = asyncio.ensure_future(_reachable())
        return await asyncio.shield(probe)

    async def one(delivery: Delivery) -> Outcome:
        async with gate:
            if down.is_set():
                return Outcome(error="skipped: Temporal unreachable", kind="down", skipped=True)
            if delivery.lease_until is not None and \
                    timezone.now() + timedelta(seconds=timeout) >= delivery.lease_until:
                return Outcome(error="skipped: lease too short", kind="transient", skipped=True)
            outcome = await adeliver(delivery, timeout)
            if outcome.kind == "transient" and (outcome.error or "").startswith("TimeoutError") \
                    and not await reachable():
                outcome = replace(outcome, kind="down")
            if outcome.down:
                down.set()
            return outcome

    return list(await asyncio.gather(*(one(d) for d in deliveries)))


async def _reachable(timeout: float = 3.0) -> bool:  # noqa: ASYNC109 - the RPC's own deadline
    try:
        client = await engine._aclient()
        return bool(await engine._on_loop(client.service_client.check_health,
                                          timeout=timedelta(seconds=timeout)))
    except Exception:  # noqa: BLE001 - any failure to answer means unreachable
        return False

