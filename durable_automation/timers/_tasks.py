"""Tasks: the plain functions timers, delays, debounces and schedules run.

``@task`` registers a function under a name. Everything that runs a task later
(a :class:`~durable_automation.timers.Timer`, ``schedule_task``, ``debounce_task``,
the :class:`~durable_automation.scheduler.Scheduler`) stores only that *name* in
Temporal, and the worker runs it through one named activity,
``durable_automation.run_task``, which looks the name up here. A string given as a
task therefore resolves only to a registered task, never to an import path.

A plain callable passed where a task is expected is registered on the spot. A
module-level function gets ``<module>.<qualname>`` and runs on any worker that imported
its module. A callable only this process can run (a lambda, a closure, a bound method,
a function of ``__main__``) is *local*: it gets a name of its own, ``<qualname>#<n>``
(``n`` counts distinct callables of that qualname, so two lambdas are two tasks and a
script that runs again names them the same way), and runs on this process's in-process
worker (see ``_local_worker``).

A local gate lets a timer stopped by a call that could not wait (``Timer.stop()``
inside a running event loop) refuse callbacks at once: :func:`close_gate` marks the
timer, and ``run_task`` skips its ticks in this process until :func:`open_gate`.
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

from .._core.hooks import wrapped
from .._core.registry import registry
from .._core.retry import Retry
from ..exceptions import DefinitionError, RegistrationError, UnknownTaskError

__all__ = [
    "RUN_TASK_ACTIVITY",
    "TaskCall",
    "TaskDefinition",
    "TaskInfo",
    "close_gate",
    "is_local_callable",
    "open_gate",
    "resolve_task",
    "run_task_activity",
    "task",
    "task_info",
    "unregister_task",
]

F = TypeVar("F", bound=Callable[..., Any])

RUN_TASK_ACTIVITY = "durable_automation.run_task"
Origin = Literal["delayed", "debounce", "timer", "schedule", "batch"]


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
        local: Only this process can run it (a lambda, closure, bound method, a
            ``__main__`` function, or a callable object): no worker that merely
            imports modules could find it.
        module: The defining module (``""`` when unknown).
    """

    name: str
    fn: Callable[..., Any]
    qualname: str
    retry: Retry | None = None
    implicit: bool = False
    local: bool = False
    module: str = ""


_tasks: dict[str, TaskDefinition] = {}
# Distinct local callables seen per qualname (their names are ``<qualname>#<n>``).
_local_counts: dict[str, int] = {}
# Timers (by name) whose callbacks this process must not begin any more.
_closed_gates: set[str] = set()


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def is_local_callable(fn: Callable[..., Any]) -> bool:
    """Whether only this process can run ``fn``: a worker importing modules cannot find it.

    True for bound methods, lambdas, closures and other nested functions, functions
    of ``__main__`` (a script), and callables without a qualified name (partials,
    callable objects).
    """
    if inspect.ismethod(fn):
        return True
    qualname = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if not isinstance(qualname, str) or not isinstance(module, str):
        return True
    return module == "__main__" or "<lambda>" in qualname or "<locals>" in qualname


def _local_name(fn: Callable[..., Any]) -> str:
    base = _qualname(fn)
    if inspect.ismethod(fn) or not isinstance(getattr(fn, "__qualname__", None), str):
        base = _qualname(getattr(fn, "__func__", type(fn)))
    if (getattr(fn, "__module__", None) == "__main__" and "<" not in base
            and not inspect.ismethod(fn)):
        return base  # a script's module-level function: its name is stable as it is
    count = _local_counts.get(base, 0) + 1
    _local_counts[base] = count
    return f"{base}#{count}"


def close_gate(timer_name: str) -> None:
    """From now on, this process begins no callback of the timer ``timer_name``."""
    _closed_gates.add(timer_name)


def open_gate(timer_name: str) -> None:
    """Let this process run the timer's callbacks again (it was started anew)."""
    _closed_gates.discard(timer_name)


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
def task(name: str | None = None, /, *, retry: Retry | None = None,
         **unsupported: Any) -> Callable[[F], F]: ...


def task(
    fn_or_name: Any = None, /, *, name: str | None = None, retry: Retry | None = None,
    **unsupported: Any,
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
        if unsupported:
            raise DefinitionError(_qualname(fn), [_unsupported(unsupported)])
        if retry is not None and not isinstance(retry, Retry):
            raise DefinitionError(_qualname(fn), [f"retry must be a Retry, got {retry!r}"])
        task_name = chosen or _qualname(fn)
        _register(TaskDefinition(task_name, fn, _qualname(fn), retry,
                                 local=is_local_callable(fn),
                                 module=str(getattr(fn, "__module__", "") or "")))
        return fn

    if callable(fn_or_name):
        chosen = name
        return decorate(fn_or_name)
    chosen = fn_or_name if isinstance(fn_or_name, str) else name
    return decorate


def _unsupported(options: dict[str, Any]) -> str:
    names = ", ".join(f"{name}=" for name in options)
    flow = {"concurrency", "throttle", "rate_limit", "priority", "fairness_key",
            "fairness_weight"}
    if set(options) <= flow:
        return (f"@task does not take {names}: flow control applies to runs of workflows, "
                "event handlers and agent handlers; start a limited @workflow from the task "
                "(docs/flow-control.md)")
    return f"@task got unexpected argument(s) {names}"


def resolve_task(target: str | Callable[..., Any] | TaskDefinition) -> TaskDefinition:
    """The registered task for a name, a function or a definition.

    A function that is not registered yet is registered on the spot: a module-level
    function under its qualified name, a local callable (see :func:`is_local_callable`)
    under a name of its own, so that two lambdas are two tasks.

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
        # Bound methods are created anew on each attribute access: compare them by value.
        if definition.fn is target or (inspect.ismethod(target) and definition.fn == target):
            return definition
    module = str(getattr(target, "__module__", "") or "")
    if is_local_callable(target):
        return _register(TaskDefinition(_local_name(target), target, _qualname(target),
                                        implicit=True, local=True, module=module))
    return _register(TaskDefinition(_qualname(target), target, _qualname(target),
                                    implicit=True, module=module))


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
        tick: Timer tick number (``start + tick * interval`` for FIXED timers); for a
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
    with wrapped():
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
    if call.origin == "timer" and call.key in _closed_gates:
        # The timer was stopped by a call that could not wait for the server: this
        # process begins none of its callbacks any more.
        activity.logger.info("Timer %s was stopped; tick %s skipped", call.key, call.tick)
        return None
    info = activity.info()
    token = _current.set(TaskInfo(call.task, call.origin, call.key, call.tick,
                                  call.scheduled_at, info.attempt))
    heartbeat = asyncio.create_task(_heartbeat_forever())
    try:
        if inspect.iscoroutinefunction(definition.fn):
            with wrapped():
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
