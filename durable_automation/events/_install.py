"""How event handlers plug into the core: imported once, by ``durable_automation.events``.

- the router workflow runs handler runs with :class:`~._handler_program.HandlerProgram`;
- the router activity runs handlers with :func:`~._handler_activity.run_handler_activity`;
- the engine puts a debounced handler's events into windows with
  :func:`~._debounce.acollect_event`;
- a script's own handlers run on its in-process worker (importing
  ``timers._local_worker`` installs the program queues).

Decorators only register definitions; all runtime machinery is installed here.
"""

from __future__ import annotations

from .._core.hooks import (
    WorkerComponent,
    add_worker_component,
    set_activity_program,
    set_debounce_collector,
    set_workflow_program,
)
from ..timers import _local_worker  # noqa: F401 - a script's handlers run on its own queue
from ..workflows._failure import with_failure_hooks
from ._batch import collector
from ._batch_workflow import BatchWorkflow
from ._debounce import acollect_event
from ._handler_activity import run_handler_activity
from ._handler_program import HandlerProgram

__all__: list[str] = []

set_workflow_program("handler", HandlerProgram)
set_activity_program("handler", with_failure_hooks(run_handler_activity))
set_debounce_collector(collector(acollect_event))  # batched handlers: events/_batch
add_worker_component(WorkerComponent("durable_automation.events.batch",
                                     workflows=(BatchWorkflow,)))
