"""What a Scheduler does without touching the server: a new one is empty and not running,
and start()/stop() of a scheduler with no tasks need no connection at all."""

from __future__ import annotations

import asyncio

import pytest

from durable_automation.exceptions import InvalidScheduleError, UnknownTaskError
from durable_automation.scheduler import Scheduler


async def test_an_empty_scheduler_starts_and_stops_without_a_server() -> None:
    scheduler = Scheduler(name="offline")
    assert scheduler.tasks == {} and not scheduler.is_running()
    running = asyncio.create_task(scheduler.start())
    await asyncio.sleep(0.05)
    assert scheduler.is_running()
    scheduler.stop()  # sync, inside the running loop
    await asyncio.wait_for(running, 5)
    assert not scheduler.is_running()


def test_bad_arguments_fail_at_the_call_before_anything_is_sent() -> None:
    scheduler = Scheduler(name="offline")
    with pytest.raises(InvalidScheduleError, match="interval_seconds must be a positive"):
        scheduler.add_task("t", lambda: None, 0)
    with pytest.raises(InvalidScheduleError, match="give interval_seconds or cron"):
        scheduler.add_task("t", lambda: None)
    with pytest.raises(UnknownTaskError):
        scheduler.add_task("t", "no.such.task", 5)
    with pytest.raises(InvalidScheduleError):
        scheduler.update_task_interval("t", -1)
    assert scheduler.tasks == {}


async def test_stop_called_before_the_start_task_began_wins() -> None:
    scheduler = Scheduler(name="offline")
    running = asyncio.create_task(scheduler.start())  # not begun yet
    scheduler.stop()  # called after start(): it takes effect after it
    await asyncio.wait_for(running, 1)
    assert not scheduler.is_running()
    again = asyncio.create_task(scheduler.start())  # a new start() after that stop runs
    await asyncio.sleep(0.05)
    assert scheduler.is_running()
    scheduler.stop()
    await asyncio.wait_for(again, 5)
