"""Activities of the timer workflows that are not user code: emitting a TimerManager
event, and computing a cron expression's next fire time (time-zone data is read
here, outside the workflow sandbox, and the answer is recorded in history)."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..exceptions import InvalidScheduleError
from ._cron import next_fire_times
from ._wire import CRON_NEXT_ACTIVITY, EMIT_ACTIVITY, CronNextRequest, EmitRequest

__all__ = ["cron_next_activity", "emit_timer_event_activity", "timer_payload"]


def timer_payload(request: EmitRequest) -> dict[str, object]:
    """The event payload of seed 003: ``type``, ``fired_at``, ``interval_seconds`` |
    ``scheduled_at`` (plus ``timer_id`` and ``tick``)."""
    payload: dict[str, object] = {
        "type": request.type,
        "fired_at": request.fired_at.isoformat(),
        "timer_id": request.timer_id,
        "tick": request.tick,
    }
    if request.interval_seconds is not None:
        payload["interval_seconds"] = request.interval_seconds
    if request.scheduled_at is not None:
        payload["scheduled_at"] = request.scheduled_at.isoformat()
    return payload


@activity.defn(name=EMIT_ACTIVITY)
async def emit_timer_event_activity(request: EmitRequest) -> int:
    """Emit the firing as an event; ``@on_event`` handlers get the payload in ``event.data``.

    The event id is derived from the timer and the tick's due time, so a retried
    attempt starts nothing twice.
    """
    from .._client.engine import engine

    event_id = f"timer:{request.timer_id}:{request.due.isoformat()}"
    runs = await engine.aemit(request.event, data=timer_payload(request), id=event_id)
    return len(runs)


@activity.defn(name=CRON_NEXT_ACTIVITY)
async def cron_next_activity(request: CronNextRequest) -> datetime:
    """The first fire time strictly after ``request.after`` (DST policy applied)."""
    try:
        return next_fire_times(request.expression, request.timezone, request.after, 1)[0]
    except InvalidScheduleError as exc:
        raise ApplicationError(str(exc), type="InvalidSchedule", non_retryable=True) from None
