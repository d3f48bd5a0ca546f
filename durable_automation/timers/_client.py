"""Client side of the timers: ``schedule_task``, ``debounce_task``, ``Timer`` and their handles.

Every call goes through the engine's client (``engine._ensure()``): sync calls run on
the engine's loop, the ``a``-prefixed twins hop to it, as everywhere in the SDK.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from .._core.defaults import format_duration
from ..exceptions import (
    InvalidScheduleError,
    RunCancelledError,
    RunFailedError,
)
from ._debounce_workflow import COLLECT_SIGNAL
from ._local_worker import atask_queue_for
from ._tasks import TaskCall, TaskDefinition, resolve_task
from ._wire import (
    DEBOUNCE_WORKFLOW,
    DELAYED_WORKFLOW,
    DebounceSpec,
    DebounceStatus,
    DelayedSpec,
)

__all__ = [
    "DebounceHandle",
    "TaskHandle",
    "adebounce_task",
    "aschedule_task",
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
