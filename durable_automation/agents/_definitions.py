"""``@agent`` and ``@handler``: long-running agents, and the frozen definitions they build.

Two phases, like the step workflows: ``@handler`` only marks a method; ``@agent``
walks the class, collects every problem into one :class:`DefinitionError`, works out
how each handler's events find their agent (the *route*), and registers the result.

Routes (decided here, once, so that routing an event costs the same however many
agents are alive):

* ``direct``: the match pins every key field of the agent (the ``exact`` items of the
  agent's own match), so the agent's workflow id is computed from the entity;
* ``index``: otherwise an ``exact``/``in`` item names a Context field whose values
  the agents register in small per-value index workflows; the event's value names
  the one bucket to read. Every match item is then re-checked by the agent itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from .._core.flow import FlowControl, check_flow_arguments, register_flow
from .._core.match import MatchItem, ctx_value, key_string, parse_match
from .._core.registry import registry
from .._core.retry import Retry
from ..exceptions import DefinitionError
from ._failure import check_hook

__all__ = [
    "AgentDefinition",
    "AgentHandlerDefinition",
    "Route",
    "agent",
    "agent_id",
    "handler",
    "index_id",
]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

_HANDLER_MARK = "__durable_automation_agent_handler__"
AGENT_ID_PREFIX = "agent:"


@dataclass(frozen=True)
class Route:
    """How events for one handler (or for spawning) find their agents.

    Attributes:
        kind: ``direct`` (id computed from the entity) or ``index`` (read a bucket).
        key_items: For ``direct``: the match item giving each key field's value, in key order.
        index_item: For ``index``: the item whose entity value names the bucket.
        predicates: Items the agent checks against its Context on delivery.
        items: Every item of the match (for entity values).
    """

    kind: Literal["direct", "index"]
    items: tuple[MatchItem, ...]
    key_items: tuple[MatchItem, ...] = ()
    index_item: MatchItem | None = None
    predicates: tuple[MatchItem, ...] = ()


@dataclass(frozen=True)
class AgentHandlerDefinition:
    """One ``@handler`` method of an agent.

    Attributes:
        name: Method name (activity type ``<agent>.<name>``).
        event_name: The event it handles.
        offset: Run at event time + offset (a durable timer in the agent); ``None`` =
            run when the event occurs.
        condition: ``condition(event, ctx) -> bool``, checked when the handler is due.
        retry: Retry policy (default: a raising handler is recorded as failed at once).
        ignores_claims: Run even when another agent has claimed the event.
        takes_event: Whether the method accepts the event after the Context.
        route: How its events find agents.
        on_failure: Hook run once when a call fails for good (``agents/_failure.py``).
    """

    name: str
    event_name: str
    offset: timedelta | None
    match: tuple[MatchItem, ...] | None
    condition: Callable[[Any, Any], Any] | None
    retry: Retry | None
    ignores_claims: bool
    timeout: timedelta | None
    takes_event: bool
    route: Route
    on_failure: str | Callable[..., Any] | None = None


@dataclass(frozen=True)
class AgentDefinition:
    """A registered agent.

    Attributes:
        name: Agent name = Temporal workflow type of its instances.
        cls: The decorated class.
        context_cls: Its nested pydantic ``Context``.
        spawn_on: Event that creates an instance (``None`` = only ``AgentManager.spawn``).
        match: Items of the agent's own match.
        key_items: The ``exact`` template items: they make an instance's identity.
        singleton: One instance per key (a second spawn reaches the existing one).
        handlers: Handlers by method name.
        spawn_route: How spawn events that reach an existing instance are routed.
        index_fields: Context fields the instances register in index buckets.
    """

    name: str
    cls: type
    context_cls: type[BaseModel]
    spawn_on: str | None
    match: tuple[MatchItem, ...]
    key_items: tuple[MatchItem, ...]
    singleton: bool
    handlers: dict[str, AgentHandlerDefinition]
    spawn_route: Route
    index_fields: tuple[str, ...] = ()
    by_event: dict[str, tuple[AgentHandlerDefinition, ...]] = field(default_factory=dict)

    @property
    def qualname(self) -> str:
        """``module.Class`` of the decorated class."""
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    @property
    def events(self) -> set[str]:
        """Every event name this agent reacts to."""
        names = set(self.by_event)
        if self.spawn_on:
            names.add(self.spawn_on)
        return names

    def create_context(self, event: Any) -> BaseModel:
        """Call the class's ``create_context(event)`` and check it returned a Context."""
        ctx = self.cls.create_context(event)  # type: ignore[attr-defined]
        if not isinstance(ctx, self.context_cls):
            raise TypeError(
                f"{self.cls.__qualname__}.create_context returned {type(ctx).__name__}, "
                f"expected {self.cls.__qualname__}.Context"
            )
        return ctx

    def key_for(self, context: Mapping[str, Any]) -> str:
        """The identity key of an instance with this (JSON) Context: ``id=42``."""
        parts = [
            f"{item.expr}={key_string(ctx_value(context, item.ctx_field or ''))}"
            for item in self.key_items
        ]
        return "&".join(parts) or "-"

    def index_values(self, context: Mapping[str, Any]) -> dict[str, set[str]]:
        """Index buckets an instance belongs to: ``{ctx_field: {value, ...}}``."""
        buckets: dict[str, set[str]] = {}
        for name in self.index_fields:
            try:
                value = ctx_value(context, name)
            except Exception:  # noqa: BLE001 - a missing field indexes nothing
                continue
            values = value if isinstance(value, list) else [value]
            buckets[name] = {key_string(v) for v in values}
        return buckets


def agent_id(name: str, key: str, discriminator: str | None = None) -> str:
    """Workflow id of an agent instance: ``agent:<name>:<key>`` (plus ``:<event id>`` when
    not a singleton)."""
    base = f"{AGENT_ID_PREFIX}{name}:{key}"
    return f"{base}:{discriminator}" if discriminator else base


def index_id(name: str, ctx_field: str, value: str) -> str:
    """Workflow id of the index bucket of agents whose ``ctx_field`` holds ``value``."""
    return f"agent-index:{name}:{ctx_field}={value}"


# ── @handler ─────────────────────────────────────────────────────────────────────────


def handler(
    event_name: str,
    offset: timedelta | None = None,
    match: Mapping[str, Any] | None = None,
    condition: Callable[[Any, Any], Any] | None = None,
    retry: Retry | None = None,
    ignores_claims: bool = False,
    *,
    timeout: timedelta | None = None,
    on_failure: str | Callable[..., Any] | None = None,
    **flow: Any,
) -> Callable[[F], F]:
    """Mark a method of an ``@agent`` class as the handler of ``event_name``.

    Args:
        event_name: The event it handles.
        offset: For a scheduled event: run at event time + offset (negative = before),
            as a durable timer inside the agent. ``None`` runs when the event occurs.
        match: How the event's entity finds the agent (default: the agent's ``match``).
        condition: ``condition(event, ctx)``; the handler is skipped when it is false
            at the moment the handler is due.
        retry: Retry policy when the handler raises.
        ignores_claims: Run even when another agent has claimed the event.
        timeout: Longest one attempt may run (default: the ``STEP_TIMEOUT`` setting).
        on_failure: A function ``(ctx, event, error)`` or the name of a method, run once
            when a call fails for good; the agent lives on (docs/failure-hooks.md).
        **flow: ``concurrency=``, ``throttle=``, ``rate_limit=`` (per key, across every
            instance of the agent), ``priority=``, ``fairness_key=``: for each call of
            this handler; templates read ``ctx`` and ``event`` (docs/flow-control.md).
    """

    def mark(fn: F) -> F:
        setattr(fn, _HANDLER_MARK, {
            "event_name": event_name, "offset": offset, "match": match,
            "condition": condition, "retry": retry, "ignores_claims": ignores_claims,
            "timeout": timeout, "flow": flow, "on_failure": on_failure,
        })
        return fn

    return mark


# ── @agent ───────────────────────────────────────────────────────────────────────────


def agent(
    name: str,
    spawn_on: str | None = None,
    match: Mapping[str, Any] | None = None,
    singleton: bool = True,
) -> Callable[[C], C]:
    """Register a class as a long-running agent.

    Args:
        name: Agent name (its instances' Temporal workflow type).
        spawn_on: Event that creates an instance (through ``create_context(event)``).
        match: How events find an instance: entity lookups to ``{{ ctx.field }}``
            templates; the ``exact`` ones make up the instance's identity.
        singleton: One instance per identity; a further spawn event reaches it.
    """
    return lambda cls: _register_agent(cls, name, spawn_on, match, singleton)


def _register_agent(
    cls: C, name: str, spawn_on: str | None, match: Mapping[str, Any] | None, singleton: bool
) -> C:
    label = cls.__qualname__
    problems: list[str] = []
    if not isinstance(name, str) or not name.strip() or ":" in name:
        problems.append(f"the agent name must be a non-empty string without ':', got {name!r}")
    if spawn_on is not None and (not isinstance(spawn_on, str) or not spawn_on):
        problems.append(f"spawn_on must be an event name, got {spawn_on!r}")
    context_cls = getattr(cls, "Context", None)
    fields: set[str] = set()
    if not (isinstance(context_cls, type) and issubclass(context_cls, BaseModel)):
        problems.append(f"{label} needs a nested Context class (a pydantic BaseModel)")
    else:
        fields = set(context_cls.model_fields)
    create = inspect.getattr_static(cls, "create_context", None)
    if create is not None and not isinstance(create, classmethod | staticmethod):
        problems.append(f"{label}.create_context must be a classmethod taking the event")

    agent_items, found = parse_match(match)
    problems += [f"{label} match: {p}" for p in found]
    problems += _check_fields(f"{label} match", agent_items, fields)
    key_items = tuple(i for i in agent_items if i.ctx_field and i.lookup == "exact")

    handlers: dict[str, AgentHandlerDefinition] = {}
    flows: dict[str, FlowControl | None] = {}
    for attr, member in vars(cls).items():
        mark = getattr(member, _HANDLER_MARK, None)
        if mark is None:
            continue
        where = f"{label}.{attr}"
        flows[attr], found = check_flow_arguments(mark.get("flow", {}), ("ctx", "event"))
        problems += [f"{where}: {p}" for p in found]
        items, found = parse_match(mark["match"])
        problems += [f"{where} match: {p}" for p in found]
        problems += _check_fields(f"{where} match", items, fields)
        problems += _check_handler(where, mark)
        route, why = _plan(agent_items, key_items, items if mark["match"] is not None else None,
                           singleton)
        if why and not found:  # a match that did not parse has already been reported
            problems.append(f"{where}: {why}")
        found = check_hook(mark.get("on_failure"), cls, _HANDLER_MARK)
        problems += [f"{where}: {p}" for p in found]
        params = [p for p in inspect.signature(member).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        handlers[attr] = AgentHandlerDefinition(
            name=attr, event_name=mark["event_name"], offset=mark["offset"] or None,
            match=items if mark["match"] is not None else None, condition=mark["condition"],
            retry=mark["retry"], ignores_claims=bool(mark["ignores_claims"]),
            timeout=mark["timeout"], takes_event=len(params) >= 3, route=route,
            on_failure=mark.get("on_failure"),
        )
    if spawn_on is None and not handlers:
        problems.append(
            f"{label} has neither spawn_on nor any @handler; it could never do anything")
    spawn_route, why = _plan(agent_items, key_items, None, singleton)
    if why and spawn_on:
        problems.append(f"{label}: {why}")
    if problems:
        raise DefinitionError(f"{cls.__module__}.{label}", problems)

    if create is None:
        # Without create_context, an instance's Context is built from the event's data.
        cls.create_context = classmethod(  # type: ignore[attr-defined]
            lambda c, event: c.Context.model_validate(dict(getattr(event, "data", {}) or {}))
        )
    index_fields = sorted({
        route.index_item.ctx_field for route in [spawn_route, *(h.route for h in handlers.values())]
        if route.kind == "index" and route.index_item and route.index_item.ctx_field
    })
    by_event: dict[str, list[AgentHandlerDefinition]] = {}
    for h in handlers.values():
        by_event.setdefault(h.event_name, []).append(h)
    definition = AgentDefinition(
        name=name, cls=cls, context_cls=context_cls, spawn_on=spawn_on,  # type: ignore[arg-type]
        match=agent_items, key_items=key_items, singleton=singleton, handlers=handlers,
        spawn_route=spawn_route, index_fields=tuple(index_fields),
        by_event={k: tuple(v) for k, v in by_event.items()},
    )
    registry.add_agent(definition)
    for attr, flow in flows.items():  # limits per handler call: agents/_flow.py
        register_flow(f"{name}.{attr}", flow)
    cls.__durable_automation__ = definition  # type: ignore[attr-defined]
    return cls


def _check_fields(where: str, items: tuple[MatchItem, ...], fields: set[str]) -> list[str]:
    return [
        f"{where}: {{{{ ctx.{i.ctx_field} }}}} names no field of Context "
        f"(fields: {', '.join(sorted(fields))})"
        for i in items
        if i.ctx_field and fields and i.ctx_field.split(".")[0] not in fields
    ]


def _check_handler(where: str, mark: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(mark["event_name"], str) or not mark["event_name"]:
        problems.append(f"{where}: the event name must be a non-empty string")
    if mark["offset"] is not None and not isinstance(mark["offset"], timedelta):
        problems.append(f"{where}: offset must be a timedelta, got {mark['offset']!r}")
    if mark["condition"] is not None and not callable(mark["condition"]):
        problems.append(f"{where}: condition must be callable as condition(event, ctx)")
    if mark["retry"] is not None and not isinstance(mark["retry"], Retry):
        problems.append(f"{where}: retry must be a Retry, got {mark['retry']!r}")
    return problems


def _plan(
    agent_items: tuple[MatchItem, ...],
    key_items: tuple[MatchItem, ...],
    handler_items: tuple[MatchItem, ...] | None,
    singleton: bool,
) -> tuple[Route, str | None]:
    """Decide how events reach agents for a match (the handler's, else the agent's)."""
    items = handler_items if handler_items is not None else agent_items
    by_field = {i.ctx_field: i for i in items if i.ctx_field and i.lookup == "exact"}
    if singleton and all(k.ctx_field in by_field for k in key_items):
        chosen = tuple(by_field[k.ctx_field or ""] for k in key_items)
        rest = tuple(i for i in items if i not in chosen)
        return Route("direct", items, key_items=chosen, predicates=rest), None
    routable = [i for i in items if i.routable]
    # Prefer an item on a key field: its buckets hold the fewest agents.
    keyed = [i for i in routable if any(i.ctx_field == k.ctx_field for k in key_items)]
    candidates = keyed or routable
    chosen_item = candidates[0] if candidates else None
    if chosen_item is None:
        return Route("direct", items), (
            "its match cannot find an agent: it needs an exact or __in lookup on a "
            "{{ ctx.field }} template (e.g. {'guest_id': '{{ ctx.guest_id }}'})"
        )
    return Route("index", items, index_item=chosen_item, predicates=items), None


def interested_agents(event_name: str) -> list[AgentDefinition]:
    """Registered agents with a handler for (or spawned by) ``event_name``."""
    return [d for d in registry.agents.values() if event_name in d.events]


def offset_handlers(definition: AgentDefinition, name: str) -> list[AgentHandlerDefinition]:
    """``definition``'s handlers of event ``name`` that run at an offset from its time."""
    return [h for h in definition.by_event.get(name, ()) if h.offset is not None]
