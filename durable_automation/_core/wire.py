"""Wire models: what travels between the client, the workflows and the activities.

All of them are pydantic models serialised by temporalio's pydantic data converter,
so they show up as readable JSON in the Temporal UI.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommandWire",
    "DeliverRequest",
    "EventWire",
    "RunState",
    "StartInput",
    "StepInput",
    "StepOutcome",
    "Waiter",
    "WakeWire",
]

# Names of the handlers every automation workflow has. Double underscores keep them
# out of the way of anything a user could name a signal.
WAKE_SIGNAL = "__da_wake"
RESCHEDULE_SIGNAL = "__da_reschedule"
STATE_QUERY = "__da_state"
DIRECT_SIGNAL_UPDATE = "__da_signal"


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CommandWire(_Wire):
    """A step's command, as the interpreter receives it."""

    kind: Literal["goto", "sleep", "wait", "complete", "fail"]
    step: str | None = None
    duration: timedelta | None = None
    signal: str | None = None
    on_timeout: str | None = None
    then: str | None = None
    result: dict[str, Any] | None = None
    reason: str | None = None


class EventWire(_Wire):
    """An event as it travels to workflows and handlers.

    Attributes:
        id: Unique id of this occurrence (the Django ``Event`` pk, or a uuid).
        name: Event name, e.g. ``reservation_confirmed``.
        entity_type: ``app_label.model`` of the entity, when there is one.
        entity_id: Primary key of the entity, as a string.
        data: Extra data; keys merge into waiting Contexts where the field exists.
        at: When the event is due (scheduled events) or occurred.
        scheduled: Whether it is a scheduled event (declared with a ``date_field``).
    """

    id: str
    name: str
    entity_type: str | None = None
    entity_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime | None = None
    scheduled: bool = False

    @property
    def entity_ref(self) -> str:
        """``app_label.model:pk`` (or ``-`` when the event has no entity)."""
        if self.entity_type and self.entity_id is not None:
            return f"{self.entity_type}:{self.entity_id}"
        return "-"


class StartInput(_Wire):
    """The argument every automation workflow starts with.

    Attributes:
        context: The Context, as JSON-compatible data.
        start_at: Do not run the first step before this time (offsets, delays).
        event: The event that started the run, if any.
        step: Step to (re)start at; ``None`` = the start step. Set on continue-as-new.
        executions: Steps executed so far (the wait sequence), kept across continue-as-new.
        wakes: Wake-ups received but not yet consumed, kept across continue-as-new.
    """

    context: dict[str, Any] = Field(default_factory=dict)
    start_at: datetime | None = None
    event: EventWire | None = None
    step: str | None = None
    executions: int = 0
    visits: dict[str, int] = Field(default_factory=dict)
    wakes: list[WakeWire] = Field(default_factory=list)
    resume_wake: WakeWire | None = None


class WakeWire(_Wire):
    """Why a waiting run resumed: a signal (with payload) or a timeout."""

    channel: str
    seq: int | None = None
    payload: dict[str, Any] | None = None
    timed_out: bool = False


class StepInput(_Wire):
    """What a step activity receives."""

    automation: str
    step: str
    run_id: str
    context: dict[str, Any]
    execution: int
    visit: int
    wake: WakeWire | None = None
    event: EventWire | None = None
    # Set only for an on_failure hook call: {"message", "type", "step"} of the failure.
    failure: dict[str, Any] | None = None
    # Set only for a local step (workflows/_local_steps.py), whose workflow counts the
    # attempts: each local activity is its attempt's only one.
    attempt: int | None = None


class StepOutcome(_Wire):
    """What a step activity returns: the changed Context and the next command."""

    context: dict[str, Any]
    command: CommandWire


class Waiter(_Wire):
    """A run waiting on a signal channel, as the signal hub keeps it."""

    run_id: str
    seq: int
    automation: str


class DeliverRequest(_Wire):
    """``engine.signal(...)`` as the hub receives it."""

    payload: dict[str, Any] | None = None


class RunState(_Wire):
    """A run's live state, as the state query returns it."""

    automation: str
    step: str | None
    phase: Literal["scheduled", "running", "waiting", "sleeping"]
    waiting_for: str | None = None
    deadline: datetime | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    executions: int = 0


StartInput.model_rebuild()
