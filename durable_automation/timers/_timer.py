"""Repeating timers: seed 002's ``Timer`` on a durable Temporal workflow (``timer:<name>``).

Each timer is one workflow (``_workflows.TimerWorkflow``) that ticks on Temporal
timers and runs its callback as a task; stopping it is an update the workflow
accepts, so that once :meth:`Timer.stop` returns no callback begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from .._core.defaults import format_duration
from ..exceptions import (
    InvalidScheduleError,
    TemporalServiceError,
)
from ._client import TaskRef, to_timedelta
from ._deferred import DEFERRED, CallQueue
from ._local_worker import atask_queue_for, program_key
from ._tasks import TaskCall, TaskDefinition, close_gate, open_gate, resolve_task
from ._wire import (
    TIMER_WORKFLOW,
    TimerSpec,
    TimerStatus,
)

__all__ = ["SchedulePolicy", "Timer", "astop_timer_workflow", "astop_timer_workflow_ex"]


# ── repeating timers ─────────────────────────────────────────────────────────────


class SchedulePolicy(enum.Enum):
    """How a :class:`Timer` places its ticks.

    FIXED: ``start + N * interval`` (drift-free; ticks missed by an overrun are skipped).
    DELAY: ``completion + interval`` (a fixed gap after each callback).
    """

    FIXED = "fixed"
    DELAY = "delay"


async def astop_timer_workflow(workflow_id: str) -> TimerStatus | None:
    """Stop a timer workflow; returns once a tick in progress finished (``None``: not running,
    or it had no worker and was terminated; see :func:`astop_timer_workflow_ex`)."""
    return (await astop_timer_workflow_ex(workflow_id))[1]


# How long a stop waits for a worker to take it before checking whether any worker
# serves the timer at all.
_STOP_ACCEPT_WAIT = 5.0


async def astop_timer_workflow_ex(workflow_id: str) -> tuple[bool, TimerStatus | None]:
    """Stop a timer workflow: ``(was running, final status)``.

    The ``stop`` update returns once a tick in progress has finished. A timer whose
    queue no worker serves any more (its script is gone) cannot take the update: when
    the update is not accepted within a few seconds and the timer's workflow task
    still waits for a worker, no tick can be in progress, so the timer is terminated
    instead (final status ``None``).
    """
    handle = engine._ensure().client.get_workflow_handle(workflow_id)
    attempts = 0
    while attempts < 3:
        try:
            update = await asyncio.wait_for(
                handle.start_update("stop", wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                    result_type=TimerStatus),
                _STOP_ACCEPT_WAIT)
            status = await update.result()
            # The workflow returns right after the update: wait (bounded) until it has, so
            # that is_running() / timer_count() asked next no longer see it running.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handle.result(), _STOP_ACCEPT_WAIT)
            return True, status
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False, None
            raise
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # wait_for's cancellation surfaces as temporalio's own timeout error.
            if await _no_worker_takes(handle):
                await handle.terminate(reason="stopped while no worker served this timer's "
                                       "task queue (the process that ran it is gone)")
                return True, None
            # A worker holds the workflow task: it is only slow; ask again.
        except Exception:  # noqa: BLE001 - it completed or continued-as-new meanwhile
            attempts += 1
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return False, None
    return False, None


_QUERY_TIMEOUT = timedelta(seconds=5)


async def _raise_if_unserved(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Raise a clear error when a timer cannot answer because no worker serves it."""
    description = await handle.describe()
    if (description.status == WorkflowExecutionStatus.RUNNING
            and description.raw_description.HasField("pending_workflow_task")):
        raise TemporalServiceError(
            f"Timer {name!r} did not answer: no worker serves its task queue "
            f"{description.task_queue!r} (the process that ran its callback is gone?). It is "
            "paused, not lost: it resumes when a process serving that callback starts it "
            "again; timer.stop() from anywhere ends it.",
            status=RPCStatusCode.DEADLINE_EXCEEDED,
        )


async def _no_worker_takes(handle: WorkflowHandle[Any, Any]) -> bool:
    description = await handle.describe()
    if description.status != WorkflowExecutionStatus.RUNNING:
        return False
    pending = description.raw_description.pending_workflow_task
    if not description.raw_description.HasField("pending_workflow_task"):
        return False
    age = datetime.now(UTC) - pending.scheduled_time.ToDatetime(UTC)
    return (pending.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
            and age.total_seconds() >= _STOP_ACCEPT_WAIT)


class Timer:
    """A durable repeating timer that runs a callback (seed 002's ``Timer``, on Temporal).

    The callback runs in a worker as a task: a ``@task`` function, a module-level
    function of a module the worker imports, or (script mode) anything only this
    process can run (a ``__main__`` function, a lambda, a closure, a bound method),
    which the in-process worker serves (see ``_local_worker``). Callbacks may be sync
    or async.

    Guarantees: callbacks never overlap; FIXED keeps ``start + N * interval`` and
    skips ticks an overrun missed; DELAY waits ``interval`` after each callback; once
    :meth:`stop` returns, no callback begins. Tick 0 fires at ``start()``.

    Each ``Timer`` object is its own timer, the workflow ``timer:<name>``. Without a
    ``name``, the first Timer of a callback in this process is named after the task,
    the next ones ``<task>#2``, ``<task>#3``... (so a script that runs again gets the
    same names); a task only this program can run is suffixed ``@<program key>`` (see
    ``_local_worker.program_key``). Starting a timer whose name is already running
    attaches to it and keeps its phase; give two objects the same ``name`` to make them
    one timer.

    ``start()`` and ``stop()`` also work when called synchronously inside a running
    event loop (``async def main(): timer.start()``): they return at once and take
    effect in call order, without blocking the loop. ``stop()`` then still
    guarantees that no callback served by this process begins after it returns (a
    local gate); the server-side stop follows. A deferred call's error surfaces on
    the next call on this timer, or when awaited (:meth:`aflush`).

    Args:
        timeout: Time between ticks (timedelta or seconds); ``interval=`` is an alias.
        callback: The task to run on each tick.
        schedule_policy: :class:`SchedulePolicy` ``FIXED`` (default) or ``DELAY``.
        name: Timer name (default: see above).
        args: Positional arguments for the callback (JSON-serialisable).
        kwargs: Keyword arguments for the callback.
        interval: Alias of ``timeout``.

    Raises:
        InvalidScheduleError: No interval, or not a positive duration.
        UnknownTaskError: ``callback`` is a name no ``@task`` registered.
    """

    def __init__(
        self,
        timeout: timedelta | float | None = None,
        callback: TaskRef | None = None,
        schedule_policy: SchedulePolicy = SchedulePolicy.FIXED,
        *,
        name: str | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        interval: timedelta | float | None = None,
    ) -> None:
        if timeout is not None and interval is not None:
            raise InvalidScheduleError("Timer takes timeout or interval, not both")
        every = timeout if timeout is not None else interval
        if every is None:
            raise InvalidScheduleError("Timer needs a timeout (the time between ticks)")
        if callback is None:
            raise InvalidScheduleError("Timer needs a callback")
        self.interval = to_timedelta(every, "interval")
        self.task = resolve_task(callback)
        self.schedule_policy = SchedulePolicy(schedule_policy)
        self.name = name or _default_timer_name(self.task)
        self.id = f"timer:{self.name}"
        self._call = TaskCall(task=self.task.name, args=list(args), kwargs=dict(kwargs or {}),
                              origin="timer", key=self.name)
        self._calls = CallQueue(f"Timer {self.name!r}")

    @property
    def timeout(self) -> timedelta:
        """The time between ticks (seed 002's name for :attr:`interval`)."""
        return self.interval

    def __repr__(self) -> str:
        return (f"Timer({format_duration(self.interval)}, {self.task.name}, "
                f"{self.schedule_policy.name}, name={self.name!r})")

    async def _start(self) -> None:
        spec = TimerSpec(
            name=self.name, kind=self.schedule_policy.value, call=self._call,
            interval=self.interval,
            config={"interval_seconds": self.interval.total_seconds(),
                    "schedule_policy": self.schedule_policy.name, "task": self.task.name},
        )
        task_queue = await atask_queue_for(self.task)
        # Earlier calls on this timer (a stop) have finished: its callbacks may run again.
        open_gate(self.name)
        await engine._ensure().client.start_workflow(
            TIMER_WORKFLOW, spec, id=self.id, task_queue=task_queue,
            static_summary=f"Timer {self.name}: {self.task.name} every "
            f"{format_duration(self.interval)} ({self.schedule_policy.name})",
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        engine._track(self.id)

    async def astart(self) -> Timer:
        """Start ticking (tick 0 now); attach to the running timer of this name, if any.

        Raises:
            ConfigurationError: The callback can run only in this process and the
                in-process worker may not start here (see ``TIMERS_IN_PROCESS``).
        """
        await self._calls.acall(self._start, name="Timer.start")
        return self

    def start(self) -> Timer:
        """Sync twin of :meth:`astart`; inside a running loop it is queued (see the class)."""
        self._calls.call(self._start, name="Timer.start")
        return self

    async def astop(self) -> TimerStatus | None:
        """Stop the timer. A callback in progress finishes first; after this returns no
        callback begins. Returns the final status (``None`` if it was not running)."""
        close_gate(self.name)
        return await self._calls.acall(lambda: astop_timer_workflow(self.id), name="Timer.stop")

    def stop(self) -> TimerStatus | None:
        """Sync twin of :meth:`astop`.

        Inside a running loop it returns ``None`` at once: from then on this process
        begins no callback of this timer, and the server-side stop runs in order.
        """
        close_gate(self.name)
        result = self._calls.call(lambda: astop_timer_workflow(self.id), name="Timer.stop",
                                  run_anyway=True)
        return None if result is DEFERRED else result  # type: ignore[return-value]

    async def aflush(self) -> None:
        """Wait until calls queued by sync ``start()``/``stop()`` have taken effect.

        Raises:
            DurableAutomationError: What a queued call raised.
        """
        await self._calls.aflush()

    async def astatus(self) -> TimerStatus | None:
        """Ticks fired, next tick time, anchor (``None`` if it never ran)."""

        async def query() -> TimerStatus | None:
            handle = engine._ensure().client.get_workflow_handle(self.id)
            try:
                return await handle.query("status", result_type=TimerStatus,
                                          rpc_timeout=_QUERY_TIMEOUT)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return None
                if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                    await _raise_if_unserved(handle, self.name)
                raise

        # Not queued: a read must not wait behind a stop that waits for a callback.
        return await engine._on_loop(query)

    def status(self) -> TimerStatus | None:
        """Sync twin of :meth:`astatus`."""
        return engine._blocking(self.astatus, name="Timer.status")

    async def ais_running(self) -> bool:
        """Whether the timer workflow is running."""

        async def check() -> bool:
            handle = engine._ensure().client.get_workflow_handle(self.id)
            try:
                return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise

        return await engine._on_loop(check)

    def is_running(self) -> bool:
        """Sync twin of :meth:`ais_running`."""
        return engine._blocking(self.ais_running, name="Timer.is_running")


_timer_counts: dict[str, int] = {}
_timer_counts_lock = threading.Lock()


def _default_timer_name(task: TaskDefinition) -> str:
    # Per process and task: the first Timer is named after the task, later ones get a
    # suffix, so two Timer objects are two timers and a rerun names them alike. A task
    # only this program can run (a script's function, a lambda) is named per program:
    # another script's `def callback` must not attach to this one's timer, whose
    # callbacks run only on this program's queue.
    task_name = f"{task.name}@{program_key()}" if task.local else task.name
    with _timer_counts_lock:
        count = _timer_counts.get(task_name, 0) + 1
        _timer_counts[task_name] = count
    return task_name if count == 1 else f"{task_name}#{count}"
