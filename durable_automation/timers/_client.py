"""Client side of the timers: ``schedule_task``, ``debounce_task``, ``Timer`` and their handles.

Every call goes through the engine's client (``engine._ensure()``): sync calls run on
the engine's loop, the ``a``-prefixed twins hop to it, as everywhere in the SDK.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
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
    RunCancelledError,
    RunFailedError,
    TemporalServiceError,
)
from ._debounce_workflow import COLLECT_SIGNAL
from ._deferred import DEFERRED, CallQueue
from ._local_worker import atask_queue_for
from ._tasks import TaskCall, TaskDefinition, close_gate, open_gate, resolve_task
from ._wire import (
    DEBOUNCE_WORKFLOW,
    DELAYED_WORKFLOW,
    TIMER_WORKFLOW,
    DebounceSpec,
    DebounceStatus,
    DelayedSpec,
    TimerSpec,
    TimerStatus,
)

__all__ = [
    "DebounceHandle",
    "SchedulePolicy",
    "TaskHandle",
    "Timer",
    "adebounce_task",
    "aschedule_task",
    "astop_timer_workflow",
    "astop_timer_workflow_ex",
    "debounce_task",
    "schedule_task",
    "to_timedelta",
]

TaskRef = str | Callable[..., Any] | TaskDefinition

_STATUS = {
    WorkflowExecutionStatus.RUNNING: "scheduled",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "cancelled",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


def to_timedelta(
    value: timedelta | float, what: str, *, allow_zero: bool = False
) -> timedelta:
    """``value`` as a timedelta (numbers are seconds).

    Raises:
        InvalidScheduleError: Not a duration, or not positive.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise InvalidScheduleError(f"{what} must be a timedelta or seconds, got {value!r}")
    if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
        raise InvalidScheduleError(f"{what} must be positive, got {value}")
    return value


async def _handle(workflow_id: str) -> WorkflowHandle[Any, Any]:
    return engine._ensure().client.get_workflow_handle(workflow_id)


# ── delayed tasks ────────────────────────────────────────────────────────────────


class TaskHandle:
    """A task scheduled with :func:`schedule_task` (workflow id ``delayed:<task>:<id>``)."""

    def __init__(self, workflow_id: str) -> None:
        self.id = workflow_id

    def __repr__(self) -> str:
        return f"TaskHandle({self.id!r})"

    async def acancel(self) -> None:
        """Call the task off; cancelled before its delay is over, it never runs."""
        await engine._on_loop(self._cancel)

    def cancel(self) -> None:
        """Sync twin of :meth:`acancel`."""
        engine._blocking(self._cancel, name="TaskHandle.cancel")

    async def _cancel(self) -> None:
        try:
            await (await _handle(self.id)).cancel()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise

    async def astatus(self) -> str:
        """``scheduled`` (waiting or running), ``completed``, ``failed`` or ``cancelled``."""
        return await engine._on_loop(self._status)

    def status(self) -> str:
        """Sync twin of :meth:`astatus`."""
        return engine._blocking(self._status, name="TaskHandle.status")

    async def _status(self) -> str:
        description = await (await _handle(self.id)).describe()
        return _STATUS.get(description.status, "scheduled")  # type: ignore[arg-type]

    async def aresult(self) -> Any:
        """Wait for the task and return what it returned.

        Raises:
            RunFailedError: The task raised (after its retries).
            RunCancelledError: The task was cancelled.
        """
        return await engine._on_loop(self._result)

    def result(self) -> Any:
        """Sync twin of :meth:`aresult`."""
        return engine._blocking(self._result, name="TaskHandle.result")

    async def _result(self) -> Any:
        handle = await _handle(self.id)
        drive = engine._ensure().drive  # time_machine: move virtual time until it ran
        try:
            if drive is not None:
                await drive(self.id)
            return await handle.result()
        except WorkflowFailureError as err:
            if (await handle.describe()).status == WorkflowExecutionStatus.CANCELED:
                raise RunCancelledError(self.id) from None
            cause = err.cause
            while getattr(cause, "cause", None) is not None:
                cause = cause.cause  # type: ignore[attr-defined]
            raise RunFailedError(self.id, str(getattr(cause, "message", cause))) from None


async def aschedule_task(
    task: TaskRef,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    delay: timedelta | float = timedelta(0),
    *,
    id: str | None = None,
) -> TaskHandle:
    """Run ``task(*args, **kwargs)`` once, ``delay`` from now, on a durable Temporal timer.

    Args:
        task: A registered task, its name, or a function (registered on the spot).
        args: Positional arguments (JSON-serialisable).
        kwargs: Keyword arguments (JSON-serialisable).
        delay: How long to wait (a timedelta, or seconds).
        id: Idempotency key: scheduling the same task with the same id again returns
            the existing handle instead of scheduling twice.

    Raises:
        UnknownTaskError: ``task`` is a name no ``@task`` registered.
    """
    definition = resolve_task(task)
    delay = to_timedelta(delay, "delay", allow_zero=True)
    workflow_id = f"delayed:{definition.name}:{id or uuid.uuid4().hex[:12]}"
    spec = DelayedSpec(call=TaskCall(task=definition.name, args=list(args),
                                     kwargs=dict(kwargs or {}), origin="delayed",
                                     key=workflow_id), delay=delay)

    async def start() -> TaskHandle:
        binding = engine._ensure()
        task_queue = await atask_queue_for(definition)
        await binding.client.start_workflow(
            DELAYED_WORKFLOW, spec, id=workflow_id, task_queue=task_queue,
            static_summary=f"{definition.name} in {format_duration(delay)}",
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING if id
            else WorkflowIDConflictPolicy.FAIL,
        )
        engine._track(workflow_id)
        return TaskHandle(workflow_id)

    return await engine._on_loop(start)


def schedule_task(
    task: TaskRef,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    delay: timedelta | float = timedelta(0),
    *,
    id: str | None = None,
) -> TaskHandle:
    """Sync twin of :func:`aschedule_task`."""
    task = resolve_task(task)  # an unknown name fails before any connection is made
    return engine._blocking(aschedule_task, task, args, kwargs, delay, name="schedule_task",
                        kwargs={"id": id})


# ── debounce ─────────────────────────────────────────────────────────────────────


class DebounceHandle:
    """One debounce key (workflow id ``debounce:<task>:<key>``)."""

    def __init__(self, workflow_id: str) -> None:
        self.id = workflow_id

    def __repr__(self) -> str:
        return f"DebounceHandle({self.id!r})"

    async def astatus(self) -> DebounceStatus | None:
        """Pending items and flushes of the current run (``None`` once it completed)."""
        return await engine._on_loop(self._status)

    def status(self) -> DebounceStatus | None:
        """Sync twin of :meth:`astatus`."""
        return engine._blocking(self._status, name="DebounceHandle.status")

    async def _status(self) -> DebounceStatus | None:
        handle = await _handle(self.id)
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return None
        return await handle.query("status", result_type=DebounceStatus)


async def adebounce_task(
    task: TaskRef | None = None,
    debounce_key: str = "",
    debounce_window: timedelta | float = timedelta(seconds=1),
    collect: Any = None,
    max_wait: timedelta | float | None = None,
    *,
    task_name: str | None = None,
) -> DebounceHandle:
    """Collect ``collect`` under ``debounce_key``; the task runs once per quiet window.

    After ``debounce_window`` passes with no new item for the key, the task is called
    with one argument: the list of every item collected, in arrival order. With
    ``max_wait``, a window that keeps being extended is flushed at the latest that long
    after its first item. Items arriving during a flush go to the next window.

    Args:
        task: A registered task, its name, or a function (``task_name=`` is an alias).
        debounce_key: Groups calls; each key has its own window.
        debounce_window: Quiet time before a flush (timedelta or seconds).
        collect: The item (JSON-serialisable; ``None`` is collected too).
        max_wait: Upper bound on a window's length (``None``: no bound).

    Raises:
        UnknownTaskError: ``task`` is a name no ``@task`` registered.
    """
    definition = resolve_task(task if task is not None else task_name or "")
    window = to_timedelta(debounce_window, "debounce_window")
    limit = to_timedelta(max_wait, "max_wait") if max_wait is not None else None
    key = str(debounce_key)
    workflow_id = f"debounce:{definition.name}:{key}"
    message = {"id": uuid.uuid4().hex, "item": collect, "window": window.total_seconds(),
               "max_wait": limit.total_seconds() if limit else None}
    spec = DebounceSpec(task=definition.name, key=key, window=window, max_wait=limit)

    async def send() -> DebounceHandle:
        binding = engine._ensure()
        task_queue = await atask_queue_for(definition)
        await binding.client.start_workflow(
            DEBOUNCE_WORKFLOW, spec, id=workflow_id, task_queue=task_queue,
            start_signal=COLLECT_SIGNAL, start_signal_args=[message],
            static_summary=f"Debounce {definition.name} for {key} ({format_duration(window)})",
        )
        engine._track(workflow_id)
        return DebounceHandle(workflow_id)

    return await engine._on_loop(send)


def debounce_task(
    task: TaskRef | None = None,
    debounce_key: str = "",
    debounce_window: timedelta | float = timedelta(seconds=1),
    collect: Any = None,
    max_wait: timedelta | float | None = None,
    *,
    task_name: str | None = None,
) -> DebounceHandle:
    """Sync twin of :func:`adebounce_task`."""
    task = resolve_task(task if task is not None else task_name or "")
    return engine._blocking(adebounce_task, task, debounce_key, debounce_window, collect, max_wait,
                        name="debounce_task", kwargs={"task_name": task_name})


# ── repeating timers ─────────────────────────────────────────────────────────────


class SchedulePolicy(enum.Enum):
    """How a :class:`Timer` places its ticks.

    FIXED: ``start + N × interval`` (drift-free; ticks missed by an overrun are skipped).
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
            return True, await update.result()
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

    Guarantees: callbacks never overlap; FIXED keeps ``start + N × interval`` and
    skips ticks an overrun missed; DELAY waits ``interval`` after each callback; once
    :meth:`stop` returns, no callback begins. Tick 0 fires at ``start()``.

    Each ``Timer`` object is its own timer, the workflow ``timer:<name>``. Without a
    ``name``, the first Timer of a callback in this process is named after the task,
    the next ones ``<task>#2``, ``<task>#3``... (so a script that runs again gets the
    same names). Starting a timer whose name is already running attaches to it and
    keeps its phase; give two objects the same ``name`` to make them one timer.

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
        self.name = name or _default_timer_name(self.task.name)
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


def _default_timer_name(task_name: str) -> str:
    # Per process and task: the first Timer is named after the task, later ones get a
    # suffix, so two Timer objects are two timers and a rerun names them alike.
    with _timer_counts_lock:
        count = _timer_counts.get(task_name, 0) + 1
        _timer_counts[task_name] = count
    return task_name if count == 1 else f"{task_name}#{count}"
