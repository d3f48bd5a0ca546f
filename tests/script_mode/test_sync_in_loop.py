"""Sync ``Timer``/``TimerManager`` calls made inside a running event loop, as the seeds make
them: queued without blocking the loop, in call order, no callback after ``stop()``,
and no error lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from durable_automation import TimerManager
from durable_automation.exceptions import SyncCallInEventLoopError
from durable_automation.timers import Timer, task
from tests.helpers.polling import eventually

pytestmark = pytest.mark.devserver

calls: list[float] = []


@task(name="tests.sync_in_loop.beat")
def beat() -> None:
    calls.append(time.monotonic())


def test_sync_calls_inside_a_loop_take_effect_in_call_order(dev_worker: Any) -> None:
    timer = Timer(1, beat, name=f"order-{uuid.uuid4().hex[:8]}")

    async def main() -> None:
        began = time.monotonic()
        assert timer.start() is timer
        assert timer.stop() is None
        timer.start()
        # Queued, not run: the loop was not blocked by three server round trips.
        assert time.monotonic() - began < 0.05
        await timer.aflush()
        assert await timer.ais_running()  # start, stop, start: running
        timer.stop()
        timer.start()
        timer.stop()
        await timer.aflush()
        assert not await timer.ais_running()  # ..., stop, start, stop: stopped

    asyncio.run(main())


def test_no_callback_begins_after_a_queued_stop_returns(dev_worker: Any) -> None:
    calls.clear()
    timer = Timer(1, beat, name=f"gate-{uuid.uuid4().hex[:8]}")

    async def main() -> tuple[float, Any]:
        timer.start()
        while len(calls) < 2:  # noqa: ASYNC110 - filled by the worker's activity thread
            await asyncio.sleep(0.05)

        async def hold() -> None:
            await asyncio.sleep(2.5)

        # Something slow ahead in the timer's queue: the server-side stop waits behind it
        # while ticks keep falling due; the local gate must refuse them.
        timer._calls.call(hold, name="test.hold")
        timer.stop()
        stopped_at = time.monotonic()
        await timer.aflush()
        return stopped_at, await timer.astatus()

    stopped_at, status = asyncio.run(main())
    assert all(at < stopped_at for at in calls), (calls, stopped_at)
    assert status is not None and not status.running
    assert status.fired > len(calls)  # ticks fell due after stop(); none ran a callback


def test_an_error_of_a_queued_call_surfaces_on_the_next_call(dev_worker: Any) -> None:
    timer = Timer(1, beat, name="x" * 2000)  # the server refuses a workflow id this long

    async def main() -> None:
        timer.start()  # queued; fails later, on the server
        await asyncio.sleep(0)
        deadline = time.monotonic() + 15
        # A poll, not an asyncio.Event: the queue drains on the engine's loop thread.
        while timer._calls.pending and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        with pytest.raises(Exception) as raised:
            timer.stop()  # the stop still runs; the start's error is raised here
        assert any("Timer.start()" in note for note in raised.value.__notes__)
        await timer.aflush()  # reported once, not again

        timer.start()
        with pytest.raises(Exception, match=r"."):  # any message
            await timer.aflush()  # ... or when awaited

    asyncio.run(main())


def test_other_sync_calls_inside_a_loop_keep_the_guard(dev_worker: Any) -> None:
    timer = Timer(1, beat, name=f"guard-{uuid.uuid4().hex[:8]}")

    async def main() -> None:
        with pytest.raises(SyncCallInEventLoopError, match=r"Timer\.astatus"):
            timer.status()
        with pytest.raises(SyncCallInEventLoopError, match=r"TimerManager\.atimer_count"):
            TimerManager(name="guard").timer_count()

    asyncio.run(main())


def test_timer_manager_calls_inside_a_loop(dev_worker: Any) -> None:
    manager = TimerManager(name=f"loop-{uuid.uuid4().hex[:8]}")

    async def main() -> None:
        assert manager.start_timer("a", {"type": "interval", "seconds": 30}).endswith(":a")
        manager.start_timer("b", {"type": "cron", "expression": "0 0 * * * *"})
        assert manager.stop_timer("a") is None  # queued
        await manager.aflush()
        assert await manager.atimer_ids() == ["b"]
        assert manager.stop_all() is None
        await manager.aflush()
        assert await manager.atimer_count() == 0

    asyncio.run(main())
    eventually(lambda: manager.timer_count() == 0)
