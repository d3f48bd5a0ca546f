"""Routing events to agents: the engine's event hooks and the spawn path.

For an event, each agent definition interested in its name is asked, per handler,
where the event goes (see ``_agent_definitions`` for routes):

* ``direct`` routes compute the agent's workflow id from the entity and signal it:
  one RPC, whatever the number of live agents;
* ``index`` routes read one index bucket (the agents whose Context field holds the
  entity's value) and signal each member; the agent re-checks the whole match.

An event that is an agent's ``spawn_on`` is delivered with signal-with-start: the
agent is created if its id is free, else the event reaches the running instance
(``singleton``). Signal-with-start and signals are durable once the call returns,
so an event routed after a spawn returned always reaches the agent.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from .._core.events import to_event_wire
from .._core.hooks import add_event_hook, set_claim_filter
from .._core.match import MissingValue, compare, entity_value, key_string, norm
from .._core.registry import registry
from .._core.settings import get_settings
from .._core.wire import EventWire
from ._claim_lookup import claimant, entity_of, off_loop
from ._definitions import (
    AgentDefinition,
    AgentHandlerDefinition,
    Route,
    agent_id,
    index_id,
    interested_agents,
    offset_handlers,
)
from ._held import collect_held, deliver, held_id
from ._run import AgentRun, agent_name_of
from ._store import agent_queue, directory_put, directory_query, directory_signal
from ._wire import AGENT_DELIVERY_SIGNAL, AgentStart, HandlerCall, Predicate, RoutedEvent

if TYPE_CHECKING:
    from .._client.engine import Engine
    from .._client.run import Run

__all__ = ["agent_name_of", "armed_id", "held_id", "install", "spawn"]

_installed = False
log = logging.getLogger("durable_automation.agents")


def install() -> None:
    """Hook agents into the engine's event stages and claims (idempotent).

    Called once, when the ``agents`` package is imported; the hooks do nothing while
    no agent is registered.
    """
    global _installed
    if _installed:
        return
    add_event_hook("occurred", _on_occurred)
    add_event_hook("scheduled", _on_scheduled)
    add_event_hook("rescheduled", _on_rescheduled)
    add_event_hook("cancelled", _on_cancelled)
    set_claim_filter(_claim_filter)
    _installed = True


def armed_id(wire: EventWire) -> str:
    """Directory listing the agents holding offset timers for this scheduled event."""
    return f"agent-event:{wire.name}:{wire.id}"


# ── where an event goes ──────────────────────────────────────────────────────────────


def _entity_values(route: Route, entity: Any) -> dict[str, Any] | None:
    try:
        return {item.expr: entity_value(entity, item.path) for item in route.items}
    except MissingValue:
        return None


async def _targets(
    eng: Engine, definition: AgentDefinition, route: Route, entity: Any
) -> list[tuple[str, list[Predicate]]]:
    """Agent ids the event goes to under ``route``, each with the predicates to check."""
    # Following a path may load related rows (guest__id): user-side I/O, off the loop.
    values = await off_loop(_entity_values, route, entity)
    if values is None:
        return []  # the entity has no such field: the event is not for these agents
    for item in route.items:
        if item.ctx_field is None and not compare(item.lookup, values[item.expr], item.literal):
            return []
    predicates = [
        Predicate(expr=i.expr, ctx_field=i.ctx_field, lookup=i.lookup, value=norm(values[i.expr]))
        for i in route.predicates if i.ctx_field is not None
    ]
    if route.kind == "direct":
        key = "&".join(
            f"{k.expr}={key_string(values[item.expr])}"
            for k, item in zip(definition.key_items, route.key_items, strict=True)
        ) or "-"
        return [(agent_id(definition.name, key), predicates)]
    assert route.index_item is not None and route.index_item.ctx_field is not None
    value = values[route.index_item.expr]
    members: list[str] = []
    for v in value if isinstance(value, list) else [value]:
        bucket = index_id(definition.name, route.index_item.ctx_field, key_string(v))
        found = await eng._on_loop(directory_query, await eng._aclient(), bucket, "entries")
        members += sorted(found or {})
    return [(m, predicates) for m in dict.fromkeys(members)]


async def _route(
    eng: Engine,
    definition: AgentDefinition,
    handlers: Iterable[AgentHandlerDefinition],
    entity: Any,
    claimed_by: str | None = None,
) -> dict[str, list[HandlerCall]]:
    calls: dict[str, list[HandlerCall]] = {}
    for spec in handlers:
        if claimed_by is not None and not spec.ignores_claims:
            # A claimed event goes to its claimant only; the claim is its match.
            if agent_name_of(claimed_by) == definition.name:
                calls.setdefault(claimed_by, []).append(HandlerCall(handler=spec.name))
            continue
        for target, predicates in await _targets(eng, definition, spec.route, entity):
            calls.setdefault(target, []).append(
                HandlerCall(handler=spec.name, predicates=predicates))
    return calls


# ── spawning ─────────────────────────────────────────────────────────────────────────


def _search_attributes(definition: AgentDefinition, key: str) -> TypedSearchAttributes | None:
    if not get_settings().search_attributes:
        return None
    return TypedSearchAttributes([
        SearchAttributePair(SearchAttributeKey.for_keyword("DaAutomation"), definition.name),
        SearchAttributePair(SearchAttributeKey.for_keyword("DaKind"), "agent"),
        SearchAttributePair(SearchAttributeKey.for_keyword("DaEntity"), key),
    ])


def spawn_target(
    definition: AgentDefinition, event: Any, wire: EventWire
) -> tuple[str, str, dict[str, Any]]:
    """``(agent id, key, Context)`` of the agent ``event`` spawns (runs ``create_context``)."""
    context = definition.create_context(event).model_dump(mode="json")
    key = definition.key_for(context)
    return agent_id(definition.name, key, None if definition.singleton else wire.id), key, context


async def spawn(
    eng: Engine,
    definition: AgentDefinition,
    event: Any,
    wire: EventWire,
    calls: list[HandlerCall],
    planned: tuple[str, str, dict[str, Any]] | None = None,
) -> str:
    """Create the agent for ``event`` (or reach the running one); return its id."""
    target, key, context = planned or spawn_target(definition, event, wire)
    client, task_queue = eng._ensure().client, await agent_queue(eng, definition.name)
    # Index entries first: once spawn returns, index-routed events find the agent.
    for field, values in definition.index_values(context).items():
        for value in sorted(values):
            await eng._on_loop(
                directory_put, client, task_queue, index_id(definition.name, field, value),
                [target], target, summary=f"Agents {definition.name} with {field}={value}",
            )
    delivery = RoutedEvent(kind="spawn", event=wire, calls=calls)
    await eng._on_loop(
        client.start_workflow, definition.name,
        AgentStart(agent=definition.name, key=key, context=context),
        id=target, task_queue=task_queue,
        start_signal=AGENT_DELIVERY_SIGNAL, start_signal_args=[delivery.model_dump(mode="json")],
        static_summary=f"Agent {definition.name} for {key}",
        search_attributes=_search_attributes(definition, key),
    )
    eng._track(target)
    await collect_held(eng, target)
    return target


# ── event hooks ──────────────────────────────────────────────────────────────────────


async def _claim_filter(eng: Engine, wire: EventWire, event: Any) -> str | None:
    """The engine's claim filter: who holds a claim on this occurred event."""
    if not registry.agents:
        return None  # claims are held by agents: none here, nothing to ask the book
    return await claimant(eng, wire, event=event)


async def _on_occurred(eng: Engine, wire: EventWire, event: Any, claimed_by: str | None
                       ) -> list[Run]:
    # claimed_by: the claim filter's answer for this event, passed on by the engine.
    agents = interested_agents(wire.name)
    if not agents:
        return []
    entity = await off_loop(entity_of, wire, event)
    deliveries: list[tuple[str, RoutedEvent]] = []
    spawned: list[str] = []
    for definition in agents:
        calls = await _route(eng, definition, definition.by_event.get(wire.name, ()), entity,
                             claimed_by)
        if definition.spawn_on == wire.name:
            # create_context is user code (it may use the ORM): off the loop thread.
            planned = await off_loop(spawn_target, definition, event, wire)
            # A claimed event spawns only the claimant, or agents that ignore claims for it.
            ignoring = any(h.ignores_claims for h in definition.by_event.get(wire.name, ()))
            if claimed_by is None or claimed_by == planned[0] or ignoring:
                spawned.append(await spawn(eng, definition, event, wire,
                                           calls.pop(planned[0], []), planned))
        deliveries += [(t, RoutedEvent(kind="occurred", event=wire, calls=c))
                       for t, c in calls.items() if c]
    reached = await asyncio.gather(*(deliver(eng, t, d) for t, d in deliveries))
    ids = spawned + [t for (t, _), ok in zip(deliveries, reached, strict=True) if ok]
    return [AgentRun(eng, i) for i in dict.fromkeys(ids)]


async def _timer_stage(eng: Engine, wire: EventWire, event: Any, kind: str) -> list[Run]:
    if not any(offset_handlers(d, wire.name) for d in interested_agents(wire.name)):
        return []  # no agent has a timed handler for this event: nothing to arm or move
    entity = await off_loop(entity_of, wire, event)
    client = await eng._aclient()
    armed: list[str] = []
    if kind != "scheduled":
        found = await eng._on_loop(directory_query, client, armed_id(wire), "entries")
        armed = sorted(found or {})
    reached: list[str] = []
    for definition in interested_agents(wire.name):
        handlers = offset_handlers(definition, wire.name)
        if not handlers:
            continue
        calls = await _route(eng, definition, handlers, entity)
        for target in armed:
            if agent_name_of(target) == definition.name and target not in calls:
                calls[target] = [HandlerCall(handler=h.name) for h in handlers]
        for target, handler_calls in calls.items():
            delivery = RoutedEvent(kind=kind, event=wire, calls=handler_calls)  # type: ignore[arg-type]
            if await deliver(eng, target, delivery):
                reached.append(target)
    if kind == "scheduled" and reached:
        # Remember who armed timers, so that a cancellation reaches them even when the
        # entity can no longer be loaded (a deleted row). Forgotten a day after the
        # latest handler is due.
        latest = max((h.offset for d in interested_agents(wire.name)
                      for h in offset_handlers(d, wire.name) if h.offset is not None),
                     default=timedelta(0))
        expires = (wire.at or await eng.anow()) + max(latest, timedelta(0)) + timedelta(days=1)
        for target in reached:
            await eng._on_loop(directory_put, client,
                               await agent_queue(eng, agent_name_of(target)), armed_id(wire),
                               [target], target, expires_at=expires,
                               summary=f"Agents with timers for {wire.name} {wire.id}")
    if kind == "cancelled":
        await eng._on_loop(directory_signal, client, armed_id(wire), "clear")
    return [AgentRun(eng, t) for t in dict.fromkeys(reached)]


async def _on_scheduled(eng: Engine, wire: EventWire, event: Any, _claimed_by: str | None
                       ) -> list[Run]:
    return await _timer_stage(eng, wire, event, "scheduled")


async def _on_rescheduled(eng: Engine, wire: EventWire, event: Any, _claimed_by: str | None
                       ) -> list[Run]:
    return await _timer_stage(eng, wire, event, "rescheduled")


async def _on_cancelled(eng: Engine, wire: EventWire, event: Any, _claimed_by: str | None
                       ) -> list[Run]:
    return await _timer_stage(eng, wire, event, "cancelled")


async def spawn_manually(eng: Engine, definition: AgentDefinition, event: Any) -> str:
    """``AgentManager.spawn``: create (or reach) the agent for ``event``, or for no event."""
    if event is None:
        wire = EventWire(id=uuid.uuid4().hex, name=f"spawn:{definition.name}",
                         at=await eng.anow())
    else:
        wire = to_event_wire(event)
    calls = [HandlerCall(handler=h.name) for h in definition.by_event.get(wire.name, ())
             if h.offset is None]
    planned = await off_loop(spawn_target, definition, event, wire)
    return await spawn(eng, definition, event, wire, calls, planned)
