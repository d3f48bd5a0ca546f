"""Seed 004's model and lifecycle on the dev server: tasks run only while their scheduler is
started, stop() pauses and start() resumes on the same grid, ``tasks`` holds current
ScheduledTask entries, run_task(task) runs one task now, and sync calls made inside a
running event loop return at once, take effect in order and never lose an error."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from durable_automation import DurableAutomationError, ScheduledTask
from durable_automation.scheduler import Scheduler
from durable_automation.timers import task, task_info
from tests.helpers.polling import eventually
from tests.scheduler.conftest import started

pytestmark = pytest.mark.devserver

due: dict[str, list[datetime]] = {}


@task(name="tests.scheduler.lifecycle.note")
def note() -> None:
    info = task_info()
    due.setdefault(info.key or "", []).append(info.scheduled_at)  # type: ignore[arg-type]


@task(name="tests.scheduler.lifecycle.boom")
def boom() -> None:
    due.setdefault("boom", []).append(task_info().scheduled_at)  # type: ignore[arg-type]
    raise ValueError("boom")


@pytest.fixture(autouse=True)
def _clear() -> None:
    due.clear()


def test_tasks_run_only_while_started_and_resume_on_the_same_grid(stopped: Scheduler) -> None:
    scheduler = stopped
    scheduler.add_task("life", note, interval_seconds=2)
    scheduler.add_task("off", note, interval_seconds=1, enabled=False)
    entry = scheduler.tasks["life"]
    assert isinstance(entry, ScheduledTask)
    assert (entry.name, entry.func, entry.interval_seconds, entry.enabled) \
        == ("life", note, 2, True)
    assert entry.last_run is None and entry.next_run is None  # not started: nothing is due
    status = scheduler.get_task_status("life")
    assert status is not None and status["enabled"] is True and status["next_run"] is None
    assert not scheduler.is_running()
    time.sleep(2.2)  # a negative check: a whole interval passes and nothing runs
    assert due == {}

    with started(scheduler):
        assert scheduler.is_running()
        eventually(lambda: len(due.get("life", [])) >= 2, timeout=10)
        # start() keeps the entry current without any status call from us.
        eventually(lambda: entry.last_run is not None and entry.next_run is not None
                   and entry.next_run > entry.last_run, timeout=5)
        grid = entry.next_run  # a due time of the schedule's own
        assert "off" not in due  # disabled while stopped: stays disabled once started
        assert scheduler.tasks["off"].next_run is None
        scheduler.enable_task("off")
        eventually(lambda: len(due.get("off", [])) >= 1, timeout=10)
    assert not scheduler.is_running()
    assert entry.next_run is None  # stopped: nothing is due
    status = scheduler.get_task_status("life")
    assert status is not None and status["enabled"] is True and status["next_run"] is None
    count = len(due["life"])
    time.sleep(2.5)  # a negative check: a stopped scheduler runs nothing
    assert len(due["life"]) <= count + 1  # at most one run already in flight at stop()

    with started(scheduler):
        eventually(lambda: len(due["life"]) >= count + 2, timeout=10)
    # Same phase after the restart: runs of both periods fall on the first period's grid.
    # Besides those, each start() may run the task once at once, if a due time passed
    # while it was stopped (as seed 004's loop runs an overdue task when it starts).
    assert grid is not None
    on_grid = [(d - grid) % timedelta(seconds=2) == timedelta(0) for d in due["life"]]
    assert any(on_grid[:count]) and any(on_grid[count:]), (grid, due["life"])
    assert on_grid.count(False) <= 2, (grid, due["life"])


def test_load_rebuilds_tasks_with_both_switches(stopped: Scheduler) -> None:
    stopped.add_task("a", note, interval_seconds=30)
    stopped.add_task("b", note, interval_seconds=45, enabled=False)
    stopped.add_task("c", "tests.scheduler.lifecycle.note", cron="0 3 * * *")
    fresh = Scheduler(name=stopped.name)
    assert fresh.tasks == {}  # a new Scheduler starts empty
    eventually(lambda: sorted(fresh.load()) == ["a", "b", "c"], timeout=10)
    a, b, c = (fresh.tasks[n] for n in "abc")
    assert (a.func, a.interval_seconds, a.enabled, a.task) == (
        note, 30, True, "tests.scheduler.lifecycle.note")
    assert (b.interval_seconds, b.enabled) == (45, False)
    assert (c.cron, c.interval_seconds, c.enabled) == ("0 3 * * *", None, True)
    assert a.next_run is None  # nothing runs: no scheduler of that name is started

    other = Scheduler(name=stopped.name)
    with started(other):  # loading into a started scheduler runs its enabled tasks
        eventually(lambda: sorted(other.load()) == ["a", "b", "c"], timeout=10)
        assert other.tasks["a"].next_run is not None and other.tasks["c"].next_run is not None
        assert other.tasks["b"].next_run is None  # disabled stays disabled
    assert other.tasks["a"].next_run is None  # and stop() paused them again


async def test_run_task_runs_one_task_now(stopped: Scheduler) -> None:
    await stopped.aadd_task("now", note, interval_seconds=600)
    entry = stopped.tasks["now"]
    before = datetime.now().astimezone()
    await stopped.run_task(entry)  # seed 004's signature; the scheduler is not even started
    assert len(due["now"]) == 1
    assert entry.last_run is not None and entry.last_run >= before - timedelta(seconds=1)
    await stopped.run_task("now")
    assert len(due["now"]) == 2
    await stopped.aadd_task("boom", boom, interval_seconds=600)
    await stopped.run_task(stopped.tasks["boom"])  # a failing task is logged, as in the seed
    assert len(due["boom"]) == 1


async def test_sync_calls_inside_a_loop_return_at_once_in_order(stopped: Scheduler) -> None:
    scheduler = stopped
    began = time.monotonic()
    scheduler.add_task("q", note, interval_seconds=1)
    scheduler.disable_task("q")
    scheduler.update_task_interval("q", 7)
    scheduler.enable_task("q")
    assert time.monotonic() - began < 0.05  # nothing waited on the server
    entry = scheduler.tasks["q"]
    assert (entry.interval_seconds, entry.enabled) == (7, True)  # visible at once
    status = await scheduler.aget_task_status("q")  # after all four, in order
    assert status is not None and status["interval_seconds"] == 7 and status["enabled"] is True

    running = asyncio.create_task(scheduler.start())
    for _ in range(100):
        if scheduler.tasks["q"].next_run is not None:
            break
        await asyncio.sleep(0.05)
    assert scheduler.tasks["q"].next_run is not None
    scheduler.stop()
    await asyncio.wait_for(running, 10)  # start() returns once the pause took effect
    status = await scheduler.aget_task_status("q")
    assert status is not None and status["next_run"] is None
    scheduler.remove_task("q")
    assert "q" not in scheduler.tasks
    assert await scheduler.aget_task_status("q") is None


async def test_an_error_of_a_deferred_call_surfaces_on_the_next_call(stopped: Scheduler) -> None:
    stopped.add_task("x" * 1100, note, interval_seconds=5)  # the server refuses the long id
    assert "x" * 1100 in stopped.tasks
    with pytest.raises(DurableAutomationError, match="WorkflowId exceeds maximum") as caught:
        await stopped.aget_task_status("anything")
    assert "Scheduler.add_task()" in "".join(getattr(caught.value, "__notes__", []))
    assert "x" * 1100 not in stopped.tasks  # it never became a task
    assert await stopped.aget_task_status("anything") is None  # reported once


async def test_stop_inside_a_loop_reports_an_earlier_error_and_still_pauses(
    stopped: Scheduler,
) -> None:
    await stopped.aadd_task("kept", note, interval_seconds=1)
    running = asyncio.create_task(stopped.start())
    for _ in range(100):
        if stopped.tasks["kept"].next_run is not None:
            break
        await asyncio.sleep(0.05)
    stopped.add_task("y" * 1100, note, interval_seconds=5)
    await asyncio.sleep(0.5)  # let it fail
    with pytest.raises(DurableAutomationError, match="WorkflowId exceeds maximum"):
        stopped.stop()
    await asyncio.wait_for(running, 10)
    status = await stopped.aget_task_status("kept")
    assert status is not None and status["next_run"] is None  # paused all the same


def test_a_task_whose_add_reached_the_server_late_still_waits_its_interval(
    stopped: Scheduler, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Seed 004: a task's first run is one interval after add_task. In a script the add
    # reaches the server a second or so later (its in-process worker starts first); the
    # grid's anchor, rounded down to a whole second, then lay after the moment add_task
    # noted, and start() took that grid point for a missed due time: the task ran at once.
    import durable_automation.scheduler._scheduler as scheduler_module

    original = scheduler_module.atask_queue_for

    async def starting_a_worker(definition: object) -> str:
        await asyncio.sleep(1.1)  # crosses a whole second whatever the fraction
        return await original(definition)  # type: ignore[arg-type]

    monkeypatch.setattr(scheduler_module, "atask_queue_for", starting_a_worker)
    stopped.add_task("late", note, interval_seconds=300)
    with started(stopped):
        time.sleep(2)  # a negative check: a run would start within a moment of start()
    assert due == {}


async def test_a_cancelled_start_pauses_the_tasks_as_stop_does(stopped: Scheduler) -> None:
    # Ctrl-C in `asyncio.run(main())` cancels the task awaiting start(): the schedules
    # must not keep firing (and piling up runs) with nobody left to stop them.
    await stopped.aadd_task("cancelled", note, interval_seconds=1)
    running = asyncio.create_task(stopped.start())
    for _ in range(100):
        if stopped.tasks["cancelled"].next_run is not None:
            break
        await asyncio.sleep(0.05)
    assert stopped.tasks["cancelled"].next_run is not None  # resumed
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 15)
    assert not stopped.is_running()
    status = await stopped.aget_task_status("cancelled")
    assert status is not None and status["next_run"] is None  # paused, as stop() pauses
