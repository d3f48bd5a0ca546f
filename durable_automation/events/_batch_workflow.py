"""The batch workflow: one per (batched handler, key), id ``batch:<handler>:<key>``.

The engine signals-with-start it with each event. Events join the open batch in
arrival order; the batch is called as soon as it holds ``max_size`` events, or
``timeout`` after its first event arrived, whichever comes first. Then the first
``max_size`` events are *swapped out* and handed to ``durable_automation.run_task``
(the handler's task, see ``_batch.py``): at least once, again if a worker dies, with
the handler's retry. Events that arrive meanwhile, and any beyond ``max_size``, make
the next batch, whose timeout runs from its own first event.

Every event lands in exactly one batch: each has an id and a repeated delivery is
dropped, also for ``linger`` after the last batch (the workflow stays open that long,
remembering ids, before it completes; the next event starts a new run). A signal
that arrives as the workflow decides to complete makes Temporal reject the
completion, so the event is seen, never lost.

The batch timeout and the linger never cancel their timer (patch ``da-batch-alarm``,
``_worker/alarm.py``): an event that filled the batch a few ms before its timeout
left the time-skipping test server with a task it refused and virtual time locked.
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
    from ..timers._collect import new_item_id, seconds
    from ..timers._tasks import RUN_TASK_ACTIVITY, TaskCall
    from ..timers._workflows import run_task_options

__all__ = ["BATCH_WORKFLOW", "COLLECT_SIGNAL", "BatchWorkflow"]

BATCH_WORKFLOW = "durable_automation.batch"
COLLECT_SIGNAL = "collect"


@workflow.defn(name=BATCH_WORKFLOW)
class BatchWorkflow:
    """Collects one key's events and calls the handler with batches of them."""

    def __init__(self) -> None:
        self._buffer: list[dict[str, Any]] = []
        self._seen: dict[str, None] = {}
        self._max_size = 1
        self._timeout = timedelta(seconds=1)
        self._linger: timedelta | None = None
        self._batches = 0
        self._events = 0
        self._calling = False
        self._configured = False
        self._alarm = Alarm("da-batch-alarm")

    @workflow.signal(name=COLLECT_SIGNAL)
    def collect(self, message: dict[str, Any]) -> None:
        """Add one event (``{"id", "item", "max_size", "timeout", "linger"}``)."""
        # Raw dict on purpose: a payload that does not decode must not fail the task.
        item_id = new_item_id(self._seen, message)
        if item_id is None:
            return
        self._buffer.append({"id": item_id, "item": message.get("item"),
                             "arrived": workflow.now().isoformat()})
        self._configured = True
        size = message.get("max_size")
        if isinstance(size, int) and size > 0:
            self._max_size = size
        self._timeout = seconds(message.get("timeout")) or self._timeout
        self._linger = seconds(message.get("linger")) or self._linger

    @workflow.run
    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        task, key = str(spec["task"]), str(spec["key"])
        buffer = spec.get("buffer")
        carried: list[dict[str, Any]] = buffer if isinstance(buffer, list) else []
        self._buffer = [*carried, *self._buffer]
        for entry in carried:
            self._seen[str(entry["id"])] = None
        self._batches = int(spec.get("batches", 0))
        self._events = int(spec.get("events", 0))
        if not self._configured:  # no event came with this start: the spec's settings
            if isinstance(spec.get("max_size"), int) and spec["max_size"] > 0:
                self._max_size = spec["max_size"]
            self._timeout = seconds(spec.get("timeout")) or self._timeout
        while True:
            await workflow.wait_condition(lambda: bool(self._buffer))
            await self._fill()
            batch = self._buffer[:self._max_size]
            self._buffer = self._buffer[self._max_size:]
            await self._call(task, key, batch)
            if not self._buffer and self._linger is not None:
                with contextlib.suppress(TimeoutError):
                    await self._alarm.wait_condition(
                        lambda: bool(self._buffer), timeout=self._linger,
                        timeout_summary=f"remember ids {format_duration(self._linger)}",
                    )
            if not self._buffer:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._buffer:
                    return self._status(key)
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new({
                    "task": task, "key": key, "buffer": self._buffer, "batches": self._batches,
                    "events": self._events, "max_size": self._max_size,
                    "timeout": self._timeout.total_seconds(),
                })

    async def _fill(self) -> None:
        """Wait until the batch is full, or its first event has waited ``timeout``."""
        first = datetime.fromisoformat(self._buffer[0]["arrived"])
        left = first + self._timeout - workflow.now()
        if len(self._buffer) >= self._max_size or left <= timedelta(0):
            return
        with contextlib.suppress(TimeoutError):
            await self._alarm.wait_condition(
                lambda: len(self._buffer) >= self._max_size, timeout=left,
                timeout_summary=f"batch timeout {format_duration(self._timeout)}",
            )

    async def _call(self, task: str, key: str, batch: list[dict[str, Any]]) -> None:
        self._calling = True
        self._batches += 1
        self._events += len(batch)
        call = TaskCall(task=task, args=[[entry["item"] for entry in batch]], origin="batch",
                        key=key, tick=self._batches, scheduled_at=workflow.now())
        try:
            await workflow.execute_activity(RUN_TASK_ACTIVITY, call, **run_task_options(call))
        except ActivityError as err:
            workflow.logger.warning("Batch %s of %s failed: %s", self._batches, key,
                                    err.cause or err)
        finally:
            self._calling = False

    def _status(self, key: str) -> dict[str, Any]:
        return {"key": key, "pending": len(self._buffer), "batches": self._batches,
                "events": self._events, "calling": self._calling}

    @workflow.query(name="status")
    def status(self) -> dict[str, Any]:
        """Events waiting, batches called, events called."""
        return {"pending": len(self._buffer), "batches": self._batches, "events": self._events,
                "calling": self._calling}

    @workflow.query(name=STATE_QUERY)
    def _state(self) -> RunState:
        return RunState(automation=BATCH_WORKFLOW, step=None,
                        phase="running" if self._calling else "waiting")
