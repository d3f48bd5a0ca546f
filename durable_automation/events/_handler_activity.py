"""The handler activity: runs an ``@on_event`` handler (activity ``<handler>.handle``).

Reached through the router activity (``_worker/activities.py``), which owns the
thread pool, heartbeats and the retry rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .._core.definitions import HandlerDefinition
from .._core.events import Event
from .._core.registry import registry
from .._core.wire import CommandWire, StepInput, StepOutcome

if TYPE_CHECKING:
    from .._worker.activities import StepRunner

__all__ = ["run_handler_activity"]


async def run_handler_activity(runner: StepRunner, args: Sequence[Any]) -> StepOutcome:
    """Run the handler named by the activity's input; it completes at once."""
    step_input = activity.payload_converter().from_payload(args[0].payload, StepInput)
    await _run_handler(runner, registry.handlers[step_input.automation], step_input)
    return StepOutcome(context={}, command=CommandWire(kind="complete"))


async def _run_handler(runner: StepRunner, handler: HandlerDefinition,
                       step_input: StepInput) -> None:
    if step_input.event is None:
        raise ApplicationError(f"{handler.name} needs an event", non_retryable=True)
    event = Event.from_wire(step_input.event)
    await runner.guarded(handler.retry is not None, f"{handler.name}", handler.fn, event)
