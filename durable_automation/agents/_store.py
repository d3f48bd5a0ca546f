"""Client-side calls on directory workflows (claims books, index buckets, armed-timer lists).

Used from the engine's loop (routing, ``AgentManager``) and from handler activities
(``claims.hold`` inside a handler, index upkeep after a handler changed its Context).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from ._definitions import AgentDefinition, index_id
from ._directory import DIRECTORY_WORKFLOW

if TYPE_CHECKING:
    from .._client.engine import Engine

__all__ = ["agent_queue", "directory_put", "directory_query", "directory_signal", "sync_index"]

# NOT_FOUND: no such workflow. FAILED_PRECONDITION/INVALID_ARGUMENT: it completed
# between our start and our update (an idle directory ending); start it again.
_GONE = (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)


async def agent_queue(eng: Engine, agent: str | None) -> str:
    """The task queue the instances of the agent named ``agent`` run on, and with them
    the directories that route to them (index buckets, held events, armed timers, claims).

    The engine's, unless only this program can run the agent (a script's own agent):
    then the program's in-process worker's queue (the engine's ``_queue_for``); on the
    engine's queue nobody would serve them.
    """
    return await eng._on_loop(eng._queue_for, agent or "")


async def directory_put(
    client: Client,
    task_queue: str,
    workflow_id: str,
    keys: Iterable[str],
    holder: str,
    *,
    exclusive: bool = False,
    expires_at: datetime | None = None,
    summary: str = "",
) -> dict[str, Any]:
    """Start the directory if needed and put ``keys -> holder``; durable once it returns."""
    request = {"keys": list(keys), "holder": holder, "exclusive": exclusive,
               "expires_at": expires_at.isoformat() if expires_at else None}
    last: Exception | None = None
    for _ in range(5):
        await client.start_workflow(
            DIRECTORY_WORKFLOW, {}, id=workflow_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=summary or None,
        )
        try:
            result = await client.get_workflow_handle(workflow_id).execute_update(
                "put", request, result_type=dict
            )
            return result or {}
        except RPCError as err:
            if err.status not in _GONE:
                raise
            last = err
        except WorkflowUpdateFailedError as err:
            last = err  # the run ended under us; the next start begins a fresh one
    raise RuntimeError(f"Could not update {workflow_id}: {last}")


async def directory_query(client: Client, workflow_id: str, query: str, arg: Any = None) -> Any:
    """Run a query on a directory; ``None`` when it does not exist."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        if arg is None:
            return await handle.query(query)
        return await handle.query(query, arg)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    except WorkflowQueryFailedError:
        return None


async def directory_signal(client: Client, workflow_id: str, signal: str, arg: Any = None) -> bool:
    """Signal a directory; ``False`` when it does not exist (nothing to change then)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        if arg is None:
            await handle.signal(signal)
        else:
            await handle.signal(signal, arg)
        return True
    except RPCError as err:
        if err.status in _GONE:
            return False
        raise


async def sync_index(
    client: Client,
    task_queue: str,
    definition: AgentDefinition,
    agent: str,
    before: dict[str, set[str]],
    after: dict[str, set[str]],
) -> None:
    """Move an agent between index buckets after its indexed Context fields changed."""
    for field in definition.index_fields:
        old, new = before.get(field, set()), after.get(field, set())
        for value in sorted(new - old):
            await directory_put(
                client, task_queue, index_id(definition.name, field, value), [agent], agent,
                summary=f"Agents {definition.name} with {field}={value}",
            )
        for value in sorted(old - new):
            await directory_signal(client, index_id(definition.name, field, value), "remove",
                                   {"keys": [agent]})
