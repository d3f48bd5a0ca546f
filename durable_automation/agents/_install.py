"""How agents plug into the core: imported once, by ``durable_automation.agents``.

- the router workflow runs agent instances with :class:`~._program.AgentProgram`;
- the router activity runs agent handlers with :func:`~._activity.run_agent_handler`;
- every worker runs the directory workflow (claims books, index buckets);
- the engine's event stages and claim filter reach agents (``_router.install``).

Decorators only register definitions; all runtime machinery is installed here.
"""

from __future__ import annotations

from .._core.hooks import (
    WorkerComponent,
    add_worker_component,
    set_activity_program,
    set_workflow_program,
)
from ._activity import run_agent_handler
from ._directory import Directory
from ._program import AgentProgram
from ._router import install as install_router

__all__: list[str] = []

set_workflow_program("agent", AgentProgram)
set_activity_program("agent", run_agent_handler)
add_worker_component(WorkerComponent("durable_automation.agents", workflows=(Directory,)))
install_router()
