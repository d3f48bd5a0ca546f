"""Signalling an agent, and holding events for agents that do not exist yet.

An event routed to a definite agent id (a direct route) that finds no such agent is
held in a directory of its own (``agent-held:<agent id>``, event id -> the latest
routed event), and handed to the agent when it spawns. Holding, rather than letting a
spawning agent look for its events, because only the router can say which agent an
event is for (it evaluates the match against the entity); an agent could not find
"its" scheduled events without re-running every route backwards. Bounded: an event
is held until it can no longer matter (an immediate one for HOLD_OCCURRED, a
scheduled one until a day after its latest offset handler), and at most HOLD_LIMIT
events per agent id; beyond that the event is dropped with a warning.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio.service import RPCError, RPCStatusCode

from .._core.wire import EventWire
from ._definitions import interested_agents, offset_handlers
from ._run import agent_name_of
from ._store import agent_queue, directory_put, directory_query, directory_signal
from ._wire import AGENT_DELIVERY_SIGNAL, RoutedEvent

if TYPE_CHECKING:
    from .._client.engine import Engine

__all__ = ["HOLD_LIMIT", "HOLD_OCCURRED", "collect_held", "deliver", "held_id", "signal_agent"]

log = logging.getLogger("durable_automation.agents")


async def signal_agent(eng: Engine, target: str, delivery: RoutedEvent) -> bool:
    client = await eng._aclient()
    try:
        await eng._on_loop(client.get_workflow_handle(target).signal, AGENT_DELIVERY_SIGNAL,
                           delivery.model_dump(mode="json"))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    eng._track(target)
    return True


async def deliver(eng: Engine, target: str, delivery: RoutedEvent) -> bool:
    """Signal an agent; when it does not exist (yet), hold the event for it.

    Returns:
        Whether the agent was reached now (``False``: the event is held, see
        :func:`_hold`).
    """
    if await signal_agent(eng, target, delivery):
        return True
    await _hold(eng, target, delivery)
    return False


HOLD_OCCURRED = timedelta(hours=1)
HOLD_LIMIT = 500


def held_id(target: str) -> str:
    """Directory of the events held for the agent ``target`` until it spawns."""
    return f"agent-held:{target}"


def _hold_until(wire: EventWire, kind: str, now: datetime) -> datetime:
    if wire.at is None or (kind == "occurred" and not wire.scheduled):
        base = now + HOLD_OCCURRED
    else:
        latest = max((h.offset for d in interested_agents(wire.name)
                      for h in offset_handlers(d, wire.name) if h.offset is not None),
                     default=timedelta(0))
        base = max(now + HOLD_OCCURRED, wire.at + max(latest, timedelta(0)) + timedelta(days=1))
    return base


async def _hold(eng: Engine, target: str, delivery: RoutedEvent) -> None:
    client = await eng._aclient()
    directory = held_id(target)
    now = await eng.anow()
    found: dict[str, str] = await eng._on_loop(directory_query, client, directory, "entries") or {}
    key = delivery.event.id
    if key not in found and len(found) >= HOLD_LIMIT:
        log.warning("Agent %s does not exist and already has %d events held for it; dropping "
                    "%s %s", target, len(found), delivery.kind, delivery.event.name)
        return
    until = _hold_until(delivery.event, delivery.kind, now)
    expires = max([until, *(_held_expiry(v) for v in found.values())])
    value = json.dumps({"until": until.isoformat(), "delivery": delivery.model_dump(mode="json")})
    await eng._on_loop(directory_put, client, await agent_queue(eng, agent_name_of(target)),
                       directory, [key], value, expires_at=expires,
                       summary=f"Events held for agent {target}")
    # The agent may have spawned meanwhile, and collected the held events before this
    # one was put: deliver again; the agent ignores a delivery it already has.
    if await signal_agent(eng, target, delivery):
        await eng._on_loop(directory_signal, client, directory, "remove", {"keys": [key]})


def _held_expiry(raw: str) -> datetime:
    try:
        return datetime.fromisoformat(json.loads(raw)["until"])
    except (ValueError, KeyError, TypeError):
        return datetime.min.replace(tzinfo=UTC)


async def collect_held(eng: Engine, target: str) -> None:
    """Hand the events held for ``target`` to it (it was just spawned)."""
    client = await eng._aclient()
    directory = held_id(target)
    found: dict[str, str] | None = await eng._on_loop(directory_query, client, directory,
                                                       "entries")
    if not found:
        return
    now = await eng.anow()
    held: list[tuple[datetime, RoutedEvent]] = []
    for raw in found.values():
        try:
            item = json.loads(raw)
            held.append((datetime.fromisoformat(item["until"]),
                         RoutedEvent.model_validate(item["delivery"])))
        except (ValueError, KeyError, TypeError):
            continue
    # In event time order, so that a scheduled event arms before a later one.
    for until, delivery in sorted(held, key=lambda h: h[1].event.at or h[0]):
        if until >= now:
            await signal_agent(eng, target, delivery)
    await eng._on_loop(directory_signal, client, directory, "remove", {"keys": list(found)})
