"""The cancel-on index: one small workflow per (automation, CancelOn, key).

Id ``cancel-on:<automation>:<position>:<event>:<key>`` (see
:func:`~durable_automation._core.cancel_on.cancel_index_id`). It holds the runs in
flight under that key (run id -> when the run started) and the cancelling events it
saw lately (event id -> when it occurred). Its handlers run one at a time inside
the workflow, so a run that registers and an event that is routed at the same moment
are ordered, and the decision is by time, not by who came first:

* ``occurred`` (a signal: the engine's routing is one signal-with-start, whatever the
  worker is doing) records the event, and the index cancels the runs that started at or
  before the event's time, with the reason ``cancel_on:<position>:<event id>``;
* ``register`` (a signal too) records a run, unless an event it remembers occurred at
  or after the run's start: then the index cancels that run right away (it started
  before the event, but registered after the event was routed).

Events are remembered for :data:`REMEMBER` (a registration later than that after its
run started, say with no worker up for an hour, can miss an event in between). With
no runs and no remembered events the index completes after :data:`IDLE_TIMEOUT`;
the next update starts it again. It continues-as-new when its history grows. A
signal as its timer fires does not cancel that timer (patch ``da-cancel-index-alarm``,
``_worker/alarm.py``): the time-skipping test server refused a task cancelling a timer
that fired while it ran, and kept virtual time locked.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .._core.cancel_on import CANCEL_INDEX_WORKFLOW
    from .._worker.alarm import Alarm

__all__ = ["IDLE_TIMEOUT", "REMEMBER", "CancelIndex"]

REMEMBER = timedelta(hours=1)
IDLE_TIMEOUT = timedelta(minutes=10)
_EVENT_LIMIT = 200


def _time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    # Naive times are taken as UTC, so that comparing never fails the workflow task.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@workflow.defn(name=CANCEL_INDEX_WORKFLOW)
class CancelIndex:
    """Runs in flight under one cancel key, and the cancelling events seen lately."""

    def __init__(self) -> None:
        self._runs: dict[str, str] = {}
        self._events: dict[str, str] = {}
        # run id -> cancellation reason, for runs an event matched and not yet cancelled
        self._to_cancel: dict[str, str] = {}
        self._requests: set[asyncio.Future[None]] = set()  # cancellation requests sent
        self._changed = False
        self._alarm = Alarm("da-cancel-index-alarm")

    @workflow.run
    async def run(self, state: Any = None) -> None:
        state = state if isinstance(state, dict) else {}
        for name, target in (("runs", self._runs), ("events", self._events),
                             ("to_cancel", self._to_cancel)):
            found = state.get(name)
            if isinstance(found, dict):
                target.update({str(k): str(v) for k, v in found.items()})
        suggested = workflow.info().is_continue_as_new_suggested
        while True:
            self._changed = False
            self._cancel_matched()
            self._forget_old_events()
            timeout: timedelta | None = None
            if self._events:
                oldest = _time(next(iter(self._events.values())))
                left = (oldest + REMEMBER - workflow.now()) if oldest else timedelta(0)
                timeout = max(left, timedelta(seconds=1))
            elif not self._runs:
                timeout = IDLE_TIMEOUT
            try:
                await self._alarm.wait_condition(lambda: self._changed or suggested(),
                                                 timeout=timeout, timeout_summary="forget or idle")
            except TimeoutError:
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._forget_old_events()
                if not self._changed and not self._runs and not self._events:
                    return
            if suggested() and not self._to_cancel:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new({"runs": self._runs, "events": self._events,
                                          "to_cancel": self._to_cancel})

    def _cancel_matched(self) -> None:
        """Request the cancellation of the runs events matched, and forget them: a live
        run ends cancelled (and its own "remove" finds nothing), a terminated one is
        gone. Requests are not awaited: one that the server is slow to answer (a run
        that already closed) must not hold up the index."""
        batch, self._to_cancel = self._to_cancel, {}
        for run_id, reason in batch.items():
            self._runs.pop(run_id, None)
            request = asyncio.ensure_future(self._cancel(run_id, reason))
            self._requests.add(request)
            request.add_done_callback(self._requests.discard)

    async def _cancel(self, run_id: str, reason: str) -> None:
        try:
            await workflow.get_external_workflow_handle(run_id).cancel(reason=reason)
        except Exception:  # noqa: BLE001 - it had ended already: nothing to cancel
            workflow.logger.debug("cancel_on: run %s had ended", run_id)

    def _forget_old_events(self) -> None:
        now = workflow.now()
        for event_id, at in list(self._events.items()):
            when = _time(at)
            if when is None or when + REMEMBER <= now or len(self._events) > _EVENT_LIMIT:
                del self._events[event_id]

    # Arguments arrive as plain JSON and are checked here: a payload that fails to
    # decode must never fail a workflow task (it would retry forever).

    @workflow.signal
    def occurred(self, request: Any) -> None:
        """An event occurred (``{"id", "at", "position"}``): cancel the runs that started at
        or before it."""
        at = _time(request.get("at")) if isinstance(request, dict) else None
        event_id = str(request.get("id") or "") if isinstance(request, dict) else ""
        if at is None or not event_id or event_id in self._events:
            return  # malformed, or a repeated delivery (already acted on)
        self._events[event_id] = at.isoformat()
        reason = f"cancel_on:{request.get('position', 0)}:{event_id}"
        for run, started in self._runs.items():
            when = _time(started)
            if when is not None and when <= at:
                self._to_cancel.setdefault(run, reason)
        self._changed = True

    @workflow.signal
    def register(self, request: Any) -> None:
        """Record a run (``{"run_id", "started_at", "position"}``), or cancel it at once when
        a remembered event occurred at or after its start."""
        if not isinstance(request, dict):
            return
        started = _time(request.get("started_at"))
        run_id = str(request.get("run_id") or "")
        if started is None or not run_id:
            return  # malformed: nothing to record
        for event_id, at in self._events.items():
            when = _time(at)
            if when is not None and when >= started:
                reason = f"cancel_on:{request.get('position', 0)}:{event_id}"
                self._to_cancel.setdefault(run_id, reason)
                self._changed = True
                return
        self._runs[run_id] = started.isoformat()
        self._changed = True

    @workflow.signal
    def remove(self, run_id: Any) -> None:
        """Forget a run (it ended)."""
        self._runs.pop(str(run_id), None)
        self._changed = True

    @workflow.query
    def entries(self) -> dict[str, dict[str, str]]:
        """The runs, remembered events and runs being cancelled."""
        return {"runs": dict(self._runs), "events": dict(self._events),
                "to_cancel": dict(self._to_cancel)}
