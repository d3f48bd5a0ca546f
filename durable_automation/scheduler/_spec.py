"""How a Scheduler task's timing becomes a Temporal Schedule spec (intervals and UTC crons)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
)

from ..exceptions import InvalidScheduleError
from ..timers._cron import CronExpr

__all__ = ["cron_calendars", "interval_spec", "number", "positive_seconds"]

_FIELD_RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23),
                 "day of month": (1, 31), "month": (1, 12), "day of week": (0, 6)}


def _ranges(values: list[int | str], field: str, expression: str) -> list[ScheduleRange]:
    low, high = _FIELD_RANGES[field]
    if values == ["*"]:
        return [ScheduleRange(low, high)]
    ranges = []
    for value in values:
        if not isinstance(value, int):
            raise InvalidScheduleError(
                f"Cron expression {expression!r}: {value!r} in the {field} field is not "
                "supported by the Scheduler; use a TimerManager cron timer instead"
            )
        ranges.append(ScheduleRange(0 if field == "day of week" and value == 7 else value))
    return ranges


def cron_calendars(cron: CronExpr) -> list[ScheduleCalendarSpec]:
    """Temporal calendar specs (UTC) matching ``cron`` exactly.

    Cron strings are never passed to Temporal, whose 6-field form means a trailing
    year. When both day fields are restricted, cron matches either (two calendars).
    """
    fields = cron.expanded()
    ranges = {name: _ranges(values, name, cron.expression) for name, values in fields.items()}

    def calendar(day_of_month: list[ScheduleRange], day_of_week: list[ScheduleRange]) -> Any:
        return ScheduleCalendarSpec(
            second=ranges["second"], minute=ranges["minute"], hour=ranges["hour"],
            day_of_month=day_of_month, month=ranges["month"], day_of_week=day_of_week,
            comment=cron.expression,
        )

    every_day, every_weekday = [ScheduleRange(1, 31)], [ScheduleRange(0, 6)]
    if fields["day of month"] != ["*"] and fields["day of week"] != ["*"]:
        return [calendar(ranges["day of month"], every_weekday),
                calendar(every_day, ranges["day of week"])]
    return [calendar(ranges["day of month"], ranges["day of week"])]


def interval_spec(every: timedelta, anchor: datetime) -> ScheduleSpec:
    """Every ``every``, on the grid through ``anchor`` rounded down to a whole second.

    Temporal counts interval grids from the epoch; rounding down makes the first run
    due at most one interval after ``anchor`` (seed 004: one interval after adding).
    """
    step = every // timedelta(microseconds=1)
    offset = int(anchor.timestamp() * 1_000_000) // 1_000_000 * 1_000_000 % step
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every,
                                                        offset=timedelta(microseconds=offset))])


def positive_seconds(value: Any, what: str) -> timedelta:
    """``value`` seconds as a timedelta.

    Raises:
        InvalidScheduleError: ``value`` is not a positive number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidScheduleError(f"{what} must be a positive number of seconds, got {value!r}")
    return timedelta(seconds=value)


def number(seconds: float) -> float | int:
    """``seconds`` as an int when whole (seed 004's ``interval_seconds: int``)."""
    return int(seconds) if float(seconds).is_integer() else seconds
