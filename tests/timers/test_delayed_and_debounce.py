"""schedule_task and debounce_task on the time-skipping server."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from durable_automation.exceptions import RunCancelledError, UnknownTaskError
from durable_automation.testing import TimeMachine
from durable_automation.timers import (
    adebounce_task,
    debounce_task,
    schedule_task,
    task,
    task_info,
)
from tests.helpers.polling import eventually

calls: list[tuple[str, Any]] = []
batches: dict[str, list[list[Any]]] = defaultdict(list)


@task(name="tests.timers.remember")
def remember(label: str, value: int = 0) -> int:
    calls.append((label, task_info().scheduled_at))
    return value * 2


@task(name="tests.timers.collect_batch")
def collect_batch(items: list[Any]) -> None:
    batches[task_info().key or ""].append(list(items))


@pytest.fixture(autouse=True)
def _clean() -> None:
    calls.clear()
    batches.clear()


def test_delayed_task_runs_once_after_its_delay(time_machine: TimeMachine) -> None:
    start = time_machine.now()
    handle = schedule_task(remember, args=["later"], kwargs={"value": 21},
                           delay=timedelta(hours=2))
    assert handle.id.startswith("delayed:tests.timers.remember:")
    time_machine.advance(minutes=119)
    assert calls == []
    assert handle.status() == "scheduled"
    time_machine.advance(minutes=1)
    assert [label for label, _ in calls] == ["later"]
    assert calls[0][1] == pytest.approx(start + timedelta(hours=2), abs=timedelta(seconds=1))
    assert handle.result() == 42
    assert handle.status() == "completed"


def test_cancelled_delayed_task_never_runs(time_machine: TimeMachine) -> None:
    handle = schedule_task("tests.timers.remember", args=["never"], delay=timedelta(minutes=5))
    time_machine.advance(minutes=4)
    handle.cancel()
    time_machine.advance(minutes=10)
    assert calls == []
    assert handle.status() == "cancelled"
    with pytest.raises(RunCancelledError):
        handle.result()


def test_same_id_schedules_once(time_machine: TimeMachine) -> None:
    first = schedule_task(remember, args=["once"], delay=60, id="order-7")
    second = schedule_task(remember, args=["once"], delay=60, id="order-7")
    assert first.id == second.id
    time_machine.advance(minutes=2)
    assert len(calls) == 1


def test_task_names_resolve_only_to_registered_tasks() -> None:
    with pytest.raises(UnknownTaskError, match=r"os\.system"):
        schedule_task("os.system", args=["true"], delay=1)


def test_debounce_flushes_once_per_quiet_window_in_arrival_order(
    time_machine: TimeMachine,
) -> None:
    window = timedelta(seconds=30)
    for i in range(5):
        debounce_task(collect_batch, "listing:1", window, collect=i)
        time_machine.advance(seconds=10)  # each item arrives inside the window: no flush yet
    assert batches == {}
    time_machine.advance(seconds=20)
    assert batches == {"listing:1": [[0, 1, 2, 3, 4]]}
    debounce_task(collect_batch, "listing:1", window, collect="next")
    time_machine.advance(seconds=30)
    assert batches["listing:1"] == [[0, 1, 2, 3, 4], ["next"]]


def test_max_wait_bounds_a_window_that_keeps_growing(time_machine: TimeMachine) -> None:
    for i in range(6):
        debounce_task(collect_batch, "busy", timedelta(seconds=30), collect=i,
                      max_wait=timedelta(seconds=45))
        time_machine.advance(seconds=20)
    time_machine.advance(seconds=30)
    assert batches["busy"] == [[0, 1, 2], [3, 4, 5]]


flush_gate = threading.Event()


@task(name="tests.timers.slow_batch")
def slow_batch(items: list[Any]) -> None:
    batches["slow"].append(list(items))
    if len(batches["slow"]) == 1:
        flush_gate.wait(10)


def test_item_arriving_during_a_flush_lands_in_the_next_window(time_machine: TimeMachine) -> None:
    flush_gate.clear()
    debounce_task(slow_batch, "k", timedelta(seconds=10), collect="a")
    advancing = threading.Thread(target=time_machine.advance, kwargs={"seconds": 10})
    advancing.start()  # returns only when the (blocked) flush has finished
    eventually(lambda: batches["slow"] == [["a"]])
    debounce_task(slow_batch, "k", timedelta(seconds=10), collect="b")  # during the flush
    assert batches["slow"] == [["a"]]
    flush_gate.set()
    advancing.join(10)
    assert not advancing.is_alive()
    time_machine.advance(seconds=10)
    assert batches["slow"] == [["a"], ["b"]]


async def test_10000_items_over_100_keys_flush_exactly_once_each(
    time_machine: TimeMachine,
) -> None:
    window = timedelta(minutes=1)
    semaphore = asyncio.Semaphore(64)

    async def send(i: int) -> None:
        async with semaphore:
            await adebounce_task(collect_batch, f"key-{i % 100}", window, collect=i)

    await asyncio.gather(*(send(i) for i in range(10_000)))
    await time_machine.aadvance(window)
    assert len(batches) == 100
    assert all(len(flushes) == 1 for flushes in batches.values())
    delivered = [item for flushes in batches.values() for item in flushes[0]]
    assert sorted(delivered) == list(range(10_000))
    for key, flushes in batches.items():
        n = int(key.removeprefix("key-"))
        assert flushes[0] == sorted(flushes[0]) and flushes[0][0] == n  # arrival order


def test_seed_000_call_forms(time_machine: TimeMachine) -> None:
    # events/callbacks.py: debounce_task(task_name=..., debounce_key=..., ...)
    debounce_task(task_name="tests.timers.collect_batch", debounce_key="callback:1:x",
                  debounce_window=timedelta(seconds=5), collect="evt-1")
    # queues/q2_executor.py: schedule_task(fn, args=list(args), delay=delay)
    schedule_task(remember, args=["queued"], delay=timedelta(seconds=5))
    time_machine.advance(seconds=5)
    assert batches["callback:1:x"] == [["evt-1"]]
    assert [label for label, _ in calls] == ["queued"]
