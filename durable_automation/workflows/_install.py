"""How step workflows plug into the core: imported once, by ``durable_automation.workflows``.

- the router workflow runs step workflows with :class:`~._step_program.StepProgram`;
- the router activity runs their steps with :func:`~._step_activity.run_step_activity`;
- every worker runs the signal hub (who waits on which signal channel).

Decorators only register definitions; all runtime machinery is installed here.
"""

from __future__ import annotations

from .._core.hooks import (
    WorkerComponent,
    add_event_hook,
    add_worker_component,
    set_activity_program,
    set_workflow_program,
)
from ._cancel_index import CancelIndex
from ._cancel_on_client import on_event_occurred, register_cancel_on
from ._failure import with_failure_hooks
from ._signal_hub import SignalHub
from ._step_activity import run_step_activity
from ._step_program import StepProgram

__all__: list[str] = []

set_workflow_program("workflow", StepProgram)
set_activity_program("workflow", with_failure_hooks(run_step_activity))
add_worker_component(WorkerComponent("durable_automation.workflows", workflows=(SignalHub,)))
# cancel_on: the per-key indexes, the activity a run registers with, the event routing.
add_worker_component(WorkerComponent("durable_automation.workflows.cancel_on",
                                     workflows=(CancelIndex,), activities=(register_cancel_on,)))
add_event_hook("occurred", on_event_occurred)
