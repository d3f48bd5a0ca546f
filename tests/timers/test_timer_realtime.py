"""FIXED overrun in real time on the dev server: a callback that really takes 2.5 intervals
fires at ticks 0, 3, 6 of the original grid, never overlapping, no burst afterwards.
(The time-skipping version in test_timer_policies.py builds the overrun from a retry
backoff, because that server does not skip time while an activity runs.)"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from datetime import timedelta

from durable_automation.timers import SchedulePolicy, Timer, TimerManager, task, task_info
from tests.helpers.polling import eventually

INTERVAL = timedelta(seconds=2)  # 2.5 intervals leave 1 s of slack before each next tick
calls: list[dict] = []
_lock = threading.Lock()


@task(name="tests.timers.realtime_overrun")
def realtime_overrun() -> None:
    info = task_info()
    began = time.time()
    time.sleep(2.5 * INTERVAL.total_seconds())
    with _lock:
        calls.append({"tick": info.tick, "due": info.scheduled_at.timestamp(), "began": began,
                      "ended": time.time()})


def test_fixed_overrun_in_real_time_keeps_the_grid(dev_worker):
    calls.clear()
    timer = Timer(INTERVAL, realtime_overrun, SchedulePolicy.FIXED, name="rt-overrun").start()
    eventually(lambda: len(calls) >= 3, timeout=60, message="three callbacks")
    timer.stop()
    count = len(calls)
    assert [c["tick"] for c in calls[:3]] == [0, 3, 6]
    anchor = calls[0]["due"]
    for c in calls:
        assert abs(c["due"] - (anchor + c["tick"] * INTERVAL.total_seconds())) < 0.01
    for previous, following in itertools.pairwise(calls):
        assert following["began"] >= previous["ended"], "callbacks overlapped"
    time.sleep(2 * INTERVAL.total_seconds())  # real time must pass to show nothing more runs
    assert len(calls) == count, "a callback began after stop() returned"


@task(name="tests.timers.realtime_nothing")
def realtime_nothing() -> None:
    pass


def test_a_stopped_timer_is_no_longer_running_once_stop_returns(dev_worker):
    # Seed 003: stop_timer / stop_all, then timer_count() counts what still runs. The
    # workflow used to close only just after the stop update returned, so a count made
    # at once still saw it (visibility lags, and a direct describe said Running).
    for _ in range(5):
        manager = TimerManager(name=f"rt-stop-{uuid.uuid4().hex[:8]}")
        for timer_id in ("a", "b", "c"):
            manager.start_timer(timer_id, {"type": "cron", "expression": "* * * * * *"})
        assert manager.timer_count() == 3
        manager.stop_timer("a")
        assert manager.timer_count() == 2
        assert manager.stop_all() == 2
        assert manager.timer_count() == 0
    timer = Timer(1, realtime_nothing, name=f"rt-stop-{uuid.uuid4().hex[:8]}").start()
    timer.stop()
    assert not timer.is_running()
