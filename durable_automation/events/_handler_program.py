"""The event-handler program: what the router workflow runs for an ``@on_event`` handler.

One run per event and handler: wait until the event's time when it is scheduled
ahead, then run the handler once as the activity ``<handler>.handle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from .._core.definitions import HandlerDefinition
    from .._core.registry import registry
    from .._core.wire import StartInput, StepInput
    from .._worker.flow_gate import wait_for_slot
    from .._worker.program import RunProgram
    from ..workflows._failure import run_with_failure_hook

__all__ = ["HandlerProgram"]


class HandlerProgram(RunProgram):
    """Runs a single-step event handler."""

    async def run(self, args: Sequence[RawValue]) -> Any:
        """Run the handler for the event in the start input."""
        start = workflow.payload_converter().from_payload(args[0].payload, StartInput)
        handler = registry.handlers[self._name]
        return await run_with_failure_hook(self, handler, start.event,
                                           self._run_handler(handler, start))

    async def _run_handler(self, handler: HandlerDefinition, start: StartInput) -> Any:
        await self.gate(start.start_at, f"{handler.event_name}")
        if (dropped := await wait_for_slot(self, start)) is not None:
            return dropped  # a rate limit dropped it
        self._phase, self._step = "running", "handle"
        self.publish(f"Running {handler.name} for {handler.event_name}")
        self._executions = 1
        retry = handler.retry.to_policy() if handler.retry else None
        await self.execute(
            handler.name, "handle", retry, handler.timeout,
            StepInput(automation=handler.name, step="handle", run_id=workflow.info().workflow_id,
                      context={}, execution=1, visit=1, event=start.event),
        )
        return {}
