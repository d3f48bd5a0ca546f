"""Wire models of agents: what travels between the router, the agent workflow and its handlers.

Pydantic models, so they read as JSON in the Temporal UI. Signals and updates
arrive as plain dicts and are validated inside the workflow (a payload that fails
to decode must never fail a workflow task).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._core.wire import EventWire

__all__ = [
    "AGENT_CLAIM_SIGNAL",
    "AGENT_COMPLETE_UPDATE",
    "AGENT_DELIVERY_SIGNAL",
    "AGENT_STATE_QUERY",
    "AgentHandlerInput",
    "AgentHandlerOutcome",
    "AgentStart",
    "AgentState",
    "AgentTimer",
    "HandlerCall",
    "HandlerRecord",
    "Predicate",
    "RoutedEvent",
]

AGENT_DELIVERY_SIGNAL = "__da_agent_event"
AGENT_CLAIM_SIGNAL = "__da_agent_claimed"
AGENT_COMPLETE_UPDATE = "__da_agent_complete"
AGENT_STATE_QUERY = "__da_agent_state"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Predicate(_Wire):
    """A match item the agent checks against its current Context.

    ``value`` is the entity's value (read by the router, which has the entity);
    the agent compares it with ``ctx[ctx_field]`` using ``lookup``.
    """

    expr: str
    ctx_field: str
    lookup: str
    value: Any = None


class HandlerCall(_Wire):
    """One handler the router found for an event, with what the agent must still check."""

    handler: str
    predicates: list[Predicate] = Field(default_factory=list)


class RoutedEvent(_Wire):
    """An event as it reaches an agent (the payload of the delivery signal).

    Attributes:
        kind: ``occurred`` runs handlers now (and arms offset timers), ``scheduled``
            arms offset timers, ``rescheduled`` moves them, ``cancelled`` drops them,
            ``spawn`` is an occurred event that spawned (or reached) the agent.
        event: The event.
        calls: Handlers to run (occurred) or whose timers to arm/move.
    """

    kind: Literal["occurred", "scheduled", "rescheduled", "cancelled", "spawn"]
    event: EventWire
    calls: list[HandlerCall] = Field(default_factory=list)


class AgentTimer(_Wire):
    """A pending offset handler: run ``handler`` for ``event`` at ``due``."""

    handler: str
    event: EventWire
    due: datetime
    predicates: list[Predicate] = Field(default_factory=list)
    label: str = ""

    @property
    def key(self) -> str:
        return f"{self.handler}:{self.event.id}"


class HandlerRecord(_Wire):
    """One handler execution, as the agent's history keeps it (times are workflow time).

    Attributes:
        outcome: ``ran``, ``skipped`` (condition or match false), ``failed``,
            or ``dropped`` (its event was cancelled before it was due).
        on_failure: For a failed call of a handler with a hook: whether the hook ``ran``
            or ``failed`` (``None``: no hook ran).
    """

    handler: str
    event: str
    event_id: str
    at: datetime
    due: datetime | None = None
    outcome: Literal["ran", "skipped", "failed", "dropped"] = "ran"
    error: str | None = None
    on_failure: Literal["ran", "failed"] | None = None


class AgentStart(_Wire):
    """The agent workflow's input; continue-as-new carries everything in it."""

    agent: str
    key: str
    context: dict[str, Any]
    inbox: list[RoutedEvent] = Field(default_factory=list)
    timers: list[AgentTimer] = Field(default_factory=list)
    claims: list[str] = Field(default_factory=list)
    history: list[HandlerRecord] = Field(default_factory=list)
    done: list[str] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)
    generation: int = 0
    handled: int = 0


class AgentState(_Wire):
    """What the agent state query returns."""

    agent: str
    key: str
    context: dict[str, Any]
    phase: Literal["waiting", "running", "completing"]
    running: str | None = None
    timers: list[AgentTimer] = Field(default_factory=list)
    claims: list[str] = Field(default_factory=list)
    history: list[HandlerRecord] = Field(default_factory=list)
    generation: int = 0
    handled: int = 0


class AgentHandlerInput(_Wire):
    """What the handler activity receives (``failure``: set only for an ``on_failure`` hook
    call, ``{"message", "type"}`` of the handler's failure)."""

    agent: str
    handler: str
    agent_id: str
    context: dict[str, Any]
    event: EventWire | None = None
    due: datetime | None = None
    failure: dict[str, Any] | None = None


class AgentHandlerOutcome(_Wire):
    """What the handler activity returns."""

    context: dict[str, Any]
    ran: bool = True
    complete: bool = False
    claims: list[str] = Field(default_factory=list)
