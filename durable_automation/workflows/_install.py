"""How step workflows plug into the core: imported once, by ``durable_automation.workflows``.

- the router workflow runs step workflows with :class:`~._step_program.StepProgram`;
- the router activity runs their steps with :func:`~._step_activity.run_step_activity`;
- every worker runs the signal hub (who waits on which signal channel).

Decorators only register definitions; all runtime machinery is installed here.
"""

from __future__ import annotations

from .._core.hooks import (
    WorkerComponent,
    add_worker_component,
    set_activity_program,
    set_workflow_program,
)
from ._signal_hub import SignalHub
from ._step_activity import run_step_activity
from ._step_program import StepProgram

__all__: list[str] = []

set_workflow_program("workflow", StepProgram)
set_activity_program("workflow", run_step_activity)
add_worker_component(WorkerComponent("durable_automation.workflows", workflows=(SignalHub,)))
