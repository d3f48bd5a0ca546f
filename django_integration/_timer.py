"""The durable timer a scheduled event waits on, and what its fire activity receives.

Owned by the Django app (registered as its worker component in ``apps.py``), so that
the path of a scheduled event goes one way: this workflow runs the app's own
``fire_scheduled_event`` activity (``_fire``), which calls the core's engine. The
core only starts, moves and cancels the timer on the app's behalf (its client calls
``astart_timer``/``amove_timer``/``acancel_timer``, by workflow name).

One workflow per scheduled event, id ``event:<name>:<entity_ref>:<event_id>``. It
sleeps until the event is due (a Temporal timer; a ``move`` signal re-arms it when the
date changes), then runs the fire activity, which re-checks the event against the
database and makes it occur, cancels it, or answers "later" when the stored date is
later than the timer's (a move whose signal has not arrived yet). Cancelling the
workflow cancels the timer. Nothing polls.

A ``move`` does not cancel the timer (patch ``da-django-timer-alarm``, the core's
:class:`~durable_automation.integration.Alarm`): a timer that fired while the move's
task ran made Temporal's time-skipping test server refuse that task and keep virtual
time locked. The timer of an earlier date fires and wakes the workflow, which arms the
next one; one of a later date (a move earlier) fires after the event, unheard.

This module runs in the workflow sandbox: it imports no Django (the sandbox re-imports
it for each run), only temporalio, pydantic and the core's wire types. The workflow's
name and the commands it emits are those it had when it lived in the core, so timers
already waiting carry on (``tests/replay``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ConfigDict

    from durable_automation.integration import (
        MOVE_SIGNAL,
        SCHEDULED_EVENT_WORKFLOW,
        Alarm,
        EventWire,
        StartInput,
    )

__all__ = ["FIRE_ACTIVITY", "FireRequest", "FireResult", "ScheduledEventWorkflow"]

FIRE_ACTIVITY = "durable_automation.fire_scheduled_event"
# How long one fire attempt may take (it reads the database and starts runs).
FIRE_TIMEOUT = timedelta(minutes=5)


class FireRequest(BaseModel):
    """What the fire activity receives: the event, the time it was due, and workflow now."""

    model_config = ConfigDict(frozen=True)

    event: EventWire
    due: datetime
    now: datetime


class FireResult(BaseModel):
    """What the fire activity decided.

    Attributes:
        outcome: ``occurred``, ``cancelled`` (condition false, row deleted), ``failed``
            (condition raised; the error is on the Event row), ``skipped`` (already
            handled) or ``later`` (the stored date is later: sleep until ``at``).
        at: For ``later``: when the event is now due.
        detail: A human-readable reason, shown as the workflow result.
    """

    model_config = ConfigDict(frozen=True)

    outcome: Literal["occurred", "cancelled", "failed", "skipped", "later"]
    at: datetime | None = None
    detail: str = ""


def _parse_due(raw: Any) -> datetime | None:
    # Signals take raw JSON: a payload that fails to decode must never fail the
    # workflow task (it would be retried forever), so parse it here and ignore junk.
    if isinstance(raw, dict):
        raw = raw.get("at")
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            return None
    else:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@workflow.defn(name=SCHEDULED_EVENT_WORKFLOW)
class ScheduledEventWorkflow:
    """Waits (a durable timer) until a scheduled event is due, then fires it once."""

    def __init__(self) -> None:
        self._due: datetime | None = None
        self._alarm = Alarm("da-django-timer-alarm")

    @workflow.signal(name=MOVE_SIGNAL)
    def move(self, raw: Any) -> None:
        """The event's date changed: re-arm the timer for the new time (ISO string)."""
        due = _parse_due(raw)
        if due is None:
            workflow.logger.warning("Ignoring move signal with an unreadable time: %r", raw)
            return
        self._due = due

    @workflow.query(name="due")
    def due(self) -> datetime | None:
        """When the event is due."""
        return self._due

    @workflow.run
    async def run(self, start: StartInput) -> dict[str, Any]:
        event = start.event
        if event is None:
            return {"outcome": "skipped", "detail": "started without an event"}
        if self._due is None:  # a move signal may have arrived with the start
            self._due = start.start_at or event.at
        if self._due is None:
            return {"outcome": "skipped", "detail": "the event has no date"}
        while True:
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(StartInput(event=event, start_at=self._due))
            target = self._due
            remaining = target - workflow.now()
            if remaining > timedelta(0):
                workflow.set_current_details(
                    f"{event.name} for {event.entity_ref} is due at "
                    f"{target.isoformat(timespec='seconds')}"
                )
                try:
                    await self._alarm.wait_condition(
                        lambda: self._due != target,  # noqa: B023 - awaited in this iteration
                        timeout=remaining,
                        timeout_summary=f"{event.name} due {target.isoformat(timespec='seconds')}",
                    )
                    continue  # moved: re-arm for the new time
                except TimeoutError:
                    pass
            workflow.set_current_details(f"Firing {event.name} for {event.entity_ref}")
            result: FireResult = await workflow.execute_activity(
                FIRE_ACTIVITY,
                FireRequest(event=event, due=target, now=workflow.now()),
                result_type=FireResult,
                start_to_close_timeout=FIRE_TIMEOUT,
                # The database or Temporal may be briefly down: keep trying, an event
                # must not be lost. Decisions (cancel, failed) are results, not errors.
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                summary=f"fire {event.name}",
            )
            if result.outcome == "later" and result.at is not None:
                if self._due == target:
                    self._due = result.at
                continue
            workflow.set_current_details(f"{event.name}: {result.outcome} {result.detail}".strip())
            return result.model_dump(mode="json")
