"""Timer (seed 002) on the time-skipping server: FIXED grid with overrun, DELAY spacing,
stop semantics.

The test server does not skip time while an activity attempt runs, so a callback that
"takes" virtual time is built from a first attempt that fails at once and a retry
backoff of that length (time skips through backoffs): from the timer's point of view
the callback runs from the tick until the second attempt returns."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from durable_automation.exceptions import InvalidScheduleError
from durable_automation.testing import TimeMachine
from durable_automation.timers import SchedulePolicy, Timer, task, task_info
from durable_automation.workflows import Retry
from tests.helpers.polling import eventually

INTERVAL = timedelta(seconds=10)
_tm: dict[str, TimeMachine] = {}
fired: list[dict[str, Any]] = []


async def _now() -> datetime:
    env = _tm["tm"].env
    assert env is not None
    return await env.get_current_time()


async def _take_virtual_time() -> None:
    info = task_info()
    if info.attempt == 1:
        fired.append({"tick": info.tick, "due": info.scheduled_at, "began": await _now()})
        raise RuntimeError("first attempt: the retry backoff is the callback's duration")
    fired[-1]["ended"] = await _now()


@task(name="tests.timers.overrun_2_5",
      retry=Retry(max_attempts=2, base_delay=INTERVAL * 2.5))
async def overrun_2_5() -> None:
    await _take_virtual_time()


@task(name="tests.timers.takes_5s", retry=Retry(max_attempts=2, base_delay=timedelta(seconds=5)))
async def takes_5s() -> None:
    await _take_virtual_time()


release = threading.Event()
log: list[str] = []


@task(name="tests.timers.blocks")
def blocks() -> None:
    log.append("callback-began")
    release.wait(30)
    log.append("callback-ended")


@pytest.fixture
def tm(time_machine: TimeMachine) -> TimeMachine:
    _tm["tm"] = time_machine
    fired.clear()
    log.clear()
    release.clear()
    return time_machine


def test_fixed_overrun_fires_on_the_original_grid(tm: TimeMachine) -> None:
    timer = Timer(INTERVAL, overrun_2_5, SchedulePolicy.FIXED, name="fixed-overrun").start()
    tm.settle()
    for _ in range(3):
        tm.advance(INTERVAL * 3)  # to the end of the callback and on to the next tick
    tm.advance(INTERVAL * 2.5)  # let the last callback finish: stop() would wait for it
    timer.stop()
    assert [f["tick"] for f in fired] == [0, 3, 6, 9]
    anchor = fired[0]["due"]
    for f in fired:
        assert f["due"] == anchor + f["tick"] * INTERVAL
        assert timedelta(0) <= f["began"] - f["due"] < timedelta(seconds=1)
        assert f["ended"] - f["began"] >= INTERVAL * 2.5


def test_delay_spaces_ticks_from_completion(tm: TimeMachine) -> None:
    timer = Timer(INTERVAL, takes_5s, SchedulePolicy.DELAY, name="delay-spacing").start()
    tm.settle()
    for _ in range(3):
        tm.advance(INTERVAL + timedelta(seconds=5))
    tm.advance(timedelta(seconds=5))
    status = timer.stop()
    assert status is not None and status.fired == 4
    assert [f["tick"] for f in fired] == [0, 1, 2, 3]
    gaps = [(b["began"] - a["ended"]) for a, b in itertools.pairwise(fired)]
    assert all(INTERVAL <= gap < INTERVAL + timedelta(seconds=1) for gap in gaps), gaps


def test_fixed_without_overrun_keeps_every_tick(tm: TimeMachine) -> None:
    timer = Timer(INTERVAL, takes_5s, name="fixed-plain").start()
    tm.settle()
    for _ in range(3):
        tm.advance(INTERVAL)
    tm.advance(timedelta(seconds=5))
    timer.stop()
    assert [f["tick"] for f in fired] == [0, 1, 2, 3]
    starts = [f["began"] for f in fired]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(abs(gap - INTERVAL) < timedelta(seconds=1) for gap in gaps), gaps


def test_stop_during_a_callback_lets_it_finish_and_starts_no_other(tm: TimeMachine) -> None:
    timer = Timer(INTERVAL, blocks, name="stop-during").start()
    eventually(lambda: log == ["callback-began"])
    stopper = threading.Thread(target=lambda: (timer.stop(), log.append("stop-returned")))
    stopper.start()
    eventually(lambda: timer.status() is not None and _stop_pending(tm, timer.id))
    assert log == ["callback-began"], "stop() returned while its callback was still running"
    release.set()
    stopper.join(30)
    assert log == ["callback-began", "callback-ended", "stop-returned"]
    tm.advance(INTERVAL * 5)
    assert log.count("callback-began") == 1
    assert not timer.is_running()


def _stop_pending(tm: TimeMachine, workflow_id: str) -> bool:
    """The stop update has reached the workflow (it waits for the callback)."""
    async def check() -> bool:
        assert tm.env is not None
        description = await tm.env.client.get_workflow_handle(workflow_id).describe()
        return description.raw_description.pending_workflow_task is not None and (
            len(description.raw_description.pending_activities) == 1
        )
    return bool(tm._run(check()))


def test_restarting_a_running_timer_attaches_and_keeps_its_phase(tm: TimeMachine) -> None:
    first = Timer(INTERVAL, takes_5s, name="attach").start()
    tm.settle()
    tm.advance(INTERVAL)
    again = Timer(INTERVAL, takes_5s, name="attach").start()  # a restarted process
    tm.advance(INTERVAL)
    tm.advance(timedelta(seconds=5))
    status = again.stop()
    assert status is not None and status.fired == 3
    assert status.anchor == fired[0]["due"]
    assert not first.is_running()


def test_invalid_intervals_are_rejected() -> None:
    with pytest.raises(InvalidScheduleError, match="interval must be positive"):
        Timer(0, takes_5s)
    with pytest.raises(InvalidScheduleError):
        Timer("10s", takes_5s)  # type: ignore[arg-type]


ticks: list[int] = []


@task(name="tests.timers.count")
def count() -> None:
    ticks.append(task_info().tick or 0)


def test_long_running_timer_continues_as_new_and_keeps_its_grid(tm: TimeMachine) -> None:
    from durable_automation.timers._workflows import TICKS_PER_RUN

    ticks.clear()
    timer = Timer(timedelta(seconds=1), count, name="many-ticks").start()
    tm.settle()
    first = timer.status()
    tm.advance(seconds=TICKS_PER_RUN + 20)
    status = timer.stop()
    assert status is not None and status.anchor == first.anchor  # type: ignore[union-attr]
    assert ticks == list(range(TICKS_PER_RUN + 21))

    # The run that stopped is not the first: the timer continued-as-new on the way.
    assert tm.env is not None
    description = tm._run(tm.env.client.get_workflow_handle(timer.id).describe())
    assert description.run_id != description.raw_description.workflow_execution_info.first_run_id
