"""Cron validation and the DST policy, cross-checked against croniter (no server needed).

Policy (docs/timers.md, durable_automation/timers/_cron.py): a nonexistent local time fires at
the first instant after the gap; a repeated local time fires once, at its first
occurrence; times landing on one instant fire once. So every local time of the
expression fires once per day, never zero or two times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from durable_automation.exceptions import InvalidScheduleError
from durable_automation.timers._cron import next_fire_times, parse_cron

UTC = UTC
# 2026 transitions: US spring 03-08, fall 11-01; EU spring 03-29, fall 10-25.
TRANSITIONS = [
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
]
EXPRESSIONS = ["30 2 * * *", "30 1 * * *", "0 * * * *", "*/15 * * * *", "0 30 2 * * *",
               "0 0 * * * *"]


def _local_times(expression: str, day: date) -> list[datetime]:
    """croniter's naive local wall times of ``expression`` on ``day``."""
    seconds = len(expression.split()) == 6
    it = croniter(expression, datetime.combine(day, datetime.min.time()) - timedelta(seconds=1),
                  ret_type=datetime, second_at_beginning=seconds)
    times = []
    while (t := it.get_next()).date() == day:
        times.append(t)
    return times


def _expected_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The policy, computed independently: scan UTC minutes around the local time."""
    # Local offsets here are UTC+1..+2 and UTC-4..-5: look 6 hours either side.
    naive_utc = local.replace(tzinfo=UTC)
    candidates = [naive_utc + timedelta(minutes=m) for m in range(-6 * 60, 6 * 60 + 1)]
    matches = [c for c in candidates if c.astimezone(zone).replace(tzinfo=None) == local]
    if matches:
        return matches[0]  # first occurrence
    return next(c for c in candidates if c.astimezone(zone).replace(tzinfo=None) > local)


@pytest.mark.parametrize(("zone_name", "day"), TRANSITIONS)
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_transition_days_follow_the_policy(zone_name: str, day: date, expression: str) -> None:
    zone = ZoneInfo(zone_name)
    locals_ = _local_times(expression, day)
    instant_of = {t: _expected_instant(t, zone) for t in locals_}
    expected = sorted(set(instant_of.values()))
    after = datetime.combine(day, datetime.min.time(), zone) - timedelta(seconds=1)
    got = next_fire_times(expression, zone_name, after, len(expected) + 1)
    assert got[:-1] == expected
    assert got[-1].astimezone(zone).date() > day
    # Every local time of the day is covered by exactly one firing.
    for t in locals_:
        assert got.count(instant_of[t]) == 1


@pytest.mark.parametrize(("zone_name", "day", "local", "utc"), [
    ("America/New_York", date(2026, 3, 8), "02:30", "07:00"),  # gap: 03:00 EDT
    ("America/New_York", date(2026, 11, 1), "01:30", "05:30"),  # twice: first (EDT) only
    ("Europe/Berlin", date(2026, 3, 29), "02:30", "01:00"),  # gap: 03:00 CEST
    ("Europe/Berlin", date(2026, 10, 25), "02:30", "00:30"),  # twice: first (CEST) only
])
def test_daily_job_in_the_gap_or_the_repeat_fires_exactly_once(
    zone_name: str, day: date, local: str, utc: str
) -> None:
    hour, minute = map(int, local.split(":"))
    zone = ZoneInfo(zone_name)
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), zone)
    fires = next_fire_times(f"{minute} {hour} * * *", zone_name, start, 3)
    on_day = [f for f in fires if f.astimezone(zone).date() == day]
    assert len(on_day) == 1
    assert on_day[0].strftime("%H:%M") == utc
    assert [f.astimezone(zone).date() for f in fires] == [
        day - timedelta(days=1), day, day + timedelta(days=1)]


@pytest.mark.parametrize("zone_name", ["America/New_York", "Europe/Berlin", None])
def test_ordinary_days_agree_with_croniter(zone_name: str | None) -> None:
    zone = ZoneInfo(zone_name) if zone_name else UTC
    start = datetime(2026, 6, 1, 12, 7, tzinfo=zone)
    for expression in ["*/10 * * * *", "0 9 * * 1-5", "15 3 1,15 * *", "5 0 0 * * *"]:
        seconds = len(expression.split()) == 6
        reference = croniter(expression, start, ret_type=datetime, second_at_beginning=seconds)
        expected = [reference.get_next().astimezone(UTC) for _ in range(20)]
        assert next_fire_times(expression, zone_name, start, 20) == expected


def test_six_fields_mean_leading_seconds() -> None:
    start = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert next_fire_times("0 0 * * * *", None, start, 2) == [
        datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC)]
    assert next_fire_times("30 * * * * *", None, start, 1) == [
        datetime(2026, 1, 1, 0, 30, 30, tzinfo=UTC)]


@pytest.mark.parametrize(("expression", "field"), [
    ("0 0 25 * * *", "hour field (field 3 of 6)"),
    ("60 * * * *", "minute field (field 1 of 5)"),
    ("0 0 0 * * *", None),
    ("* * 32 * *", "day of month field"),
    ("* * * 13 *", "month field"),
    ("* * * * 8", "day of week field"),
    ("x * * * * *", "second field"),
])
def test_bad_fields_are_named(expression: str, field: str | None) -> None:
    if field is None:
        parse_cron(expression)
        return
    with pytest.raises(InvalidScheduleError, match=field.replace("(", r"\(").replace(")", r"\)")):
        parse_cron(expression)
