"""cancel_on on the dev server: an event that arrives while a step is running cancels the
run (the step's activity is cancelled under it) and the on_cancel step still runs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import BaseModel

from durable_automation import CancelOn, RunCancelledError, engine, step, workflow
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
