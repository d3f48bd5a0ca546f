"""The activity that runs user code: workflow steps and event handlers.

Registered as Temporal's dynamic activity, so each step shows in the UI under its
own activity type, ``<automation>.<step>``. Sync user code runs on a thread pool
(Django's ORM is sync) while this coroutine heartbeats, so a worker that dies
mid-step is noticed within the heartbeat timeout and the step is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from ._agent_activity import is_agent_activity, run_agent_handler
from ._commands import to_wire
from ._context import StepInfo, _Current, current
from ._definitions import HandlerDefinition, WorkflowDefinition
from ._events import Event
from ._registry import registry
from ._signal_hub import HUB_WORKFLOW, hub_id
from ._wire import CommandWire, StepInput, StepOutcome, Waiter
from .exceptions import InvalidCommandError, InvalidContextError

__all__ = ["StepRunner", "add_call_wrapper"]

# Context managers entered around every call of user code, on the thread that runs it
# (the Django integration adds one that closes stale database connections).
_call_wrappers: list[Callable[[], contextlib.AbstractContextManager[Any]]] = []


def add_call_wrapper(wrapper: Callable[[], contextlib.AbstractContextManager[Any]]) -> None:
    """Enter ``wrapper()`` around every step and handler call (idempotent)."""
    if wrapper not in _call_wrappers:
        _call_wrappers.append(wrapper)


@contextlib.contextmanager
def _wrapped() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for wrapper in _call_wrappers:
            stack.enter_context(wrapper())
        yield


class StepRunner:
    """Holds the thread pool user code runs on; ``activity`` is what the worker registers."""

    def __init__(self, max_threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="da-step")

        @activity.defn(dynamic=True)
        async def run_user_code(args: Sequence[RawValue]) -> StepOutcome:
            return await self._run(args)

        self.activity = run_user_code

    def shutdown(self) -> None:
        """Stop the thread pool once the worker has drained."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, args: Sequence[RawValue]) -> StepOutcome:
        if is_agent_activity():  # long-running agents' handlers: see _agent_activity
            return await run_agent_handler(self, args)  # type: ignore[return-value]
        step_input = activity.payload_converter().from_payload(args[0].payload, StepInput)
        if step_input.automation in registry.handlers:
            await self._run_handler(registry.handlers[step_input.automation], step_input)
            return StepOutcome(context={}, command=CommandWire(kind="complete"))
        definition = registry.workflows.get(step_input.automation)
        if definition is None or step_input.step not in definition.steps:
            raise ApplicationError(
                f"{step_input.automation}.{step_input.step} is not registered on this worker",
                type="UnknownAutomation", non_retryable=True,
            )
        return await self._run_step(definition, step_input)

    async def _call(
        self, fn: Callable[..., Any], *args: Any, checkpoint: Callable[[], Any] | None = None
    ) -> Any:
        """Run user code, heartbeating while it runs; sync code goes to the pool.

        ``checkpoint`` returns what to record as heartbeat details: the step's Context,
        so that the next attempt after a failure starts from the changes this one made.
        """
        heartbeat = asyncio.create_task(_heartbeat_forever(checkpoint))
        try:
            if inspect.iscoroutinefunction(fn):
                with _wrapped():
                    return await fn(*args)
            ctx = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, ctx.run, _call_wrapped, fn, args)
        except Exception:
            if checkpoint is not None:
                activity.heartbeat(checkpoint())
            raise
        finally:
            heartbeat.cancel()

    async def _run_handler(self, handler: HandlerDefinition, step_input: StepInput) -> None:
        if step_input.event is None:
            raise ApplicationError(f"{handler.name} needs an event", non_retryable=True)
        event = Event.from_wire(step_input.event)
        await self._guarded(handler.retry is not None, f"{handler.name}", handler.fn, event)

    async def _run_step(self, definition: WorkflowDefinition, step_input: StepInput) -> StepOutcome:
        where = f"{definition.name}.{step_input.step}"
        # After a failed attempt, continue from the Context it checkpointed: a step that
        # counts its attempts in the Context (the seed's notify_housekeeping) sees them.
        stored = step_input.context
        details = activity.info().heartbeat_details
        if details and isinstance(details[0], dict):
            stored = details[0]
        try:
            context = definition.context_cls.model_validate(stored)
        except ValidationError as exc:
            raise ApplicationError(f"{where}: stored Context no longer validates: {exc}",
                                   type="InvalidContext", non_retryable=True) from None
        step_def = definition.steps[step_input.step]
        info = StepInfo(
            automation=definition.name, run_id=step_input.run_id, step=step_input.step,
            visit=step_input.visit, attempt=activity.info().attempt, wake=step_input.wake,
            started_at=activity.info().started_time,
        )
        token = current.set(_Current(context=context, info=info, extra={}))
        try:
            instance = definition.cls()
            method = getattr(instance, step_input.step)
            args = (context,) if step_def.takes_context else ()
            result = await self._guarded(
                definition.retry_for(step_input.step) is not None, where, method, *args,
                checkpoint=lambda: context.model_dump(mode="json"),
            )
        finally:
            current.reset(token)
        try:
            command = to_wire(result, where)
            _check_targets(definition, command, where)
        except InvalidCommandError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        try:
            dumped = context.model_dump(mode="json")
        except (ValueError, TypeError) as exc:
            error = InvalidContextError(where, str(exc))
            raise ApplicationError(str(error), type="InvalidContextError",
                                   non_retryable=True) from None
        if command.kind == "wait":
            assert command.signal is not None
            await _register_waiter(
                activity.client(), command.signal,
                Waiter(run_id=step_input.run_id, seq=step_input.execution,
                       automation=definition.name),
            )
        return StepOutcome(context=dumped, command=command)

    async def _guarded(
        self,
        retryable: bool,
        where: str,
        fn: Callable[..., Any],
        *args: Any,
        checkpoint: Callable[[], Any] | None = None,
    ) -> Any:
        """Call user code; without a Retry its exception fails the run at once."""
        try:
            return await self._call(fn, *args, checkpoint=checkpoint)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if retryable:
                raise
            raise ApplicationError(
                f"{type(exc).__name__}: {exc}", type=type(exc).__name__, non_retryable=True
            ) from exc


def _call_wrapped(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    with _wrapped():
        return fn(*args)


async def _heartbeat_forever(checkpoint: Callable[[], Any] | None) -> None:
    info = activity.info()
    interval = (info.heartbeat_timeout.total_seconds() / 3) if info.heartbeat_timeout else 10.0
    # Re-send the attempt's starting details: an empty heartbeat would erase them.
    details = info.heartbeat_details
    while True:
        activity.heartbeat(*details)
        await asyncio.sleep(max(interval, 0.2))


def _check_targets(definition: WorkflowDefinition, command: CommandWire, where: str) -> None:
    for keyword in ("step", "then", "on_timeout"):
        target = getattr(command, keyword)
        if target is not None and target not in definition.steps:
            raise InvalidCommandError(
                f"Step {where} returned {command.kind} naming step {target!r}, which does not "
                f"exist in {definition.name} (steps: {', '.join(definition.steps)})"
            )


async def _register_waiter(client: Client, channel: str, waiter: Waiter) -> None:
    """Record the wait with the channel's hub (durable once this returns)."""
    await client.start_workflow(
        HUB_WORKFLOW,
        arg=[],
        id=hub_id(activity.info().task_queue, channel),
        task_queue=activity.info().task_queue,
        start_signal="register",
        start_signal_args=[waiter],
        static_summary=f"Runs waiting for signal {channel}",
    )
