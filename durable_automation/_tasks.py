"""Tasks: the plain functions timers, delays, debounces and schedules run.

``@task`` registers a function under a name. Everything that runs a task later
(a :class:`~durable_automation.timers.Timer`, ``schedule_task``, ``debounce_task``,
the :class:`~durable_automation.scheduler.Scheduler`) stores only that *name* in
Temporal, and the worker runs it through one named activity,
``durable_automation.run_task``, which looks the name up here. A string given as a
task therefore resolves only to a registered task, never to an import path.

A plain callable passed where a task is expected is registered on the spot under
``<module>.<qualname>``: it runs on any worker that imported its module (module-level
functions), or only in this process (lambdas, closures).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ._registry import registry
from ._retry import Retry
from .exceptions import DefinitionError, RegistrationError, UnknownTaskError

__all__ = [
    "RUN_TASK_ACTIVITY",
    "TaskCall",
    "TaskDefinition",
    "TaskInfo",
    "resolve_task",
    "run_task_activity",
    "task",
    "task_info",
    "unregister_task",
]

F = TypeVar("F", bound=Callable[..., Any])

RUN_TASK_ACTIVITY = "durable_automation.run_task"
Origin = Literal["delayed", "debounce", "timer", "schedule"]


@dataclass(frozen=True)
class TaskDefinition:
    """A registered task.

    Attributes:
        name: The name timers store and the worker looks up.
        fn: The function (sync or async).
        qualname: ``module.qualname`` of the function.
        retry: How often a failing run is retried (``None``: a failure is recorded and
            not retried; a worker that dies mid-run is still retried).
        implicit: Registered on the spot from a plain callable (may be replaced).
    """

    name: str
    fn: Callable[..., Any]
    qualname: str
    retry: Retry | None = None
    implicit: bool = False


_tasks: dict[str, TaskDefinition] = {}


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _register(definition: TaskDefinition) -> TaskDefinition:
    current = _tasks.get(definition.name)
    if current is not None and current.fn is not definition.fn and not current.implicit:
        raise RegistrationError(
            f"The task name {definition.name!r} is already used by {current.qualname}; "
            f"give {definition.qualname} another name (@task(name=...))"
        )
    if current is not None:
        registry.unregister(definition.name)
    registry.claim_name(definition.name, definition.qualname)
    _tasks[definition.name] = definition
    return definition


@overload
def task(fn: F, /) -> F: ...
@overload
def task(name: str | None = None, /, *, retry: Retry | None = None) -> Callable[[F], F]: ...


def task(
    fn_or_name: Any = None, /, *, name: str | None = None, retry: Retry | None = None
) -> Any:
    """Register a function that timers, delays, debounces and schedules may run.

    Usable bare (``@task``), with a name (``@task("cleanup")``) or with options
    (``@task(name="cleanup", retry=Retry(max_attempts=5))``). The default name is
    ``<module>.<qualname>``. The worker must import the defining module.

    Raises:
        RegistrationError: Another function already has this name.
        DefinitionError: The target is not callable.
    """

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise DefinitionError(repr(fn), ["@task needs a function"])
        if retry is not None and not isinstance(retry, Retry):
            raise DefinitionError(_qualname(fn), [f"retry must be a Retry, got {retry!r}"])
        task_name = chosen or _qualname(fn)
        _register(TaskDefinition(task_name, fn, _qualname(fn), retry))
        return fn

    if callable(fn_or_name):
        chosen = name
        return decorate(fn_or_name)
    chosen = fn_or_name if isinstance(fn_or_name, str) else name
    return decorate


def resolve_task(target: str | Callable[..., Any] | TaskDefinition) -> TaskDefinition:
    """The registered task for a name, a function or a definition.

    A function that is not registered yet is registered under its qualified name.

    Raises:
        UnknownTaskError: A string names no registered task.
    """
    if isinstance(target, TaskDefinition):
        return target
    if isinstance(target, str):
        try:
            return _tasks[target]
        except KeyError:
            raise UnknownTaskError(target, list(_tasks)) from None
    if not callable(target):
        raise UnknownTaskError(repr(target), list(_tasks))
    for definition in _tasks.values():
        if definition.fn is target:
            return definition
    return _register(TaskDefinition(_qualname(target), target, _qualname(target), implicit=True))


def unregister_task(name: str) -> None:
    """Forget a task (tests that define throw-away tasks)."""
    if _tasks.pop(name, None) is not None:
        registry.unregister(name)


# ── what the worker runs ─────────────────────────────────────────────────────────


class TaskCall(BaseModel):
    """One run of a task, as the ``run_task`` activity receives it."""

    model_config = ConfigDict(frozen=True)

    task: str
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    origin: Origin = "delayed"
    key: str | None = None
    tick: int | None = None
    scheduled_at: datetime | None = None


@dataclass(frozen=True)
class TaskInfo:
    """Facts about the task run in progress (see :func:`task_info`).

    Attributes:
        task: Task name.
        origin: What ran it: ``delayed``, ``debounce``, ``timer`` or ``schedule``.
        key: The timer's name, the debounce key, the delayed run's id or the schedule's task.
        tick: Timer tick number (``start + tick × interval`` for FIXED timers); for a
            debounce, the window number (1 for the key's first flush).
        scheduled_at: When this run was due (virtual time under ``time_machine``).
        attempt: Temporal attempt number (1 unless retried).
    """

    task: str
    origin: str
    key: str | None
    tick: int | None
    scheduled_at: datetime | None
    attempt: int


_current: ContextVar[TaskInfo | None] = ContextVar("durable_automation_task", default=None)


def task_info() -> TaskInfo:
    """The running task's :class:`TaskInfo`.

    Raises:
        RuntimeError: Called outside a task run by a timer, delay, debounce or schedule.
    """
    info = _current.get()
    if info is None:
        raise RuntimeError("task_info() works only inside a task run by the worker")
    return info


async def _heartbeat_forever() -> None:
    info = activity.info()
    interval = (info.heartbeat_timeout.total_seconds() / 3) if info.heartbeat_timeout else 10.0
    while True:
        activity.heartbeat()
        await asyncio.sleep(max(interval, 0.2))


def _call_sync(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    # Same wrappers as step code (the Django integration closes stale connections).
    from ._activities import _wrapped

    with _wrapped():
        return fn(*args, **kwargs)


@activity.defn(name=RUN_TASK_ACTIVITY)
async def run_task_activity(call: TaskCall) -> Any:
    """Run the registered task ``call.task``; a task without ``retry`` fails once, for good."""
    definition = _tasks.get(call.task)
    if definition is None:
        raise ApplicationError(
            f"Task {call.task!r} is not registered on this worker; import the module that "
            "defines it (AUTOMATION_MODULES) in the worker",
            type="UnknownTask", non_retryable=True,
        )
    info = activity.info()
    token = _current.set(TaskInfo(call.task, call.origin, call.key, call.tick,
                                  call.scheduled_at, info.attempt))
    heartbeat = asyncio.create_task(_heartbeat_forever())
    try:
        if inspect.iscoroutinefunction(definition.fn):
            from ._activities import _wrapped

            with _wrapped():
                return await definition.fn(*call.args, **call.kwargs)
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            None, ctx.run, _call_sync, definition.fn, call.args, call.kwargs
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if definition.retry is not None:
            raise
        raise ApplicationError(f"{type(exc).__name__}: {exc}", type=type(exc).__name__,
                               non_retryable=True) from exc
    finally:
        heartbeat.cancel()
        _current.reset(token)
