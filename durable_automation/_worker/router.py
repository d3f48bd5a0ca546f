"""The router workflow: one dynamic Temporal workflow for every automation.

temporalio allows one dynamic workflow per worker, and runs are named after their
automation (the UI lists ``reindex_listing``, not ``Interpreter``). So this thin
class takes every run, asks the registry which kind of automation its workflow type
is, and hands the run to that kind's program, registered through
:mod:`durable_automation._core.hooks` by the concept packages:

- ``"workflow"``: the step program (``workflows/_step_program.py``);
- ``"handler"``: the event-handler program (``events/_handler_program.py``);
- ``"agent"``: the agent program (``agents/_program.py``).

The signal, query and update handlers are declared here, as they always were on
this class, and forwarded to the program: the handler names and the commands a run
emits are unchanged, so runs recorded before the split replay (``tests/replay``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from .._core.flow import FLOW_GRANT_SIGNAL, FlowGrant
    from .._core.hooks import workflow_program
    from .._core.registry import registry
    from .._core.wire import (
        DIRECT_SIGNAL_UPDATE,
        RESCHEDULE_SIGNAL,
        STATE_QUERY,
        WAKE_SIGNAL,
        RunState,
        WakeWire,
    )
    from .program import RunProgram

__all__ = ["AutomationWorkflow"]


@workflow.defn(dynamic=True)
class AutomationWorkflow:
    """Runs the automation whose name is this workflow's type, through its kind's program."""

    def __init__(self) -> None:
        self._name = workflow.info().workflow_type
        program = workflow_program(registry.kind_of(self._name) or "") or RunProgram
        self._program: RunProgram = program(self._name)

    @workflow.signal(name=WAKE_SIGNAL)
    def _on_wake(self, wake: WakeWire) -> None:
        self._program.on_wake(wake)

    @workflow.signal(name=FLOW_GRANT_SIGNAL)
    def _on_flow_grant(self, grant: FlowGrant) -> None:
        self._program.on_flow_grant(grant)

    @workflow.signal(name=RESCHEDULE_SIGNAL)
    def _on_reschedule(self, start_at: datetime) -> None:
        self._program.on_reschedule(start_at)

    @workflow.query(name=STATE_QUERY)
    def _state(self) -> RunState:
        return self._program.state()

    @workflow.update(name=DIRECT_SIGNAL_UPDATE)
    async def _direct_signal(self, signal: str, payload: dict[str, Any] | None) -> bool:
        return await self._program.direct_signal(signal, payload)

    @_direct_signal.validator
    def _validate_direct_signal(self, signal: str, payload: dict[str, Any] | None) -> None:
        self._program.validate_direct_signal(signal, payload)

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        if not args:
            raise ApplicationError(f"{self._name} was started without its input",
                                   non_retryable=True)
        return await self._program.run(args)
