"""The handler activity of agents (activity type ``<agent>.<handler>``).

Reached through the router activity (see ``_worker/activities.py``), so
it shares the thread pool, heartbeats and retry behaviour of workflow steps:

1. the Context is rebuilt (from the last failed attempt's checkpoint when retried);
2. ``condition(event, ctx)`` is checked now, when the handler is due;
3. the handler runs, with ``claims.hold``/``release`` bound to this agent;
4. index buckets follow any change of indexed Context fields, before the activity
   returns, so an event routed after the handler finished finds the agent.

An ``on_failure`` hook call (``<agent>.<handler>:on_failure``, ``failure`` set) takes
the same path, with the hook in place of the handler and no condition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError
from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from .._core.commands import Complete
from .._core.context import StepInfo, _Current, current
from .._core.events import Event
from .._core.registry import registry
from ..exceptions import RunFailedError
from ._claims import AgentCall, current_agent
from ._failure import HOOK_SUFFIX
from ._store import sync_index
from ._wire import AgentHandlerInput, AgentHandlerOutcome

if TYPE_CHECKING:
    from .._worker.activities import StepRunner

__all__ = ["run_agent_handler"]


async def run_agent_handler(runner: StepRunner, args: Sequence[RawValue]) -> AgentHandlerOutcome:
    """Run one agent handler; see the module docstring."""
    data = activity.payload_converter().from_payload(args[0].payload, AgentHandlerInput)
    definition = registry.agents.get(data.agent)
    spec = definition.handlers.get(data.handler) if definition else None
    if definition is None or spec is None:
        raise ApplicationError(
            f"{data.agent}.{data.handler} is not registered on this worker; import the module "
            "that defines the agent in the worker (AUTOMATION_MODULES)",
            type="UnknownAutomation", non_retryable=True,
        )
    where = f"{data.agent}.{data.handler}"
    hook = data.failure is not None and spec.on_failure is not None
    if data.failure is not None:
        where += HOOK_SUFFIX
        if not hook:
            raise ApplicationError(f"{where}: the handler has no on_failure hook on this worker",
                                   type="UnknownAutomation", non_retryable=True)
    stored = data.context
    details = activity.info().heartbeat_details
    if details and isinstance(details[0], dict):
        stored = details[0]  # a failed attempt's changes carry over, as for steps
    try:
        ctx = definition.context_cls.model_validate(stored)
    except ValidationError as exc:
        raise ApplicationError(f"{where}: stored Context no longer validates: {exc}",
                               type="InvalidContext", non_retryable=True) from None
    event = Event.from_wire(data.event) if data.event is not None else None
    info = activity.info()
    call = AgentCall(agent_id=data.agent_id, agent=data.agent, client=activity.client(),
                     loop=asyncio.get_running_loop(), task_queue=info.task_queue)
    step = StepInfo(automation=data.agent, run_id=data.agent_id, step=data.handler, visit=1,
                    attempt=info.attempt)
    agent_token = current_agent.set(call)
    step_token = current.set(_Current(context=ctx, info=step, extra={"event": event}))
    retryable = spec.retry is not None
    try:
        if hook:
            failure = data.failure or {}
            error = RunFailedError(data.agent_id, str(failure.get("message", "")),
                                   step=data.handler, error_type=failure.get("type"))
            fn = spec.on_failure
            if isinstance(fn, str):
                fn = getattr(definition.cls(), fn)
            assert callable(fn)
            call_args: tuple[object, ...] = (ctx, event, error)
        else:
            if spec.condition is not None:
                due = await runner.guarded(retryable, f"{where} condition", spec.condition,
                                           event, ctx)
                if not due:
                    return AgentHandlerOutcome(context=data.context, ran=False,
                                               claims=call.claimed)
            fn = getattr(definition.cls(), spec.name)
            call_args = (ctx, event) if spec.takes_event else (ctx,)
        result = await runner.guarded(retryable, where, fn, *call_args,
                                       checkpoint=lambda: ctx.model_dump(mode="json"))
    finally:
        current.reset(step_token)
        current_agent.reset(agent_token)
    if result is not None and not isinstance(result, Complete):
        raise ApplicationError(
            f"{'Hook' if hook else 'Handler'} {where} returned {result!r}; an agent handler "
            "(or its on_failure hook) returns None, or complete() to end the agent",
            type="InvalidCommandError", non_retryable=True,
        )
    dumped = ctx.model_dump(mode="json")
    if definition.index_fields:
        await sync_index(call.client, call.task_queue, definition, data.agent_id,
                         definition.index_values(data.context), definition.index_values(dumped))
    return AgentHandlerOutcome(context=dumped, complete=isinstance(result, Complete),
                               claims=call.claimed)
