"""``AgentManager`` and ``AgentRun``: spawning, listing and completing agents from code."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from .._client.run import Run
from .._core.registry import registry
from ..exceptions import RunNotFoundError, UnknownAutomationError
from ._definitions import AGENT_ID_PREFIX, AgentDefinition, agent_id
from ._router import spawn_manually
from ._run import AgentRun, agent_name_of
from ._wire import AGENT_COMPLETE_UPDATE

__all__ = ["AgentManager", "AgentRun"]


def _definition(name: str) -> AgentDefinition:
    try:
        return registry.agents[name]
    except KeyError:
        raise UnknownAutomationError(name, list(registry.agents)) from None


class AgentManager:
    """Spawn, list and complete agents. Every method has an ``a``-prefixed async twin."""

    @staticmethod
    async def aspawn(name: str, event: Any = None) -> AgentRun:
        """Create the agent ``name`` for ``event`` (via ``create_context(event)``).

        With ``singleton=True`` and an instance already running for the same key, the
        event reaches that instance instead. Handlers of ``event``'s name run.

        Raises:
            UnknownAutomationError: No agent of that name is registered here.
        """
        definition = _definition(name)
        run_id = await spawn_manually(engine, definition, event)
        return AgentRun(engine, run_id)

    @staticmethod
    def spawn(name: str, event: Any = None) -> AgentRun:
        """Sync twin of :meth:`aspawn`."""
        return engine._blocking(AgentManager.aspawn, name, event, name="AgentManager.spawn")

    @staticmethod
    def get(name: str, key: str) -> AgentRun:
        """A handle on the instance of ``name`` with identity ``key`` (``"id=42"``).

        No server call is made."""
        return AgentRun(engine, agent_id(name, key))

    @staticmethod
    async def alist_active(name: str) -> list[AgentRun]:
        """Running instances of agent ``name``.

        Uses Temporal visibility (``WorkflowType = name AND ExecutionStatus = 'Running'``,
        the same filter works in the UI). A server without visibility (the time-skipping
        test server) lists the instances this process routed events to instead.
        """
        _definition(name)
        client = await engine._aclient()

        async def listed() -> list[AgentRun]:
            query = f"WorkflowType = '{name}' AND ExecutionStatus = 'Running'"
            return [AgentRun(engine, w.id) async for w in client.list_workflows(query)
                    if w.id.startswith(f"{AGENT_ID_PREFIX}{name}:")]

        try:
            return await engine._on_loop(listed)
        except RPCError as err:
            if err.status not in (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.INVALID_ARGUMENT):
                raise
        return await engine._on_loop(AgentManager._tracked_running, name)

    @staticmethod
    async def _tracked_running(name: str) -> list[AgentRun]:
        binding = engine._ensure()
        client = binding.client
        found = []
        for run_id in sorted(binding.tracked or ()):
            if agent_name_of(run_id) != name:
                continue
            try:
                description = await client.get_workflow_handle(run_id).describe()
            except RPCError:
                continue
            if description.status == WorkflowExecutionStatus.RUNNING:
                found.append(AgentRun(engine, run_id))
        return found

    @staticmethod
    def list_active(name: str) -> list[AgentRun]:
        """Sync twin of :meth:`alist_active`."""
        return engine._blocking(AgentManager.alist_active, name, name="AgentManager.list_active")

    @staticmethod
    async def acomplete(run: Run | str) -> list[str]:
        """End an agent: pending timers are dropped, every claim it holds is released.

        Returns once the claims are released; returns the event names it had claimed.

        Raises:
            RunNotFoundError: No such agent is running.
        """
        run_id = run if isinstance(run, str) else run.id
        client = await engine._aclient()

        async def complete() -> list[str]:
            handle = client.get_workflow_handle(run_id)
            try:
                result = await handle.execute_update(AGENT_COMPLETE_UPDATE, None, result_type=dict)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise RunNotFoundError(run_id) from None
                raise
            except WorkflowUpdateFailedError as err:
                raise RunNotFoundError(run_id) from err
            await handle.result()
            return list((result or {}).get("released", []))

        return await engine._on_loop(complete)

    @staticmethod
    def complete(run: Run | str) -> list[str]:
        """Sync twin of :meth:`acomplete`."""
        return engine._blocking(AgentManager.acomplete, run, name="AgentManager.complete")
