"""cancel_on on the dev server, where a run can be cancelled mid-step (the time-skipping
server fails the workflow task that cancels a scheduled or running activity): an event
during a step, and the race of an event routed before its run registered."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from durable_automation import CancelOn, RunCancelledError, engine, step, workflow
from durable_automation.events import Event
from tests.helpers.polling import eventually

CLEANED: list[int] = []


@workflow("co_dev_busy", cancel_on=[
    CancelOn("co_dev_stop", match={"id": "{{ ctx.n }}"}, on_cancel="clean_up"),
])
class Busy:
    class Context(BaseModel):
        n: int
        started: bool = False

    @step(start=True)
    def work(self, ctx):
        time.sleep(4)  # long enough for the event to arrive mid-step

    @step()
    def clean_up(self, ctx):
        CLEANED.append(ctx.n)


def test_an_event_during_a_running_step_cancels_the_run_and_runs_on_cancel(
    dev_worker: Any,
) -> None:
    run = engine.start("co_dev_busy", n=11)
    eventually(lambda: run.state().phase == "running" and run.state().step == "work",
               timeout=30)
    engine.emit("co_dev_stop", data={"id": 11})
    with pytest.raises(RunCancelledError):
        run.result(timeout=60)
    assert run.status() == "cancelled"
    assert CLEANED == [11]


def test_a_run_registering_after_its_event_was_routed_is_cancelled(dev_worker: Any) -> None:
    # The race: the event reached the index before the run registered there (routing
    # won), yet it occurred after the run started. Decided by time, the index cancels
    # the run as it registers, and the run's on_cancel step runs.
    event = Event(name="co_dev_stop", id="ahead", data={"id": 12},
                  at=engine.now() + timedelta(minutes=1))
    engine.handle_event_occurred(event)  # no run registered yet
    run = engine.start("co_dev_busy", n=12)
    with pytest.raises(RunCancelledError):
        run.result(timeout=60)
    assert CLEANED[-1:] == [12]


def test_an_event_that_occurred_before_the_run_started_does_not_cancel_it(
    dev_worker: Any,
) -> None:
    # Delivered late (a relay retrying), after the run started: it occurred before.
    event = Event(name="co_dev_stop", id="before", data={"id": 13},
                  at=engine.now() - timedelta(minutes=1))
    run = engine.start("co_dev_busy", n=13)
    eventually(lambda: run.state().step == "work", timeout=30)
    engine.handle_event_occurred(event)
    assert run.result(timeout=60) == {}
