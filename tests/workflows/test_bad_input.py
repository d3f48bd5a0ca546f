"""Bad input gets a clear error and loses nothing (issue 7's list, core part)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from durable_automation import (
    InvalidCommandError,
    InvalidContextError,
    RunFailedError,
    complete,
    engine,
    event_workflow,
    get_context,
    sleep,
    step,
    wait,
    workflow,
)
from tests.helpers.history import steps_scheduled


class NotJson:
    """Something a Context cannot store."""


@workflow("bad_unserialisable_start")
class UnserialisableAtStart:
    class Context(BaseModel):
        thing: Any = None

    @step(start=True)
    def a(self):
        return complete()


@workflow("bad_unserialisable_step")
class UnserialisableInStep:
    class Context(BaseModel):
        thing: Any = None

    @step(start=True)
    def a(self):
        get_context().thing = NotJson()
        return complete()


@event_workflow("bad_late_event", offset=timedelta(minutes=-30))
class LateOffset:
    class Context(BaseModel):
        pass

    @step(start=True)
    def go(self):
        return complete(ran=True)


def test_context_that_cannot_be_serialised_at_start_is_refused(time_machine):
    with pytest.raises(InvalidContextError,
                       match=r"UnserialisableAtStart\.Context cannot be stored"):
        engine.start("bad_unserialisable_start", thing=NotJson())


def test_context_made_unserialisable_by_a_step_fails_the_run_clearly(time_machine):
    run = engine.start("bad_unserialisable_step")
    with pytest.raises(RunFailedError,
                       match=r"Context of bad_unserialisable_step\.a cannot be stored"):
        run.result(timeout=20)


def test_offset_in_the_past_runs_at_once(time_machine):
    """Documented: a run whose time (event time + offset) has passed starts immediately."""
    [run] = engine.emit("bad_late_event")  # occurs now; now - 30 min is in the past
    assert run.result(timeout=20) == {"ran": True}
    [(step_name, _at)] = steps_scheduled(run.id)
    assert step_name == "go"


@pytest.mark.parametrize("make", [
    lambda: sleep(timedelta(seconds=-1)),
    lambda: sleep("soon"),
    lambda: wait(""),
    lambda: wait("x", timeout=-5),
])
def test_bad_command_arguments_are_refused_where_written(make):
    with pytest.raises(InvalidCommandError):
        make()
