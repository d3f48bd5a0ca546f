"""How ``time_machine`` reads a run's history to know when to move virtual time.

A run has *reacted* when no new work arrived after its last completed workflow task
(:func:`reacting`); its next deadline is its earliest pending timer or activity retry
(:func:`next_deadline`); a run with neither, waiting for a signal, would wait forever
(:func:`waits_forever`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import WorkflowExecutionDescription, WorkflowHandle

from ._core.wire import STATE_QUERY, RunState
from .exceptions import RunWaitsForeverError

__all__ = ["in_backoff", "next_deadline", "reacting", "waits_forever"]

# History events that give a run new work: after the last completed workflow task, one of
# these means the run has not reacted yet, whatever a (stale) query says.
_NEW_WORK = frozenset({
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_TIMER_FIRED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
    EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
})


def in_backoff(activity: PendingActivityInfo) -> bool:
    """Whether a pending step activity waits out a retry backoff (idle until time moves).

    Its last attempt ended after it last started, and no new attempt has begun. (The
    test server reports such an activity as STARTED and leaves next_attempt_schedule_time
    unset, so the timestamps are what tell.)
    """
    ended = activity.last_attempt_complete_time
    return (
        activity.attempt > 1
        and activity.HasField("last_failure")
        and ended.seconds > 0
        and ended.ToNanoseconds() >= activity.last_started_time.ToNanoseconds()
    )


async def next_deadline(
    handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
) -> tuple[bool, datetime | None]:
    """Whether the run still has unprocessed work, and the earliest time at which something
    it waits for happens by itself: a pending timer (sleeps, wait timeouts, start offsets,
    delays) or the end of a retry backoff.

    Read from the run's history, so it works for every kind of run (automations, delayed
    tasks, debounces, agents) and needs nothing from the workflow code.
    """
    timers: dict[str, datetime] = {}
    retry_policies: dict[str, Any] = {}
    # Signals this run sent whose delivery is not recorded yet: the run waits on them
    # (a run asking its limiter for a slot), so it is still reacting.
    signalling: set[int] = set()
    history = await handle.fetch_history()
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            signalling.add(event.event_id)
        elif kind == EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED:
            signalling.discard(
                event.external_workflow_execution_signaled_event_attributes.initiated_event_id)
        elif kind == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
            signalling.discard(
                event.signal_external_workflow_execution_failed_event_attributes
                .initiated_event_id)
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            started = event.timer_started_event_attributes
            timers[started.timer_id] = (event.event_time.ToDatetime(tzinfo=UTC)
                                        + started.start_to_fire_timeout.ToTimedelta())
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            timers.pop(event.timer_fired_event_attributes.timer_id, None)
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            timers.pop(event.timer_canceled_event_attributes.timer_id, None)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            retry_policies[scheduled.activity_id] = scheduled.retry_policy
    deadlines = list(timers.values())
    for activity in description.raw_description.pending_activities:
        if in_backoff(activity):
            deadlines.append(_retry_at(activity, retry_policies.get(activity.activity_id)))
    return (reacting(history.events) or bool(signalling)), (min(deadlines) if deadlines else None)


def reacting(events: Sequence[HistoryEvent]) -> bool:
    """Whether the history holds new work after the run's last completed workflow task."""
    for event in reversed(events):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return False
        if event.event_type in _NEW_WORK:
            return True
    return False


def _retry_at(activity: PendingActivityInfo, policy: Any) -> datetime:
    """When the next attempt of an activity in backoff starts."""
    next_attempt = activity.next_attempt_schedule_time
    if activity.HasField("next_attempt_schedule_time") and next_attempt.seconds:
        return activity.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
    current = activity.current_retry_interval
    if activity.HasField("current_retry_interval") and current.ToNanoseconds():
        interval = activity.current_retry_interval.ToTimedelta()
    else:
        # Temporal's defaults: 1 s, doubling, capped at 100 * the initial interval.
        initial = timedelta(seconds=1)
        coefficient = 2.0
        maximum: timedelta | None = None
        if policy is not None:
            if policy.HasField("initial_interval") and policy.initial_interval.ToNanoseconds():
                initial = policy.initial_interval.ToTimedelta()
            coefficient = policy.backoff_coefficient or coefficient
            if policy.HasField("maximum_interval") and policy.maximum_interval.ToNanoseconds():
                maximum = policy.maximum_interval.ToTimedelta()
        # ``attempt`` is the attempt about to start: the first retry waits ``initial``.
        interval = initial * coefficient ** max(activity.attempt - 2, 0)
        interval = min(interval, maximum or initial * 100)
    return activity.last_attempt_complete_time.ToDatetime(tzinfo=UTC) + interval


async def waits_forever(handle: WorkflowHandle[Any, Any], run_id: str) -> RunWaitsForeverError:
    """The error for a run that nothing but a signal can end; names what it waits for."""
    try:
        state = await handle.query(STATE_QUERY, result_type=RunState)
    except Exception:  # noqa: BLE001 - not an automation run (a hub, a task): say less
        return RunWaitsForeverError(run_id, None)
    detail = f" (step {state.step})" if state.step else ""
    return RunWaitsForeverError(run_id, state.waiting_for, detail)
