"""Under ``time_machine()``, awaiting a result moves virtual time for that run only
(issue 10 item 5): like Temporal's time-skipping environment, but driven per run."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from durable_automation import engine
from durable_automation.exceptions import DurableAutomationError, RunWaitsForeverError
from durable_automation.testing import TimeMachine
from durable_automation.timers import schedule_task
from tests.helpers.history import steps_scheduled
from tests.testing import automations
from tests.workflows import seed_automations  # noqa: F401 - seed 001's CheckoutOpsWF, verbatim

# Wall-clock budget for a wait that skips hours of virtual time. Issue 10 asks for
# under 5 s; the shared test machine is loaded, so the time machine's own start-up is
# kept out of the measurement (it happens in the fixture).
WALL_BUDGET = 5.0


def test_checkout_ops_result_falls_back_when_docs_never_arrive(time_machine: TimeMachine) -> None:
    start = time_machine.now()
    began = time.monotonic()
    run = engine.start("tests_testing_checkout_ops", reservation_id=8)

    assert run.result(timeout=30) == {"final_state": "ok"}
    assert time.monotonic() - began < WALL_BUDGET

    scheduled = steps_scheduled(run.id)
    assert [name for name, _ in scheduled] == [
        "await_docs", "fallback_docs", "notify_housekeeping", "finalize",
    ]
    # The 90-minute timeout fired at its time, not earlier and not much later.
    waited = scheduled[1][1] - scheduled[0][1]
    assert timedelta(minutes=90) <= waited < timedelta(minutes=90, seconds=5)
    ctx = run.context()
    assert (ctx.docs_ready, ctx.notified, ctx.attempts) == (False, True, 2)
    # Only as far as the run needed: 90 minutes plus the 1-second retry backoff.
    assert time_machine.now() - start < timedelta(minutes=91)


def test_seed_event_workflow_result_falls_back_too(time_machine: TimeMachine) -> None:
    reservation = SimpleNamespace(id=11, pk=11)
    began = time.monotonic()
    [run] = engine.emit("checkout_due", entity=reservation, entity_type="hotel.reservation")

    assert run.result(timeout=30) == {"final_state": "ok"}
    assert time.monotonic() - began < WALL_BUDGET
    assert run.context().docs_ready is False


def test_24_hour_sleep_result(time_machine: TimeMachine) -> None:
    start = time_machine.now()
    began = time.monotonic()
    run = engine.start("tests_testing_sleeper", hours=24)

    assert run.result(timeout=30) == {"slept": 1}
    assert time.monotonic() - began < WALL_BUDGET
    elapsed = time_machine.now() - start
    assert timedelta(hours=24) <= elapsed < timedelta(hours=24, minutes=1)


async def test_aresult_advances_time_too(time_machine: TimeMachine) -> None:
    start = await time_machine.anow()
    run = await engine.astart("tests_testing_sleeper", hours=24)

    assert await run.aresult(timeout=30) == {"slept": 1}
    assert await time_machine.anow() - start >= timedelta(hours=24)


def test_result_moves_time_for_the_awaited_run_only(time_machine: TimeMachine) -> None:
    start = time_machine.now()
    short = engine.start("tests_testing_sleeper", hours=1)
    long = engine.start("tests_testing_sleeper", hours=48)

    assert short.result(timeout=30) == {"slept": 1}
    assert time_machine.now() - start < timedelta(hours=2)
    assert long.status() == "waiting"

    assert long.result(timeout=30) == {"slept": 1}
    assert time_machine.now() - start >= timedelta(hours=48)


def test_wait_without_deadline_raises_instead_of_hanging(time_machine: TimeMachine) -> None:
    run = engine.start("tests_testing_forever")
    began = time.monotonic()

    with pytest.raises(RunWaitsForeverError) as caught:
        run.result(timeout=30)

    assert time.monotonic() - began < WALL_BUDGET
    error = caught.value
    assert isinstance(error, DurableAutomationError)
    assert error.run_id == run.id
    message = str(error)
    assert "tests:testing:window_open" in message
    assert "engine.signal" in message  # says what to do
    # Nothing was lost: the run still waits and a signal finishes it.
    assert run.status() == "waiting"
    assert engine.signal("tests:testing:window_open", {"opened": True}) == 1
    assert run.result(timeout=30) == {"opened": True}


def test_task_handle_result_with_a_three_hour_delay(time_machine: TimeMachine) -> None:
    start = time_machine.now()
    began = time.monotonic()
    handle = schedule_task(automations.double, args=[21], delay=timedelta(hours=3))

    assert handle.result() == 42
    assert time.monotonic() - began < WALL_BUDGET
    assert time_machine.now() - start >= timedelta(hours=3)
    assert handle.status() == "completed"


def test_advance_still_moves_time_by_hand(time_machine: TimeMachine) -> None:
    start = time_machine.now()
    run = engine.start("tests_testing_sleeper", hours=2)
    time_machine.advance(hours=1)
    assert run.status() == "waiting"
    time_machine.advance(hours=1)
    assert run.status() == "completed"
    assert run.result(timeout=30) == {"slept": 1}
    assert time_machine.now() - start == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=5))
