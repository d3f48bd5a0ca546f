"""``on_failure=``: a hook that runs once when a run fails for good.

On ``@workflow`` / ``@event_workflow`` it is the name of a method of the class,
called as ``method(self, ctx, error)``, or a function ``fn(ctx, error)``; on
``@on_event`` handlers a function ``fn(event, error)``. ``error`` is a
:class:`~durable_automation.exceptions.RunFailedError` (``reason``, ``step``,
``error_type``, ``run_id``).

Workflow side (:func:`run_with_failure_hook`): when the program raises the run's
failure (a step's retries ran out, or ``fail()``), the hook runs as the activity
``<automation>.on_failure`` with the automation's retry policy, then the run fails
with its original error, whatever the hook did. A cancelled run is not a failure.
Activity side (:func:`with_failure_hooks`): the router activity's program for steps
and handlers is wrapped, so a hook call is recognised by its input and runs on the
same thread pool, with heartbeats, as any step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from .._core.definitions import takes_positional as _positional

with workflow.unsafe.imports_passed_through():
    from .._core.definitions import HandlerDefinition, WorkflowDefinition
    from .._core.events import Event
    from .._core.registry import registry
    from .._core.retry import Retry
    from .._core.wire import CommandWire, EventWire, StepInput, StepOutcome
    from ..exceptions import RunFailedError

if TYPE_CHECKING:
    from .._core.hooks import ActivityProgram
    from .._worker.activities import StepRunner
    from .._worker.program import RunProgram

__all__ = ["HOOK_STEP", "check_on_failure", "run_with_failure_hook", "with_failure_hooks"]

HOOK_STEP = "on_failure"
_PATCH = "da-on-failure-hook"


# ── decoration time ──────────────────────────────────────────────────────────────


def check_on_failure(on_failure: Any, cls: type | None = None) -> list[str]:
    """Problems with an ``on_failure=`` value (``cls``: the workflow class, else a handler)."""
    if on_failure is None:
        return []
    what = "(ctx, error)" if cls is not None else "(event, error)"
    if isinstance(on_failure, str):
        if cls is None:
            return [f"on_failure must be a function {what}, got the string {on_failure!r}"]
        method = getattr(cls, on_failure, None)
        if not callable(method):
            return [f"on_failure names {on_failure!r}, which is not a method of "
                    f"{cls.__qualname__}"]
        if not _positional(method, 3):
            return [f"on_failure method {cls.__qualname__}.{on_failure} must take "
                    "(self, ctx, error)"]
        return []
    if not callable(on_failure):
        return [f"on_failure must be a function {what}" + (" or the name of a method"
                if cls is not None else "") + f", got {on_failure!r}"]
    if not _positional(on_failure, 2):
        return [f"on_failure function {getattr(on_failure, '__qualname__', on_failure)!r} "
                f"must take two arguments {what}"]
    return []


def hook_label(on_failure: str | Callable[..., Any]) -> str:
    """How the hook is named in the UI."""
    if isinstance(on_failure, str):
        return on_failure
    return str(getattr(on_failure, "__qualname__", on_failure))


# ── workflow side ────────────────────────────────────────────────────────────────


async def run_with_failure_hook(
    program: RunProgram,
    definition: WorkflowDefinition | HandlerDefinition,
    event: EventWire | None,
    body: Coroutine[Any, Any, Any],
) -> Any:
    """Await the program's ``body``; if it fails the run, call the hook first.

    Args:
        program: The run's program (its Context and step are what the hook sees).
        definition: The automation.
        event: The event that started the run, if any.
        body: The program's run coroutine.
    """
    if definition.on_failure is None:
        return await body
    try:
        return await body
    except ApplicationError as err:
        # A cancelled run whose step was cancelled under it is not a failure.
        if workflow.cancellation_reason() is None and workflow.patched(_PATCH):
            await _call_hook(program, definition, event, err)
        raise


async def _call_hook(program: RunProgram, definition: WorkflowDefinition | HandlerDefinition,
                     event: EventWire | None, err: ApplicationError) -> None:
    assert definition.on_failure is not None
    details = err.details[0] if err.details and isinstance(err.details[0], dict) else {}
    failure = {"message": err.message, "type": details.get("error_type") or err.type,
               "step": details.get("step") or program._step}
    retry: Retry | None = (definition.default_retry if isinstance(definition, WorkflowDefinition)
                           else definition.retry)
    info = workflow.info()
    program.publish(f"Failed; running on_failure {hook_label(definition.on_failure)}")
    try:
        await program.execute(
            definition.name, HOOK_STEP, retry.to_policy() if retry else None, None,
            StepInput(automation=definition.name, step=HOOK_STEP, run_id=info.workflow_id,
                      context=program._context, execution=program._executions + 1, visit=1,
                      event=event, failure=failure),
        )
    except ApplicationError as hook_err:
        # The run fails with its own error either way; the hook's is logged.
        workflow.logger.warning("on_failure hook of %s failed: %s", definition.name,
                                hook_err.message)


# ── activity side ────────────────────────────────────────────────────────────────


def with_failure_hooks(program: ActivityProgram) -> ActivityProgram:
    """Wrap a kind's activity program so that ``<automation>.on_failure`` hook calls run the
    hook (anything else, including a step that happens to be named ``on_failure``, goes on
    to ``program``)."""

    async def run(runner: StepRunner, args: Sequence[Any]) -> Any:
        if activity.info().activity_type.endswith(f".{HOOK_STEP}"):
            step_input = activity.payload_converter().from_payload(args[0].payload, StepInput)
            if step_input.failure is not None:
                return await _run_hook(runner, step_input)
        return await program(runner, args)

    return run


async def _run_hook(runner: StepRunner, step_input: StepInput) -> StepOutcome:
    failure = step_input.failure or {}
    error = RunFailedError(step_input.run_id, str(failure.get("message", "")),
                           step=failure.get("step"), error_type=failure.get("type"))
    name = step_input.automation
    definition: WorkflowDefinition | HandlerDefinition | None = (
        registry.workflows.get(name) or registry.handlers.get(name))
    if definition is None or definition.on_failure is None:
        raise ApplicationError(f"{name} has no on_failure hook on this worker",
                               type="UnknownAutomation", non_retryable=True)
    hook = definition.on_failure
    first: Any
    if isinstance(definition, WorkflowDefinition):
        retryable = definition.default_retry is not None
        try:
            first = definition.context_cls.model_validate(step_input.context)
        except ValueError:
            first = dict(step_input.context)  # the Context class changed: the raw data
        if isinstance(hook, str):
            hook = getattr(definition.cls(), hook)
    else:
        retryable = definition.retry is not None
        first = Event.from_wire(step_input.event) if step_input.event is not None else None
    assert callable(hook)
    call: Callable[..., Awaitable[Any] | Any] = hook
    await runner.guarded(retryable, f"{name}.on_failure", call, first, error)
    return StepOutcome(context=step_input.context, command=CommandWire(kind="complete"))
