"""``AgentRun``: a handle on one agent instance (a ``Run`` with agent queries)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from .._client.run import Run
from .._core.registry import registry
from ..exceptions import RunNotFoundError
from ._definitions import AGENT_ID_PREFIX
from ._wire import AGENT_STATE_QUERY, AgentState, AgentTimer, HandlerRecord

if TYPE_CHECKING:
    from .._client.engine import Engine

__all__ = ["AgentRun", "agent_name_of"]


def agent_name_of(workflow_id: str) -> str | None:
    """The agent name in ``agent:<name>:<key>``."""
    if not workflow_id.startswith(AGENT_ID_PREFIX):
        return None
    return workflow_id[len(AGENT_ID_PREFIX):].partition(":")[0]


class AgentRun(Run):
    """A handle on one agent instance. Sync methods have ``a``-prefixed async twins.

    Attributes:
        id: Its workflow id, ``agent:<name>:<key>``.
        agent: The agent's name.
        key: Its identity, e.g. ``id=42``.
    """

    def __init__(self, eng: Engine, run_id: str) -> None:
        name = agent_name_of(run_id) or ""
        super().__init__(eng, run_id, name)
        self.agent = name
        rest = run_id[len(AGENT_ID_PREFIX) + len(name) + 1:]
        self.key = rest

    def __repr__(self) -> str:
        return f"<AgentRun {self.id}>"

    async def aagent_state(self) -> AgentState:
        """Context, pending timers, claimed event names and recent handler records."""
        handle = await self._handle()
        try:
            return await handle.query(AGENT_STATE_QUERY, result_type=AgentState)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFoundError(self.id) from None
            raise

    def agent_state(self) -> AgentState:
        """Sync twin of :meth:`aagent_state`."""
        return self._engine._blocking(self.aagent_state, name="AgentRun.agent_state")

    async def acontext(self) -> BaseModel | dict[str, Any]:
        """The agent's current Context (its Context model when the agent is registered here)."""
        state = await self.aagent_state()
        definition = registry.agents.get(state.agent)
        return definition.context_cls.model_validate(state.context) if definition else state.context

    async def ahistory(self) -> list[HandlerRecord]:
        """Handler executions, oldest first, with their (virtual) times and outcomes."""
        return (await self.aagent_state()).history

    def history(self) -> list[HandlerRecord]:
        """Sync twin of :meth:`ahistory`."""
        return self._engine._blocking(self.ahistory, name="AgentRun.history")

    async def atimers(self) -> list[AgentTimer]:
        """Pending offset handlers, earliest first."""
        return (await self.aagent_state()).timers

    def timers(self) -> list[AgentTimer]:
        """Sync twin of :meth:`atimers`."""
        return self._engine._blocking(self.atimers, name="AgentRun.timers")
