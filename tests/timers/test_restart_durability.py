"""Schedules, debounce windows and Timers survive the dev server being killed (SIGKILL)
and restarted on the same database file, with the worker restarted too."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from durable_automation._client.engine import engine
from durable_automation._core.runtime import LoopThread
from durable_automation.devserver import DevServer
from durable_automation.scheduler import Scheduler
from durable_automation.timers import Timer, debounce_task, task, task_info
from durable_automation.worker import AutomationWorker
from tests.helpers.polling import eventually

pytestmark = pytest.mark.devserver

seen: dict[str, list[Any]] = defaultdict(list)


@task(name="tests.restart.tick")
def tick() -> None:
    info = task_info()
    seen[info.origin].append((info.tick, info.scheduled_at))


@task(name="tests.restart.flush")
def flush(items: list[Any]) -> None:
    seen["debounce"].append(list(items))


class _Stack:
    """A worker on its own loop thread, with ``engine`` bound to its client."""

    def __init__(self, server: DevServer, task_queue: str) -> None:
        self.runner = LoopThread("restart-test-worker")

        async def start() -> AutomationWorker:
            client = await server.connect()
            worker = AutomationWorker(client, task_queue, bind_engine=False,
                                      graceful_shutdown=timedelta(seconds=1))
            return await worker.__aenter__()

        self.worker = self.runner.run(start())
        self.previous = engine.bind(self.worker.client, task_queue, self.runner.loop)

    def close(self) -> None:
        engine.restore(self.previous)
        try:
            self.runner.run(self.worker.__aexit__(None, None, None), timeout=30)
        finally:
            self.runner.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    dev = DevServer(ui=False, db_file=tmp_path / "temporal.db", log_file=tmp_path / "server.log")
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


def test_everything_resumes_after_a_server_kill(server: DevServer) -> None:
    seen.clear()
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    stack = _Stack(server, queue)
    scheduler = Scheduler(name="restart")
    timer = Timer(2, tick, name=f"restart-{queue}")
    # The scheduler stays started throughout: a server kill pauses nothing.
    starter = LoopThread("restart-scheduler")
    started = starter.submit(scheduler.start())
    try:
        scheduler.add_task("every1", tick, interval_seconds=1)
        timer.start()
        eventually(lambda: len(seen["timer"]) >= 2 and len(seen["schedule"]) >= 2, timeout=20)
        before = timer.status()
        assert before is not None and before.anchor is not None
        for i in range(5):
            debounce_task(flush, "k", timedelta(seconds=6), collect=i)
    finally:
        stack.close()
    server.kill()
    ticks_before, runs_before = len(seen["timer"]), len(seen["schedule"])
    assert seen["debounce"] == []  # the window was still open when everything died

    server.start()
    stack = _Stack(server, queue)
    try:
        eventually(lambda: seen["debounce"] == [[0, 1, 2, 3, 4]], timeout=30)
        eventually(lambda: len(seen["schedule"]) >= runs_before + 2, timeout=30)
        eventually(lambda: len(seen["timer"]) >= ticks_before + 2, timeout=30)
        after = timer.status()
        assert after is not None and after.anchor == before.anchor  # same phase
        anchor: datetime = before.anchor
        for number, due in seen["timer"]:
            assert due == anchor + number * timedelta(seconds=2)
        numbers = [n for n, _ in seen["timer"]]
        assert numbers == sorted(set(numbers))  # no tick ran twice
        status = scheduler.get_task_status("every1")
        assert status is not None and status["enabled"] and status["interval_seconds"] == 1
        assert scheduler.load() == ["every1"]
        timer.stop()
        scheduler.stop()
        started.result(timeout=10)
        scheduler.remove_task("every1")
        assert seen["debounce"] == [[0, 1, 2, 3, 4]]
    finally:
        stack.close()
        starter.stop()
