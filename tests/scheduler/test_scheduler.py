"""Scheduler (seed 004) on Temporal Schedules, on the dev server with real short intervals."""

from __future__ import annotations

import asyncio
import io
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter

from durable_automation.exceptions import InvalidScheduleError, UnknownTaskError
from durable_automation.scheduler import Scheduler, setup_tasks_from_config, setup_tasks_from_yaml
from durable_automation.timers import task, task_info
from tests.helpers.polling import eventually

pytestmark = pytest.mark.devserver

STATUS_KEYS = {"name", "enabled", "interval_seconds", "last_run", "next_run", "seconds_until_next"}
runs: dict[str, list[datetime]] = {}
active = {"now": 0, "max": 0}
lock = threading.Lock()


@task(name="tests.scheduler.record")
def record() -> None:
    info = task_info()
    runs.setdefault(info.key or "", []).append(info.scheduled_at)  # type: ignore[arg-type]


@task(name="tests.scheduler.slow")
def slow() -> None:
    with lock:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
    time.sleep(2.5)
    with lock:
        active["now"] -= 1
    runs.setdefault("slow", []).append(task_info().scheduled_at)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    runs.clear()


def test_interval_task_runs_and_reports_seed_status(scheduler: Scheduler) -> None:
    before = datetime.now(UTC)
    scheduler.add_task("every1", record, interval_seconds=1)
    status = scheduler.get_task_status("every1")
    after = datetime.now(UTC)
    assert status is not None and set(status) == STATUS_KEYS
    assert status["enabled"] is True and status["interval_seconds"] == 1
    # Nothing ran before add_task; a due time that passed while the call was on its way
    # runs at once (a catch-up, seen in CI under load), so a run may already show.
    assert status["last_run"] is None or datetime.fromisoformat(status["last_run"]) >= before
    next_run = datetime.fromisoformat(status["next_run"])
    assert before < next_run <= after + timedelta(seconds=1)  # due within one interval
    eventually(lambda: len(runs.get("every1", [])) >= 4, timeout=10)
    # The first run may be a catch-up (a due time passed while add_task was on its way).
    due = runs["every1"][1:4]
    # On the 1 s grid: whole seconds apart (a tick whose slot a late run still held is
    # skipped under load, one run at a time as in the seed: a 2 s gap, seen in CI).
    gaps = [b - a for a, b in itertools.pairwise(due)]
    assert all(g >= timedelta(seconds=1) and g % timedelta(seconds=1) == timedelta(0)
               for g in gaps), gaps
    status = scheduler.get_task_status("every1")
    assert status is not None and status["last_run"] is not None
    # The seed's figure is next_run - now: a run falling due this very moment shows a few
    # milliseconds overdue until the schedule moves on (seen in CI: -0.0066).
    assert -1 < status["seconds_until_next"] <= 1.5
    assert set(scheduler.get_all_tasks_status()) == {"every1"}
    assert scheduler.get_task_status("nope") is None


def test_one_run_at_a_time(scheduler: Scheduler) -> None:
    active.update(now=0, max=0)
    scheduler.add_task("slow", slow, interval_seconds=1)
    eventually(lambda: len(runs.get("slow", [])) >= 2, timeout=15)
    assert active["max"] == 1
    due = runs["slow"]
    # Overlapping runs were skipped:
    assert all(b - a >= timedelta(seconds=2) for a, b in itertools.pairwise(due))


def test_disable_pauses_and_enable_resumes(scheduler: Scheduler) -> None:
    scheduler.add_task("pausable", record, interval_seconds=1)
    eventually(lambda: len(runs.get("pausable", [])) >= 1, timeout=10)
    scheduler.disable_task("pausable")
    status = scheduler.get_task_status("pausable")
    assert status is not None and status["enabled"] is False and status["next_run"] is None
    count = len(runs["pausable"])
    time.sleep(2.5)  # a negative check: nothing may run while paused
    assert len(runs["pausable"]) <= count + 1  # at most one run already in flight
    paused_count = len(runs["pausable"])
    scheduler.enable_task("pausable")
    eventually(lambda: len(runs["pausable"]) > paused_count, timeout=10)


def test_update_interval_keeps_the_phase(scheduler: Scheduler) -> None:
    scheduler.add_task("phase", record, interval_seconds=1)
    eventually(lambda: len(runs.get("phase", [])) >= 1, timeout=10)
    scheduler.update_task_interval("phase", 30)
    status = scheduler.get_task_status("phase")
    assert status is not None and status["interval_seconds"] == 30
    # The schedule kept firing during the update: the anchor is its latest run then.
    anchor = datetime.fromisoformat(status["next_run"]) - timedelta(seconds=30)
    eventually(lambda: anchor in runs["phase"], timeout=5)
    never = "never-ran"
    scheduler.add_task(never, record, interval_seconds=600)
    now = datetime.now(UTC)
    scheduler.update_task_interval(never, 45)
    status = scheduler.get_task_status(never)
    assert status is not None
    assert abs(datetime.fromisoformat(status["next_run"]) - (now + timedelta(seconds=45))) \
        < timedelta(seconds=2)


def test_cron_task_fires_on_croniter_times(scheduler: Scheduler) -> None:
    scheduler.add_task("cron2", record, cron="*/2 * * * * *")  # leading seconds: every 2 s
    status = scheduler.get_task_status("cron2")
    assert status is not None and status["interval_seconds"] is None
    next_run = datetime.fromisoformat(status["next_run"])
    expected = croniter("*/2 * * * * *", next_run - timedelta(seconds=2), ret_type=datetime,
                        second_at_beginning=True).get_next()
    assert next_run == expected
    eventually(lambda: len(runs.get("cron2", [])) >= 2, timeout=10)
    assert all(d.second % 2 == 0 and d.microsecond == 0 for d in runs["cron2"])
    assert scheduler.tasks["cron2"].cron == "*/2 * * * * *"


def test_config_from_dict_and_yaml(scheduler: Scheduler) -> None:
    names = setup_tasks_from_config(scheduler, {
        "a": {"function": record, "interval": 300, "enabled": True},
        "b": {"function": "tests.scheduler.record", "interval": 180, "enabled": False},
    })
    assert names == ["a", "b"]
    yaml_text = io.StringIO(
        "tasks:\n  c:\n    function: tests.scheduler.record\n    interval: 60\n"
        "  d:\n    function: tests.scheduler.record\n    cron: '0 3 * * *'\n")
    assert setup_tasks_from_yaml(scheduler, yaml_text) == ["c", "d"]
    statuses = scheduler.get_all_tasks_status()
    assert {n: s["enabled"] for n, s in statuses.items()} == {
        "a": True, "b": False, "c": True, "d": True}
    assert statuses["b"]["next_run"] is None
    assert datetime.fromisoformat(statuses["d"]["next_run"]).hour == 3
    with pytest.raises(UnknownTaskError):
        setup_tasks_from_config(scheduler, {"x": {"function": "os.system", "interval": 1}})
    with pytest.raises(InvalidScheduleError):
        scheduler.add_task("bad", record, interval_seconds=0)


async def test_start_waits_until_stop_as_in_the_seed(stopped: Scheduler) -> None:
    scheduler = stopped
    await scheduler.aadd_task("bg", record, interval_seconds=1)
    running = asyncio.create_task(scheduler.start())
    await asyncio.sleep(0)
    assert scheduler.is_running()
    for _ in range(200):
        if len(runs.get("bg", [])) >= 2:
            break
        await asyncio.sleep(0.05)
    scheduler.stop()
    await asyncio.wait_for(running, 5)
    assert not scheduler.is_running()
    assert len(runs["bg"]) >= 2
    await scheduler.aremove_task("bg")
    assert await scheduler.aget_task_status("bg") is None



async def test_each_switch_sticks_while_the_server_is_busy(stopped: Scheduler) -> None:
    # disable_task/enable_task change the task's memo and its pause. Sent as two requests,
    # a busy server applied both in one task of the schedule's workflow, the pause first,
    # and the memo update then put back the state it was read with (seen in CI). Many
    # schedulers switching at once make the server that busy: 150 of 300 were wrong.
    schedulers = [stopped, *(Scheduler(name=f"{stopped.name}-{i}") for i in range(19))]
    for each in schedulers:
        await each.aadd_task("toggled", record, interval_seconds=600)
    starts = [asyncio.ensure_future(each.start()) for each in schedulers]
    try:
        for _ in range(3):
            for enabled in (False, True):
                await asyncio.gather(*(each.aenable_task("toggled") if enabled
                                       else each.adisable_task("toggled") for each in schedulers))
                statuses = await asyncio.gather(*(each.aget_task_status("toggled")
                                                  for each in schedulers))
                wrong = [s for s in statuses if s is None or s["enabled"] is not enabled
                         or (s["next_run"] is not None) is not enabled]
                assert not wrong, f"{len(wrong)} of {len(schedulers)} do not show it: {wrong[0]}"
    finally:
        for each in schedulers:
            each.stop()
        await asyncio.gather(*starts, return_exceptions=True)
        for each in schedulers[1:]:
            await each.aremove_task("toggled")
