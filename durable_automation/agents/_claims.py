"""Event claims: an agent takes matching events for itself until it releases them.

``claims.hold("message_received", match={"sender_id": 5})`` from a handler records
``sender_id=5 -> <this agent>`` in the claims book of ``message_received`` (one
directory workflow per event name). While the claim stands, a matching event goes
only to the claiming agent: ``@on_event`` handlers, event workflows, ``wait_for_event``
waiters and other agents' handlers skip it, unless declared ``ignores_claims=True``.

The book's ``put`` is an update that checks and sets in one step, so of two agents
racing for the same key exactly one wins; the other gets :class:`ClaimHeldError`.
Checking an event costs one or two queries on its event's book, whatever the number
of agents or claims: the book lists the claim *shapes* (which lookups claims use),
the router computes the event's key for each shape and asks for its holder.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from .._core.match import MissingValue, entity_value, key_string, parse_match
from .._core.runtime import call_async, call_sync
from ..exceptions import ClaimHeldError, DurableAutomationError
from ._run import agent_name_of
from ._store import agent_queue, directory_put, directory_query, directory_signal
from ._wire import AGENT_CLAIM_SIGNAL

T = TypeVar("T")

__all__ = [
    "AgentCall",
    "ahold",
    "arelease",
    "book_id",
    "current_agent",
    "hold",
    "release",
]


@dataclass
class AgentCall:
    """The agent handler running on this thread or task (set by the handler activity)."""

    agent_id: str
    agent: str
    client: Client
    loop: asyncio.AbstractEventLoop
    task_queue: str
    claimed: list[str] = field(default_factory=list)


current_agent: ContextVar[AgentCall | None] = ContextVar("durable_automation_agent", default=None)


def book_id(event_name: str) -> str:
    """Workflow id of the claims book of ``event_name``."""
    return f"claims:{event_name}"


def claim_keys(match: Mapping[str, Any] | None) -> list[str]:
    """Keys a claim covers: ``{"sender_id": 5, "status__in": ["a", "b"]}`` ->
    ``["sender_id=5&status=a", "sender_id=5&status=b"]``.

    Raises:
        DurableAutomationError: The match uses templates or lookups other than exact/in.
    """
    items, problems = parse_match(match or {})
    for item in items:
        if item.ctx_field is not None:
            problems.append(f"{item.expr}: claims take values, not templates (use ctx.field)")
        elif item.lookup not in ("exact", "in"):
            problems.append(f"{item.expr}: claims support exact and __in lookups only")
    if problems:
        raise DurableAutomationError("Invalid claim match: " + "; ".join(problems))
    ordered = sorted(items, key=lambda i: i.path)
    choices = [
        [v for v in (i.literal if isinstance(i.literal, (list, tuple, set)) else [i.literal])]
        if i.lookup == "in" else [i.literal]
        for i in ordered
    ]
    keys = []
    for combo in itertools.product(*choices):
        parts = [f"{quote('__'.join(i.path), safe='')}={quote(key_string(v), safe='')}"
                 for i, v in zip(ordered, combo, strict=True)]
        keys.append("&".join(parts) or "*")
    return keys


def _event_key(shape: tuple[str, ...], entity: Any) -> str | None:
    if shape == ("*",):
        return "*"
    parts = []
    for name in shape:
        try:
            value = entity_value(entity, name.split("__"))
        except MissingValue:
            return None
        parts.append(f"{quote(name, safe='')}={quote(key_string(value), safe='')}")
    return "&".join(parts)


def event_keys(shapes: list[list[str]], entity: Any) -> list[str]:
    return [k for k in (_event_key(tuple(s), entity) for s in shapes) if k is not None]


# ── holding and releasing ─────────────────────────────────────────────────────────────


def _target(holder: str | None, what: str) -> tuple[AgentCall | None, str]:
    call = current_agent.get()
    chosen = holder or (call.agent_id if call else None)
    if not chosen:
        raise DurableAutomationError(
            f"claims.{what}() was called outside an agent handler; call it from a @handler "
            "method, or pass holder=<agent run id>"
        )
    return call, chosen


async def _hold(client: Client, task_queue: str, event_name: str, keys: list[str], holder: str,
                call: AgentCall | None) -> None:
    # Tell the agent first, so that completing it releases this claim even if the
    # handler fails after holding it.
    try:
        await client.get_workflow_handle(holder).signal(AGENT_CLAIM_SIGNAL, event_name)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    result = await directory_put(client, task_queue, book_id(event_name), keys, holder,
                                 exclusive=True, summary=f"Claims on {event_name} events")
    if result.get("conflict"):
        raise ClaimHeldError(event_name, str(result["conflict"]), str(result.get("holder")))
    if call is not None and event_name not in call.claimed:
        call.claimed.append(event_name)


async def _release(client: Client, event_name: str, keys: list[str] | None, holder: str) -> bool:
    if keys is None:
        return await directory_signal(client, book_id(event_name), "release_holder", holder)
    return await directory_signal(client, book_id(event_name), "remove",
                                  {"keys": keys, "holder": holder})


async def ahold(event_name: str, match: Mapping[str, Any] | None = None, *,
                holder: str | None = None) -> None:
    """Claim ``event_name`` events matching ``match`` for the running agent.

    Args:
        event_name: The event to claim.
        match: Entity lookups to values (``{"sender_id": 5}``, ``{"status__in": [...]}``);
            empty claims every event of that name.
        holder: The claiming agent's run id (default: the agent whose handler is running).

    Raises:
        ClaimHeldError: Another agent holds a claim on some of these events; nothing
            was claimed.
    """
    call, chosen = _target(holder, "hold")
    keys = claim_keys(match)
    if call is not None:
        await call_async(call.loop, _hold, call.client, call.task_queue, event_name, keys,
                         chosen, call)
        return
    from .._client.engine import engine

    # The book runs where the holder runs (a script's own agent: on the script's worker).
    task_queue = await agent_queue(engine, agent_name_of(chosen))
    await engine._on_loop(_hold, engine._ensure().client, task_queue, event_name, keys, chosen,
                          None)


def hold(event_name: str, match: Mapping[str, Any] | None = None, *,
         holder: str | None = None) -> None:
    """Sync twin of :func:`ahold`."""
    call = current_agent.get()
    if call is not None:
        call_sync(call.loop, ahold, event_name, match, holder=holder,
                  sync_name="claims.hold", async_name="claims.ahold")
        return
    from .._client.engine import engine

    engine._blocking(ahold, event_name, match, name="claims.hold", kwargs={"holder": holder})


async def arelease(event_name: str, match: Mapping[str, Any] | None = None, *,
                   holder: str | None = None) -> bool:
    """Release the running agent's claim on ``event_name`` events matching ``match``.

    ``match=None`` releases every claim the agent holds on ``event_name``. Returns
    whether a claims book for the event existed.
    """
    call, chosen = _target(holder, "release")
    keys = None if match is None else claim_keys(match)
    if call is not None:
        return await call_async(call.loop, _release, call.client, event_name, keys, chosen)
    from .._client.engine import engine

    binding = engine._ensure()
    return await engine._on_loop(_release, binding.client, event_name, keys, chosen)


def release(event_name: str, match: Mapping[str, Any] | None = None, *,
            holder: str | None = None) -> bool:
    """Sync twin of :func:`arelease`."""
    call = current_agent.get()
    if call is not None:
        return call_sync(call.loop, arelease, event_name, match, holder=holder,
                         sync_name="claims.release", async_name="claims.arelease")
    from .._client.engine import engine

    return engine._blocking(arelease, event_name, match, name="claims.release",
                        kwargs={"holder": holder})


async def aholder(event_name: str, match: Mapping[str, Any] | None = None) -> str | None:
    """Who holds the claim on exactly this match (``None`` if nobody)."""
    from .._client.engine import engine

    keys = claim_keys(match)
    binding = engine._ensure()
    found = await engine._on_loop(directory_query, binding.client, book_id(event_name), "get",
                                  keys)
    return next((found[k] for k in keys if found and k in found), None)


def holder_of(event_name: str, match: Mapping[str, Any] | None = None) -> str | None:
    """Sync twin of :func:`aholder`."""
    from .._client.engine import engine

    return engine._blocking(aholder, event_name, match, name="claims.holder_of")
