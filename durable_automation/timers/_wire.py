"""Wire models and names shared by the timer workflows, their activities and the clients."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._tasks import TaskCall

__all__ = [
    "CRON_NEXT_ACTIVITY",
    "DEBOUNCE_WORKFLOW",
    "DELAYED_WORKFLOW",
    "EMIT_ACTIVITY",
    "SCHEDULED_TASK_WORKFLOW",
    "TIMER_WORKFLOW",
    "CronNextRequest",
    "DebounceSpec",
    "DebounceStatus",
    "DelayedSpec",
    "EmitRequest",
    "TimerSpec",
    "TimerStatus",
]

TIMER_WORKFLOW = "durable_automation.timer"
DELAYED_WORKFLOW = "durable_automation.delayed_task"
DEBOUNCE_WORKFLOW = "durable_automation.debounce"
SCHEDULED_TASK_WORKFLOW = "durable_automation.scheduled_task"
EMIT_ACTIVITY = "durable_automation.emit_timer_event"
CRON_NEXT_ACTIVITY = "durable_automation.cron_next"

TimerKind = Literal["fixed", "delay", "cron", "one_shot"]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TimerSpec(_Wire):
    """What a timer workflow runs, and (across continue-as-new) where it got to.

    Attributes:
        name: The timer's name (its workflow id is ``timer:<name>``).
        kind: ``fixed`` (``anchor + N * interval``), ``delay`` (``completion + interval``),
            ``cron`` or ``one_shot``.
        call: The task to run on each tick (Timer), or ``None`` when ``event`` is set.
        event: The event to emit on each firing (TimerManager).
        timer_type: The seed-003 ``type`` put in event payloads (interval/cron/one_shot).
        interval: For ``fixed`` and ``delay``.
        cron: The user's cron expression, verbatim; ``timezone`` its IANA zone.
        fire_at: For ``one_shot``.
        anchor: Start of the FIXED grid (set on the first run).
        tick: Next tick number; ``next_at``: next firing (DELAY, cron).
        fired: Firings so far; ``failures``: of which the task failed.
    """

    name: str
    kind: TimerKind
    call: TaskCall | None = None
    event: str | None = None
    timer_type: str | None = None
    interval: timedelta | None = None
    cron: str | None = None
    timezone: str | None = None
    fire_at: datetime | None = None
    anchor: datetime | None = None
    tick: int = 0
    next_at: datetime | None = None
    fired: int = 0
    failures: int = 0
    last_fired_at: datetime | None = None
    config: dict[str, Any] | None = None


class TimerStatus(_Wire):
    """A timer's live state (the ``status`` query; ``stop`` returns it too)."""

    name: str
    kind: TimerKind
    running: bool
    fired: int
    failures: int
    next_fire_at: datetime | None = None
    last_fired_at: datetime | None = None
    anchor: datetime | None = None
    config: dict[str, Any] | None = None
    event: str | None = None


class EmitRequest(_Wire):
    """One TimerManager firing: the event and the seed-003 payload fields."""

    timer_id: str
    event: str
    type: str
    fired_at: datetime
    tick: int
    due: datetime
    interval_seconds: float | None = None
    scheduled_at: datetime | None = None


class CronNextRequest(_Wire):
    """Ask for the next fire time of a cron expression strictly after ``after``."""

    expression: str
    timezone: str | None = None
    after: datetime


class DelayedSpec(_Wire):
    """A task to run once after ``delay`` (measured from the workflow's start)."""

    call: TaskCall
    delay: timedelta


class DebounceSpec(_Wire):
    """A debounce key's state, carried across continue-as-new.

    Attributes:
        task: The task flushed with every collected item.
        key: The debounce key.
        window: Quiet time after the last item before a flush.
        max_wait: Flush at the latest this long after a window's first item.
        buffer: Items of the open window, in arrival order (``{"id", "item"}``).
        window_started: When the open window's first item arrived.
        flushes: Windows flushed so far.
    """

    task: str
    key: str
    window: timedelta
    max_wait: timedelta | None = None
    buffer: list[dict[str, Any]] = Field(default_factory=list)
    window_started: datetime | None = None
    flushes: int = 0
    items: int = 0


class DebounceStatus(_Wire):
    """A debounce key's live state (the ``status`` query)."""

    key: str
    pending: int
    flushes: int
    items: int
    flushing: bool
