"""The per-key limiter: one workflow per (automation, key) that starts that key's runs
as its children and lets them through ``concurrency``, ``throttle`` or ``rate_limit``.

Why children. A slot must come back when its run ends in *any* way, terminate
included, and a terminated run executes no code: it cannot say it is done. A
workflow learns of another's close without polling only when that other is its
child (Temporal records ``ChildWorkflowExecution{Completed,Failed,Canceled,
Terminated,TimedOut}`` in the parent's history and wakes it). So the engine does not
start a limited run itself: it sends the run's start to the limiter
(update-with-start, one call: the limiter is created on first use), and the limiter
starts it as a child with ``ParentClosePolicy.ABANDON`` (the run never depends on the
limiter's own fate) and answers once the child exists, so ``engine.start`` returns a
run that is there. Every run is its own workflow from the first moment, listed in the
UI under its automation's name, in its gate "Waiting for a slot" until the limiter
signals it a grant. Since the server itself reports each child's close, a worker that
dies holds nothing: the run goes on on another worker and frees the slot when it
ends; no timeout, heartbeat or reconciliation is involved.

Arrival order. A run with no start time asks for its slot as it starts (the limiter
queues it right away); a run that first waits for its event time (an
``@event_workflow`` offset) signals ``ask`` when its time comes. Slots go in that
order.

Bounded history. A limiter continues as new when Temporal suggests it, carrying who
holds a slot, who waits, the throttle window and the drop log. The runs in flight
stay children of the run that started them, so the new limiter run hears of no
close of theirs: it grants the waiting ones with a signal by workflow id (a run that
ended meanwhile refuses it, and its turn passes), and for each *holder* that is not
its own child (at most ``limit`` at a time) it runs one activity that long-polls that
run's history for its close event (``_watch.py``). That costs a worker activity slot
per such holder, only after a continue-as-new; the common path stays children. A
limiter with nothing to do (no run in flight or waiting, an empty window) completes;
the next start creates it again.

Throttle and rate limit keep the times they let runs through in the window
(``workflow.now()``, so they count across workers and restarts); a throttled run
waits for a durable timer on the limiter, a dropped run ends at once with
``{"dropped": reason}`` and is kept in the limiter's drop log (query
``limiter_state``, its current details, and a warning in the worker log).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from .._core import search
    from .._core.flow import (
        FLOW_GRANT_MEMO,
        FLOW_GRANT_SIGNAL,
        LIMITER_ACQUIRE_SIGNAL,
        LIMITER_ASK_SIGNAL,
        LIMITER_ENQUEUE_UPDATE,
        LIMITER_RELEASE_SIGNAL,
        LIMITER_STATE_QUERY,
        LIMITER_WORKFLOW,
        AcquireRequest,
        DroppedRun,
        FlowGrant,
        LimiterState,
        LimitRequest,
    )
    from ._watch import AWAIT_CLOSE_ACTIVITY

__all__ = ["LimiterWorkflow"]

_DROP_LOG = 100
_PREGRANT = "da-flow-pregrant"
_WINDOW_TIMER = "da-flow-window-timer"


@workflow.defn(name=LIMITER_WORKFLOW)
class LimiterWorkflow:
    """Lets one key's runs of one automation through its concurrency, throttle or rate limit."""

    @workflow.init
    def __init__(self, state: LimiterState) -> None:
        self._state = state
        # Runs this limiter run started; holders and waiting runs may also be runs a
        # previous run of it started (carried over a continue-as-new).
        self._children: dict[str, Any] = {}
        self._holders: list[str] = list(state.holders) if state.mode == "concurrency" else []
        self._carried = tuple(self._holders)
        self._waiting: deque[str] = deque(state.waiting)
        self._recent: deque[datetime] = deque(state.recent)
        self._dropped: deque[DroppedRun] = deque(state.dropped, maxlen=_DROP_LOG)
        self._dropped_count = state.dropped_count
        # Agent-handler calls among them: token -> the agent's workflow id.
        self._external: dict[str, str] = dict(state.external)
        self._watchers: dict[str, Any] = {}
        self._changed = False
        self._signals: set[asyncio.Task[None]] = set()
        # The pending window timer's due time, and the timers' tasks (throttle, rate limit).
        self._window_due: datetime | None = None
        self._window_timers: set[asyncio.Task[None]] = set()

    # ── handlers ─────────────────────────────────────────────────────────────────

    @workflow.update(name=LIMITER_ENQUEUE_UPDATE)
    async def enqueue(self, request: LimitRequest) -> str:
        """Start a run as a child: ``started``, or ``exists`` (its id is taken)."""
        self._configure(request)
        return await self._start_child(request)

    @workflow.signal(name=LIMITER_ASK_SIGNAL)
    def ask(self, run_id: str) -> None:
        """A child that waited for its start time wants its slot now."""
        self._ask(run_id)

    @workflow.signal(name=LIMITER_ACQUIRE_SIGNAL)
    def acquire(self, request: AcquireRequest) -> None:
        """An agent asks for a slot for one handler call (``agents/_flow.py``)."""
        self._configure(request)
        if request.token not in self._holders:
            self._external[request.token] = request.holder
        self._ask(request.token)

    @workflow.signal(name=LIMITER_RELEASE_SIGNAL)
    def release(self, token: str) -> None:
        """An agent's handler call ended: its slot is free."""
        if token in self._holders:
            self._holders.remove(token)
        if token in self._waiting:
            self._waiting.remove(token)
        self._external.pop(token, None)
        watcher = self._watchers.pop(token, None)
        if watcher is not None:
            watcher.cancel()
        self._changed = True

    @workflow.query(name=LIMITER_STATE_QUERY)
    def state(self) -> LimiterState:
        """Who holds a slot, who waits, what was dropped."""
        return self._snapshot()

    # ── the loop ─────────────────────────────────────────────────────────────────

    @workflow.run
    async def run(self, state: LimiterState) -> None:
        """Grant slots as they free up; continue as new when suggested; end when idle."""
        for run_id in self._carried:  # holders carried over a continue-as-new
            if run_id in self._holders:
                self._watch(run_id)
        while True:
            # Once Temporal suggests continuing as new, no more grants here: the grant
            # signals in flight finish, and the next run grants the rest.
            closing = workflow.info().is_continue_as_new_suggested()
            if not closing:
                self._grant_what_fits()
            self._publish()
            settled = workflow.all_handlers_finished() and not self._signals
            if settled and closing:
                workflow.continue_as_new(self._snapshot())
            if settled and not (self._children or self._holders or self._waiting
                                or self._recent):
                return  # idle: the next start creates the limiter again
            self._changed = False
            expiry = self._next_expiry()
            if expiry is not None and workflow.patched(_WINDOW_TIMER):
                self._arm_window_timer(expiry)
                expiry = None  # the window timer wakes the loop: no timeout to cancel
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._changed, timeout=expiry,
                    timeout_summary="throttle window moves")

    # ── helpers ──────────────────────────────────────────────────────────────────

    def _configure(self, request: LimitRequest | AcquireRequest) -> None:
        state = self._state
        if (state.mode, state.limit, state.period_seconds) != (
                request.mode, request.limit, request.period_seconds):
            self._state = state.model_copy(update={
                "automation": request.automation, "key": request.key, "mode": request.mode,
                "limit": request.limit, "period_seconds": request.period_seconds})
            self._changed = True  # a larger limit may let waiting runs through

    async def _start_child(self, request: LimitRequest) -> str:
        attributes = None
        if request.search_attributes:
            attributes = search.for_start(request.automation, request.kind, request.entity_ref)
        priority = Priority(priority_key=request.priority, fairness_key=request.fairness_key,
                            fairness_weight=request.fairness_weight)
        # Room now and nobody ahead: the run starts with its grant in its memo, which
        # saves a signal and a workflow task on each side (patched: older limiters
        # granted every run by signal).
        grant, admitted_at = None, workflow.now()
        if (request.start.start_at is None and not self._waiting
                and request.run_id not in self._holders and workflow.patched(_PREGRANT)):
            grant = self._admit(request.run_id)
        try:
            handle = await workflow.start_child_workflow(
                request.automation, request.start, id=request.run_id,
                task_queue=workflow.info().task_queue, static_summary=request.summary,
                search_attributes=attributes,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE if request.idempotent
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                priority=priority,
                memo={FLOW_GRANT_MEMO: grant.model_dump(mode="json")} if grant else None,
            )
        except WorkflowAlreadyStartedError:
            if grant is not None:
                self._unadmit(request.run_id, admitted_at)
            return "exists"
        self._children[request.run_id] = handle
        if request.start.start_at is None and grant is None:
            self._ask(request.run_id)
        handle.add_done_callback(lambda done: self._closed(request.run_id, done))
        return "started"

    def _closed(self, run_id: str, handle: asyncio.Future[Any]) -> None:
        """Free what the run held when it closes, however it closes (completed, failed,
        cancelled, terminated or timed out: the server reports each one)."""
        if not handle.cancelled():
            handle.exception()  # retrieved: a failed run is no error of the limiter's
        self._children.pop(run_id, None)
        self._external.pop(run_id, None)
        self._watchers.pop(run_id, None)
        if run_id in self._holders:
            self._holders.remove(run_id)
        if run_id in self._waiting:
            self._waiting.remove(run_id)
        self._changed = True

    def _ask(self, run_id: str) -> None:
        if run_id not in self._waiting and run_id not in self._holders:
            self._waiting.append(run_id)
            self._changed = True

    def _period(self) -> timedelta:
        return timedelta(seconds=self._state.period_seconds)

    def _grant_what_fits(self) -> None:
        self._prune()  # also when nobody waits: an empty window lets an idle limiter end
        while self._waiting:
            run_id = self._waiting[0]
            grant = self._admit(run_id)
            if grant is None:
                return  # no room: a close, a release or the window's timer wakes the loop
            self._waiting.popleft()
            self._send(run_id, grant)

    def _admit(self, run_id: str) -> FlowGrant | None:
        """Let ``run_id`` through now if the limit has room (it holds a slot / is counted
        in the window from now on), drop it (rate limit), or ``None``: no room yet."""
        now, mode, limit = workflow.now(), self._state.mode, self._state.limit
        self._prune()
        if mode == "concurrency":
            if len(self._holders) >= limit:
                return None
            self._holders.append(run_id)
            return FlowGrant()
        if len(self._recent) < limit:
            self._recent.append(now)
            return FlowGrant()
        if mode == "throttle":
            return None
        self._drop(run_id, now)
        return FlowGrant(dropped=True, reason=(
            f"rate limit: {limit} per {self._period()} for key {self._state.key!r}"))

    def _prune(self) -> None:
        """Forget the times that left the window (throttle, rate limit)."""
        now = workflow.now()
        while self._recent and self._recent[0] + self._period() <= now:
            self._recent.popleft()

    def _unadmit(self, run_id: str, admitted_at: datetime) -> None:
        """Undo :meth:`_admit` for a run that could not be started (its id was taken)."""
        if run_id in self._holders:
            self._holders.remove(run_id)
        elif any(dropped.run_id == run_id for dropped in self._dropped):
            self._dropped = deque((d for d in self._dropped if d.run_id != run_id),
                                  maxlen=_DROP_LOG)
            self._dropped_count -= 1
        elif admitted_at in self._recent:
            self._recent.remove(admitted_at)
        self._changed = True

    def _drop(self, run_id: str, now: datetime) -> None:
        self._dropped.append(DroppedRun(run_id=run_id, at=now))
        self._dropped_count += 1
        workflow.logger.warning("Rate limit of %s (key %r, %s per %s) dropped run %s",
                                self._state.automation, self._state.key, self._state.limit,
                                self._period(), run_id)

    def _send(self, run_id: str, grant: FlowGrant) -> None:
        """Grant ``run_id`` (a run, or an agent-handler call's token) by signal."""
        child = self._children.get(run_id)
        holder = self._external.get(run_id)
        if holder is not None:
            grant = grant.model_copy(update={"token": run_id})
        handle = child if child is not None else workflow.get_external_workflow_handle(
            holder or run_id)
        holds = run_id in self._holders

        async def send() -> None:
            try:
                await handle.signal(FLOW_GRANT_SIGNAL, grant)
            except Exception:  # noqa: BLE001 - it ended meanwhile
                workflow.logger.debug("%s ended before its grant arrived", holder or run_id)
                if child is None and run_id in self._holders:
                    self._holders.remove(run_id)  # a child's close callback does this
                self._external.pop(run_id, None)
                return
            if child is None and holds:
                self._watch(run_id)
            elif not holds:
                self._external.pop(run_id, None)  # throttle, rate limit: nothing to give back

        task = asyncio.create_task(send())
        self._signals.add(task)
        task.add_done_callback(self._signal_sent)

    def _signal_sent(self, task: asyncio.Task[None]) -> None:
        self._signals.discard(task)
        self._changed = True

    def _watch(self, run_id: str) -> None:
        """Free the slot of a holder this run did not start when it closes (``_watch.py``);
        an agent's call is watched through its agent, and frees it sooner by ``release``."""
        if run_id in self._children or run_id in self._watchers:
            return
        target = self._external.get(run_id, run_id)
        watcher = workflow.start_activity(
            AWAIT_CLOSE_ACTIVITY, target, start_to_close_timeout=timedelta(days=3650),
            heartbeat_timeout=timedelta(minutes=1), summary=f"until {target} ends",
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        )
        self._watchers[run_id] = watcher
        watcher.add_done_callback(lambda done: self._closed(run_id, done))

    def _arm_window_timer(self, expiry: timedelta) -> None:
        """Start a durable timer for when the window next moves, unless one that fires by
        then is pending already; when it fires it wakes the loop, which arms the next.

        A window timer is never cancelled (patched: older limiters cancelled the
        ``wait_condition`` timeout whenever something else woke them). Cancelling a timer
        that fires while the workflow task runs (a window a few ms from moving when a run
        closes) makes the time-skipping test server refuse the task and leave it started
        for good, which keeps virtual time locked; a timer that fires early costs one
        task.
        """
        due = workflow.now() + expiry
        if self._window_due is not None and self._window_due <= due:
            return
        self._window_due = due

        async def window_timer() -> None:
            await workflow.sleep(expiry, summary="throttle window moves")
            if self._window_due == due:
                self._window_due = None
            self._changed = True

        task = asyncio.create_task(window_timer())
        self._window_timers.add(task)
        task.add_done_callback(self._window_timers.discard)

    def _next_expiry(self) -> timedelta | None:
        """When the oldest time in the window leaves it (throttle and rate limit)."""
        if not self._recent:
            return None
        return max(self._recent[0] + self._period() - workflow.now(), timedelta(milliseconds=1))

    def _publish(self) -> None:
        state = self._state
        rule = f"{state.mode.replace('_', ' ')} {state.limit}"
        if state.period_seconds:
            rule += f" per {self._period()}"
        details = (f"{rule} of {state.automation} for key {state.key!r}: "
                   f"{len(self._holders)} holding a slot, {len(self._waiting)} waiting for a slot")
        if self._dropped_count:
            details += f", {self._dropped_count} dropped (latest {self._dropped[-1].run_id})"
        workflow.set_current_details(details)

    def _snapshot(self) -> LimiterState:
        return self._state.model_copy(update={
            "holders": list(self._holders),
            "waiting": list(self._waiting),
            "dropped": list(self._dropped),
            "dropped_count": self._dropped_count,
            "recent": list(self._recent),
            "external": {token: holder for token, holder in self._external.items()
                         if token in self._holders or token in self._waiting},
        })
