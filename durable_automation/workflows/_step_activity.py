"""The step activity: runs one step of a step workflow (activity ``<automation>.<step>``).

Reached through the router activity (``_worker/activities.py``), which owns the
thread pool, heartbeats and the retry rules. It rebuilds the Context (from the last
failed attempt's checkpoint when retried), calls the step, checks the command it
returned, and records a ``wait`` with its channel's hub before returning, so the
wait is durable before the run is seen as waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from .._core.channels import HUB_WORKFLOW, hub_id
from .._core.commands import to_wire
from .._core.context import StepInfo, _Current, current
from .._core.definitions import WorkflowDefinition
from .._core.registry import registry
from .._core.wire import CommandWire, StepInput, StepOutcome, Waiter
from ..exceptions import InvalidCommandError, InvalidContextError

if TYPE_CHECKING:
    from .._worker.activities import StepRunner

__all__ = ["run_step_activity"]


async def run_step_activity(runner: StepRunner, args: Sequence[Any]) -> StepOutcome:
    """Run the step named by the activity's input."""
    step_input = activity.payload_converter().from_payload(args[0].payload, StepInput)
    definition = registry.workflows.get(step_input.automation)
    if definition is not None and step_input.step in definition.renamed_steps:
        # Scheduled before a deploy renamed the step: run the new step's code.
        step_input = step_input.model_copy(
            update={"step": definition.renamed_steps[step_input.step]})
    if definition is None or step_input.step not in definition.steps:
        raise ApplicationError(
            f"{step_input.automation}.{step_input.step} is not registered on this worker",
            type="UnknownAutomation", non_retryable=True,
        )
    return await _run_step(runner, definition, step_input)


async def _run_step(runner: StepRunner, definition: WorkflowDefinition,
                    step_input: StepInput) -> StepOutcome:
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
        visit=step_input.visit, attempt=step_input.attempt or activity.info().attempt,
        wake=step_input.wake,
        started_at=activity.info().started_time,
    )
    token = current.set(_Current(context=context, info=info, extra={}))
    try:
        instance = definition.cls()
        method = getattr(instance, step_input.step)
        args = (context,) if step_def.takes_context else ()
        result = await runner.guarded(
            definition.retry_for(step_input.step) is not None, where, method, *args,
            checkpoint=lambda: context.model_dump(mode="json"),
        )
    except ApplicationError:
        raise
    except Exception as exc:
        if not activity.info().is_local:
            raise
        # A local step cannot heartbeat its Context: the failure carries it to the
        # workflow, which starts the next attempt from it (workflows/_local_steps.py).
        raise ApplicationError(str(exc), *_context_left(context),
                               type=type(exc).__name__) from exc
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


def _context_left(context: BaseModel) -> list[dict[str, Any]]:
    """A failed local attempt's Context, as its error's details (none if it cannot
    be dumped: the next attempt then starts from the Context this one started with)."""
    try:
        return [context.model_dump(mode="json")]
    except (ValueError, TypeError):
        return []


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
