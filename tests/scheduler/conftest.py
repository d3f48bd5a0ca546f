"""Scheduler fixtures: a scheduler on the dev worker, stopped or started."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

import pytest

from durable_automation._core.runtime import LoopThread
from durable_automation.scheduler import Scheduler
from tests.helpers.polling import eventually


@contextmanager
def started(scheduler: Scheduler) -> Iterator[Future[None]]:
    """Run ``await scheduler.start()`` on a loop of its own, as a script's main task would;
    ``stop()`` it on exit."""
    runner = LoopThread("scheduler-under-test")
    running = runner.submit(scheduler.start())
    try:
        eventually(scheduler.is_running, timeout=5)
        yield running
    finally:
        scheduler.stop()
        try:
            running.result(timeout=10)
        finally:
            runner.stop()


@pytest.fixture
def stopped(dev_worker: object) -> Iterator[Scheduler]:
    """A scheduler of its own name that is not started (its tasks are paused)."""
    made = Scheduler(name=f"t{uuid.uuid4().hex[:8]}")
    yield made
    for name in list(made.tasks):
        made.remove_task(name)


@pytest.fixture
def scheduler(stopped: Scheduler) -> Iterator[Scheduler]:
    """A started scheduler (``start()`` running on a loop of its own)."""
    with started(stopped):
        yield stopped
