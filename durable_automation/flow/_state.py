"""Reading a limiter: who holds a slot, who waits, what a rate limit dropped."""

from __future__ import annotations

from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from .._core.flow import LIMITER_STATE_QUERY, LimiterState, flow_of, limiter_id
from .._core.registry import registry
from ..exceptions import UnknownAutomationError

__all__ = ["alimiter_state", "limiter_state"]


async def alimiter_state(automation: str, key: str = "all") -> LimiterState | None:
    """The state of ``automation``'s limiter for ``key`` (``None``: it has no work now).

    Args:
        automation: The automation's name (``<agent>.<handler>`` for an agent's handler).
        key: The rendered key (``"all"`` when the limit declares no key).
    """
    return await engine._on_loop(_query, automation, key)


def limiter_state(automation: str, key: str = "all") -> LimiterState | None:
    """Sync twin of :func:`alimiter_state`."""
    return engine._blocking(alimiter_state, automation, key, name="limiter_state")


async def _query(automation: str, key: str) -> LimiterState | None:
    if flow_of(automation) is None and automation not in registry.names():
        raise UnknownAutomationError(automation, registry.names())
    binding = engine._ensure()
    # The queue is part of the limiter's id: the one its runs start on (flow/_start.py),
    # for an agent's handler its agent's (agents/_flow.py).
    owner = automation.partition(".")[0]
    if automation in registry.names() or owner not in registry.agents:
        owner = automation
    task_queue = await engine._queue_for(owner)
    handle = binding.client.get_workflow_handle(limiter_id(task_queue, automation, key))
    try:
        state: Any = await handle.query(LIMITER_STATE_QUERY, result_type=LimiterState)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return state if isinstance(state, LimiterState) else None
