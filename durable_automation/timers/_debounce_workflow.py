"""The debounce workflow: one per (task, key), id ``debounce:<task>:<key>``.

``debounce_task`` signals-with-start it with each item. The workflow appends items
to the open window in arrival order, and waits for a quiet window: a
``wait_condition`` on "another item arrived" with the window as timeout, re-armed on
each arrival, and capped by ``max_wait`` from the window's first item. Then it
*swaps the buffer out* and flushes that batch through ``durable_automation.run_task``.
Items that arrive while the flush is decided or running land in the fresh buffer:
the next window. An item is never lost (a signal that arrives as the workflow
decides to complete makes Temporal reject the completion, and the workflow sees the
item) and never in two batches (each item has an id; a repeated delivery is
dropped). With nothing left after a flush the workflow completes; the next item
starts a new run.

A collect message may carry ``linger`` (seconds; debounced event handlers send it):
then, with nothing left after a flush, the workflow stays open that long before it
completes, still remembering the item ids it took, so an item delivered again soon
after its batch ran (a relay retrying an event) is still recognised and dropped. A
new item during the linger opens the next window as usual.

The quiet window and the linger never cancel their timer (patch ``da-debounce-alarm``,
``_worker/alarm.py``): an item a few ms before a window ended left the time-skipping
test server with a task it refused and virtual time locked. A timer that fires while
the window has moved on (a later item) arms the next one.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from .._core.defaults import format_duration
    from .._core.wire import STATE_QUERY, RunState
    from .._worker.alarm import Alarm
    from ._collect import new_item_id, seconds
    from ._tasks import RUN_TASK_ACTIVITY, TaskCall
    from ._wire import DEBOUNCE_WORKFLOW, DebounceSpec, DebounceStatus
    from ._workflows import run_task_options

__all__ = ["COLLECT_SIGNAL", "DebounceWorkflow"]

COLLECT_SIGNAL = "collect"
_ALARM = "da-debounce-alarm"


@workflow.defn(name=DEBOUNCE_WORKFLOW)
class DebounceWorkflow:
    """Collects items for one key and flushes them after a quiet window."""

    def __init__(self) -> None:
        self._buffer: list[dict[str, Any]] = []
        self._seen: dict[str, None] = {}
        self._arrivals = 0
        self._window: timedelta | None = None
        self._max_wait: timedelta | None = None
        self._linger: timedelta | None = None
        self._window_started: datetime | None = None
        self._flushing = False
        self._flushes = 0
        self._items = 0
        self._key = ""
        self._last_arrival: datetime | None = None
        self._alarm = Alarm(_ALARM)

    @workflow.signal(name=COLLECT_SIGNAL)
    def collect(self, message: dict[str, Any]) -> None:
        """Add one item (``{"id", "item", "window"?, "max_wait"?}``) to the open window."""
        # Raw dict on purpose: a payload that does not decode must not fail the task.
        item_id = new_item_id(self._seen, message)
        if item_id is None:
            return
        if not self._buffer:
            self._window_started = workflow.now()
        self._buffer.append({"id": item_id, "item": message.get("item")})
        self._arrivals += 1
        self._last_arrival = workflow.now()
        self._window = seconds(message.get("window")) or self._window
        if "max_wait" in message:
            self._max_wait = seconds(message.get("max_wait"))
        if "linger" in message:
            self._linger = seconds(message.get("linger"))

    @workflow.run
    async def run(self, spec: DebounceSpec) -> DebounceStatus:
        self._key = spec.key
        self._window = self._window or spec.window
        self._max_wait = self._max_wait or spec.max_wait
        self._buffer = [*spec.buffer, *self._buffer]
        for entry in spec.buffer:
            self._seen[entry["id"]] = None
        self._window_started = spec.window_started or self._window_started
        self._flushes, self._items = spec.flushes, spec.items
        while True:
            await workflow.wait_condition(lambda: bool(self._buffer))
            await self._quiet_window()
            batch, self._buffer = self._buffer, []
            self._window_started = None
            await self._flush(spec.task, batch)
            # Only runs whose items asked for a linger take this path (none did before
            # it existed), and the patch marks their histories.
            if (not self._buffer and self._linger is not None
                    and workflow.patched("debounce-linger")):
                with contextlib.suppress(TimeoutError):
                    await self._alarm.wait_condition(
                        lambda: bool(self._buffer), timeout=self._linger,
                        timeout_summary=f"remember ids {format_duration(self._linger)}",
                    )
            if not self._buffer:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._buffer:
                    return self._status()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(spec.model_copy(update={
                    "buffer": self._buffer, "window_started": self._window_started,
                    "flushes": self._flushes, "items": self._items, "window": self._window,
                    "max_wait": self._max_wait,
                }))

    async def _quiet_window(self) -> None:
        if not self._alarm.patched():
            return await self._quiet_window_cancelling()
        since = workflow.now()

        def due() -> datetime:
            # Quiet for a whole window since the last item (or since the window began to
            # be watched, for items that came during a flush), capped by max_wait.
            assert self._window is not None
            quiet = max(since, self._last_arrival or since) + self._window
            if self._max_wait is not None and self._window_started is not None:
                quiet = min(quiet, self._window_started + self._max_wait)
            return quiet

        assert self._window is not None
        await self._alarm.wait(lambda: False, due,
                               summary=f"quiet {format_duration(self._window)}")

    async def _quiet_window_cancelling(self) -> None:
        """Before patch ``_ALARM``: each item cancels the window's timer and starts one."""
        assert self._window is not None
        while True:
            seen = self._arrivals
            timeout = self._window
            if self._max_wait is not None and self._window_started is not None:
                left = self._window_started + self._max_wait - workflow.now()
                if left <= timedelta(0):
                    return
                timeout = min(timeout, left)
            try:
                await workflow.wait_condition(
                    lambda: self._arrivals != seen,  # noqa: B023 - awaited right here
                    timeout=timeout,
                    timeout_summary=f"quiet {format_duration(self._window)}",
                )
            except TimeoutError:
                return  # quiet for a whole window, or max_wait reached

    async def _flush(self, task: str, batch: list[dict[str, Any]]) -> None:
        self._flushing = True
        self._flushes += 1
        self._items += len(batch)
        call = TaskCall(task=task, args=[[entry["item"] for entry in batch]], origin="debounce",
                        key=self._key, tick=self._flushes, scheduled_at=workflow.now())
        try:
            await workflow.execute_activity(RUN_TASK_ACTIVITY, call, **run_task_options(call))
        except ActivityError as err:
            workflow.logger.warning("Debounce %s flush %d failed: %s", self._key, self._flushes,
                                    err.cause or err)
        finally:
            self._flushing = False

    def _status(self) -> DebounceStatus:
        return DebounceStatus(key=self._key, pending=len(self._buffer), flushes=self._flushes,
                              items=self._items, flushing=self._flushing)

    @workflow.query(name="status")
    def status(self) -> DebounceStatus:
        """Items waiting, windows flushed, items flushed."""
        return self._status()

    @workflow.query(name=STATE_QUERY)
    def _state(self) -> RunState:
        return RunState(automation=DEBOUNCE_WORKFLOW, step=None,
                        phase="running" if self._flushing else "waiting")
