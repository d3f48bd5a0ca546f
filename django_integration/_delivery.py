"""Forwarding Event rows to Temporal: claim rows, sync each with Temporal, record the result.

Delivery is a *sync of state*, not a replay of operations: a row says what should be
true (``status``, ``at``) and what Temporal was last told (``delivered_status``,
``delivered_at_value``); delivering makes Temporal match. So a row changed three
times before it is forwarded costs one delivery (intermediate dates merge into the
last one), and delivering it twice is harmless: run ids are derived from the event
(``<automation>:<entity>:<event id>``), started with USE_EXISTING / REJECT_DUPLICATE,
and timers are signalled absolute times. Transitions that handlers listen to are
never skipped: a scheduled event cancelled before it was ever forwarded is announced
(``@on_event_created``) and then cancelled (``@on_event_cancelled``).

Rows are claimed with a lease (an UPDATE setting a fresh token). Every write after
delivery is checked against that token *and* the row version read at claim time: a
deliverer whose lease was taken over writes nothing, and a row changed while it was
forwarded stays in the outbox for its new state.

Errors are classified by gRPC status (:func:`classify`): ``down`` (Temporal cannot
be reached: stop, retry later, counts no attempt), ``transient`` (overloaded, timed
out: retry this row with exponential backoff, dead after ``OUTBOX_MAX_ATTEMPTS``),
``permanent`` (an invalid request, a ``create_context`` that raises: retrying cannot
help, the row is dead at once). Per target: one automation that fails never keeps
the others from the event; its error is kept in ``target_errors``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import models, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from temporalio.service import RPCError, RPCStatusCode

from durable_automation.exceptions import EventDeliveryError, NotConnectedError
from durable_automation.integration import Event as CoreEvent
from durable_automation.integration import (
    acancel_timer,
    amove_timer,
    astart_timer,
    engine,
    get_settings,
)

from .models import Event, EventStatus

__all__ = [
    "Delivery",
    "Outcome",
    "adeliver",
    "adeliver_many",
    "backoff",
    "claim",
    "classify",
    "is_transient",
    "record",
    "record_many",
    "release",
]

log = logging.getLogger("django_integration.delivery")

LEASE = timedelta(seconds=60)
# Backoff after the n-th failed attempt: BACKOFF_BASE * 2**(n-1), at most BACKOFF_MAX.
BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(minutes=5)

Kind = Literal["down", "transient", "permanent"]

# Statuses that say "try again later": the server is overloaded, timed out, or hit an
# internal hiccup. UNAVAILABLE is separate: the server cannot be reached at all.
_TRANSIENT = frozenset({
    RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.ABORTED,
    RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED,
})


def classify(exc: BaseException) -> Kind:
    """Whether retrying a failed delivery can help, from the error's gRPC status.

    Returns:
        ``down``: Temporal cannot be reached (UNAVAILABLE, no connection) — retry the
        whole outbox later; ``transient``: this call may succeed later (overloaded,
        timed out) — retry this row with backoff; ``permanent``: the request itself is
        wrong (INVALID_ARGUMENT, a payload over the size limit, user code that raises)
        — retrying cannot help.
    """
    if isinstance(exc, EventDeliveryError):
        kinds = {classify(e) for e in exc.failures.values()}
        for kind in ("down", "transient"):
            if kind in kinds:
                return kind  # type: ignore[return-value]
        return "permanent"
    if isinstance(exc, (NotConnectedError, ConnectionError)):
        return "down"
    # RPCError, and the SDK's TemporalServiceError that wraps it, carry the status.
    status = getattr(exc, "status", None)
    if isinstance(exc, RPCError) or (status is not None and isinstance(status, RPCStatusCode)):
        if status == RPCStatusCode.UNAVAILABLE:
            return "down"
        return "transient" if status in _TRANSIENT else "permanent"
    if isinstance(exc, TimeoutError):
        return "transient"
    return "permanent"


def is_transient(exc: BaseException) -> bool:
    """Whether an error may go away by itself (unreachable, overloaded, timed out)."""
    return classify(exc) != "permanent"


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


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


# ── database side (sync; call from a thread, never from an event loop) ─────────────


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
    return [Delivery.from_row(row) for row in rows]


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
