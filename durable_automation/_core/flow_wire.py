"""The messages of the per-key limiter (see ``flow/_limiter.py``): what the engine sends
it, what it answers, what it carries over a continue-as-new. Re-exported by
:mod:`durable_automation._core.flow`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .wire import StartInput

__all__ = ["AcquireRequest", "DroppedRun", "FlowGrant", "LimitRequest", "LimiterState"]


# ── messages ─────────────────────────────────────────────────────────────────────


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LimitRequest(_Wire):
    """Start one limited run through its limiter (the limiter starts it as its child)."""

    run_id: str
    automation: str
    kind: str
    start: StartInput
    summary: str
    idempotent: bool = False
    entity_ref: str | None = None
    search_attributes: bool = False
    priority: int | None = None
    fairness_key: str | None = None
    fairness_weight: float | None = None
    # The limiter's own settings travel with each request: the newest deploy wins.
    mode: Literal["concurrency", "throttle", "rate_limit"]
    limit: int
    period_seconds: float = 0.0
    key: str = "all"


class FlowGrant(_Wire):
    """The limiter's answer to a waiting run: go, or (rate limit) dropped. ``token`` names
    the request of a holder that is not a run of its own (an agent's handler)."""

    dropped: bool = False
    reason: str | None = None
    token: str | None = None


class AcquireRequest(_Wire):
    """An agent asks for a slot for one handler call (signal ``acquire``), and gives it
    back with ``release`` (the token) when the call ends.

    Attributes:
        limiter: The limiter's workflow id.
        holder: The agent's workflow id (granted by signal; watched while it holds).
        token: Names this call: ``<agent id>|<handler>|<event id>``.
    """

    limiter: str
    holder: str
    token: str
    automation: str
    key: str
    mode: Literal["concurrency", "throttle", "rate_limit"]
    limit: int
    period_seconds: float = 0.0


class DroppedRun(_Wire):
    """A run a rate limit dropped."""

    run_id: str
    at: datetime


class LimiterState(_Wire):
    """What a limiter holds (its query answer, and what it carries over a continue-as-new).

    Attributes:
        holders: Runs holding a slot (concurrency).
        waiting: Runs waiting for a slot, first in line first.
        dropped: The latest runs a rate limit dropped (at most 100), oldest first.
        dropped_count: Every run this limiter dropped.
        recent: When runs were let through in the current window (throttle, rate limit).
    """

    automation: str = ""
    key: str = ""
    mode: str = "concurrency"
    limit: int = 1
    period_seconds: float = 0.0
    holders: list[str] = Field(default_factory=list)
    waiting: list[str] = Field(default_factory=list)
    dropped: list[DroppedRun] = Field(default_factory=list)
    dropped_count: int = 0
    recent: list[datetime] = Field(default_factory=list)
    # Tokens of agent-handler calls in ``holders``/``waiting`` -> the agent's workflow id.
    external: dict[str, str] = Field(default_factory=dict)
