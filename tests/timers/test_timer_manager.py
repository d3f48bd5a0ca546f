"""TimerConfig and TimerManager (seed 003): firings become events that @on_event receives."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from durable_automation.events import Event, on_event
from durable_automation.exceptions import InvalidScheduleError
from durable_automation.testing import TimeMachine
from durable_automation.timers import CronConfig, IntervalConfig, TimerConfig, TimerManager

received: list[dict] = []


@on_event("tests_timer_tick")
def on_tick(event: Event) -> None:
    received.append(dict(event.data))


@pytest.fixture(autouse=True)
def _clean() -> None:
    received.clear()


def test_seed_json_forms_round_trip() -> None:
    forms = [
        {"type": "interval", "seconds": 10, "minutes": 0, "hours": 0},
        {"type": "cron", "expression": "0 0 * * * *", "timezone": None},
        {"type": "cron", "expression": "30 2 * * *", "timezone": "America/New_York"},
        {"type": "one_shot", "fire_at": "2025-01-20T15:00:00Z"},
    ]
    for form in forms:
        config = TimerConfig.parse(json.dumps(form))
        assert json.loads(config.model_dump_json()) == form
    assert isinstance(TimerConfig.interval(minutes=1).root, IntervalConfig)
    assert isinstance(TimerConfig.cron("0 9 * * 1-5", "Europe/Berlin").root, CronConfig)


@pytest.mark.parametrize(("form", "message"), [
    ({"type": "cron", "expression": "0 0 25 * * *"}, "hour field"),
    ({"type": "cron", "expression": "61 0 * * *"}, "minute field"),
    ({"type": "cron", "expression": "0 0 * * * 2026"}, "day of week field"),
    ({"type": "cron", "expression": "* * * *"}, "expected 5 fields"),
    ({"type": "cron", "expression": "0 * * * *", "timezone": "Mars/Olympus"}, "Unknown time zone"),
    ({"type": "interval", "seconds": 0}, "positive"),
    ({"type": "weekly"}, "Invalid timer config"),
])
def test_bad_configs_say_what_is_wrong(form: dict, message: str) -> None:
    with pytest.raises(InvalidScheduleError, match=message):
        TimerConfig.parse(form)


def test_interval_timer_emits_seed_payload(time_machine: TimeMachine) -> None:
    manager = TimerManager()
    manager.start_timer("tick10", {"type": "interval", "seconds": 10}, event="tests_timer_tick")
    time_machine.settle()
    time_machine.advance(seconds=30)
    assert manager.timer_count() == 1
    assert manager.stop_all() == 1
    assert manager.timer_count() == 0
    time_machine.advance(seconds=60)
    assert len(received) == 4
    assert {r["type"] for r in received} == {"interval"}
    assert {r["interval_seconds"] for r in received} == {10.0}
    fired = [datetime.fromisoformat(r["fired_at"]) for r in received]
    gaps = [b - a for a, b in itertools.pairwise(fired)]
    assert all(timedelta(seconds=9) < gap < timedelta(seconds=11) for gap in gaps), gaps
    assert all("scheduled_at" not in r for r in received)


def test_cron_timer_emits_scheduled_at_on_the_cron_grid(time_machine: TimeMachine) -> None:
    manager = TimerManager()
    # Seed 003's 6-field form: leading seconds, so this is the top of every hour.
    manager.start_timer("hourly", {"type": "cron", "expression": "0 0 * * * *"},
                        event="tests_timer_tick")
    time_machine.settle()
    status = manager.status("hourly")
    assert status is not None and status.next_fire_at is not None
    assert status.next_fire_at.minute == 0 and status.next_fire_at.second == 0
    time_machine.advance(hours=3)
    manager.stop_timer("hourly")
    scheduled = sorted(datetime.fromisoformat(r["scheduled_at"]) for r in received)
    assert len(scheduled) == 3
    assert [s.minute for s in scheduled] == [0, 0, 0]
    assert [b - a for a, b in itertools.pairwise(scheduled)] == [timedelta(hours=1)] * 2
    assert {r["type"] for r in received} == {"cron"}


def test_one_shot_in_the_past_is_an_error_unless_asked(time_machine: TimeMachine) -> None:
    manager = TimerManager()
    past = time_machine.now() - timedelta(minutes=5)
    with pytest.raises(InvalidScheduleError, match="in the past"):
        manager.start_timer("late", TimerConfig.one_shot(past), event="tests_timer_tick")
    manager.start_timer("late", TimerConfig.one_shot(past), event="tests_timer_tick",
                        fire_if_past=True)
    time_machine.settle()
    assert len(received) == 1 and received[0]["type"] == "one_shot"


def test_one_shot_fires_once_at_its_time(time_machine: TimeMachine) -> None:
    manager = TimerManager()
    at = (time_machine.now() + timedelta(hours=1)).replace(microsecond=0)
    manager.start_timer("once", {"type": "one_shot", "fire_at": at.isoformat()},
                        event="tests_timer_tick")
    time_machine.advance(minutes=59)
    assert received == []
    time_machine.advance(minutes=2)
    time_machine.advance(hours=5)
    assert len(received) == 1
    assert datetime.fromisoformat(received[0]["scheduled_at"]) == at.astimezone(UTC)
    assert manager.timer_count() == 0


@pytest.mark.parametrize(("expression", "due_utc"), [
    ("30 2 14 3 *", datetime(2027, 3, 14, 7, 0, tzinfo=UTC)),  # 02:30 does not exist
    ("30 1 7 11 *", datetime(2027, 11, 7, 5, 30, tzinfo=UTC)),  # 01:30 happens twice
])
def test_timezone_cron_timer_fires_once_across_a_dst_transition(
    time_machine: TimeMachine, expression: str, due_utc: datetime
) -> None:
    manager = TimerManager()
    manager.start_timer("dst", TimerConfig.cron(expression, "America/New_York"),
                        event="tests_timer_tick")
    time_machine.settle()
    status = manager.status("dst")
    assert status is not None and status.next_fire_at == due_utc
    time_machine.advance(due_utc - time_machine.now() + timedelta(hours=3))
    assert [r["scheduled_at"] for r in received] == [due_utc.isoformat()]
    status = manager.status("dst")
    assert status is not None and status.next_fire_at is not None
    assert status.next_fire_at.year == due_utc.year + 1
    manager.stop_timer("dst")
