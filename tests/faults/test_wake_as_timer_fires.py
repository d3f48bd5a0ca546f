"""A signal that wakes a workflow as its timer fires must not make it cancel that timer.

Temporal's time-skipping test server refuses a workflow task whose completion cancels
a timer that fired while the task ran (``INVALID_ARGUMENT``, "invalid history builder
state for action", from its ``processCancelTimer``), after marking it complete: the
task stays started and keeps virtual time locked, so the next ``advance`` hangs until
its RPC deadline. The
debounce, batch, agent, step-wait, signal-hub, agent-directory and cancel-on-index
workflows, and the start gate of a run waiting for an event's time (its reschedule
signal), waited with ``wait_condition(..., timeout=...)``, which cancels the timer
when the signal or update wins; they now let their timers fire (``_worker/alarm.py``,
each behind its ``da-*-alarm`` patch). The timer workflow was never affected (see its
test).

The race is made certain (``tests/helpers/wake_race.py``): an interceptor holds the
workflow task of one chosen signal for ``HOLD`` seconds of real time (the server's
clock runs in real time while a task holds the time-skipping lock), and the signal is
sent ``LEAD`` before the timer is due, so the timer fires on the server while that
task runs. A test that would hang fails after ``BOUND`` seconds instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType

from durable_automation import engine
from durable_automation._core.cancel_on import CANCEL_INDEX_WORKFLOW
from durable_automation._core.channels import HUB_WORKFLOW, IDLE_TIMEOUT, hub_id
from durable_automation._core.wire import RESCHEDULE_SIGNAL, WAKE_SIGNAL, Waiter
from durable_automation.agents import agent, handler
from durable_automation.agents._store import directory_put, directory_query
from durable_automation.agents._wire import AGENT_DELIVERY_SIGNAL
from durable_automation.events import Batch, Event, on_event
from durable_automation.testing import TimeMachine
from durable_automation.timers import Timer, debounce_task, task
from durable_automation.timers._debounce_workflow import COLLECT_SIGNAL
from durable_automation.timers._timer import astop_timer_workflow
from durable_automation.workflows import complete, event_workflow, step, wait, workflow
from tests.helpers.wake_race import (
    BOUND,
    HELD,
    HoldingTimeMachine,
    advance_bounded,
    sleep_until_just_before,
    timer_events,
)

SEEN: list[Any] = []


@pytest.fixture
def tm() -> Iterator[TimeMachine]:
    SEEN.clear()
    HELD.clear()
    with HoldingTimeMachine() as machine:
        yield machine


@task("tests.wake_race.flush")
def flush(items: list[Any]) -> None:
    SEEN.append(("flush", list(items)))


@on_event("wake_race_reading", batch=Batch(max_size=2, timeout=timedelta(seconds=10)))
def wake_race_readings(events: list[Event]) -> None:
    SEEN.append(("batch", [e.data["value"] for e in events]))


@agent("wake_race_stay", spawn_on="wake_race_opened", match={"id": "{{ ctx.stay_id }}"})
class Stay:
    """Counts notes; reminds ten minutes before checkout (an offset handler: a timer)."""

    class Context(BaseModel):
        stay_id: int
        notes: int = 0
        reminded: bool = False

    @classmethod
    def create_context(cls, event: Event) -> Context:
        return cls.Context(stay_id=event.data["id"])

    @handler("wake_race_note")
    def note(self, ctx: Context) -> None:
        ctx.notes += 1

    @handler("wake_race_checkout_due", offset=timedelta(minutes=-10))
    def remind(self, ctx: Context) -> None:
        ctx.reminded = True


@task("tests.wake_race.tick")
def tick() -> None:
    SEEN.append("tick")


@workflow("wake_race_waiter")
class SignalWaiter:
    """Waits up to ten seconds for ``wake_race:go``."""

    class Context(BaseModel):
        item: int

    @classmethod
    def create_context(cls, item: int) -> Context:
        return cls.Context(item=item)

    @step(start=True)
    def begin(self) -> Any:
        return wait("wake_race:go", timeout=timedelta(seconds=10), on_timeout="gave_up",
                    then="finish")

    @step()
    def finish(self) -> Any:
        return complete(outcome="woken")

    @step()
    def gave_up(self) -> Any:
        return complete(outcome="timed out")


@event_workflow("wake_race_departure_due", offset=timedelta(minutes=-30),
                name="wake_race_departure")
class DepartureReminder:
    """Starts half an hour before a departure (its start gate: a timer)."""

    class Context(BaseModel):
        pass

    @step(start=True)
    def remind(self) -> Any:
        return complete(reminded=True)


def test_an_item_as_the_debounce_window_ends(tm: TimeMachine) -> None:
    window = timedelta(seconds=10)
    t0 = tm.now()
    handle = debounce_task(flush, "k", window, collect=1)
    sleep_until_just_before(tm, t0 + window)
    HELD.append(COLLECT_SIGNAL)
    debounce_task(flush, "k", window, collect=2)
    advance_bounded(tm, seconds=15)
    assert SEEN == [("flush", [1, 2])]
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, handle.id)


def test_an_event_that_fills_a_batch_as_its_timeout_ends(tm: TimeMachine) -> None:
    t0 = tm.now()
    engine.emit("wake_race_reading", data={"value": 1})
    sleep_until_just_before(tm, t0 + timedelta(seconds=10))
    HELD.append("collect")
    engine.emit("wake_race_reading", data={"value": 2})
    advance_bounded(tm, seconds=15)
    assert SEEN == [("batch", [1, 2])]
    kinds = timer_events(tm, "batch:wake_race_readings:all")
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in kinds


def test_an_event_for_an_agent_as_its_offset_timer_fires(tm: TimeMachine) -> None:
    data = {"id": 7}
    [run] = engine.emit("wake_race_opened", data=data)
    due = tm.now() + timedelta(hours=1)
    engine.handle_event_scheduled(Event(name="wake_race_checkout_due", id="due-7", data=data,
                                        at=due, scheduled=True))
    tm.settle()
    [timer] = run.agent_state().timers  # type: ignore[attr-defined]
    sleep_until_just_before(tm, timer.due)
    HELD.append(AGENT_DELIVERY_SIGNAL)
    engine.emit("wake_race_note", data=data)
    advance_bounded(tm, minutes=1)
    state = run.agent_state()  # type: ignore[attr-defined]
    assert state.context["notes"] == 1 and state.context["reminded"] is True, state.context
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, run.id)


def test_a_signal_as_a_step_wait_times_out(tm: TimeMachine) -> None:
    run = engine.start("wake_race_waiter", item=1)
    tm.settle()
    deadline = run.state().deadline
    assert deadline is not None
    sleep_until_just_before(tm, deadline)
    HELD.append(WAKE_SIGNAL)
    assert engine.signal("wake_race:go") == 1
    advance_bounded(tm, seconds=15)
    assert run.result(timeout=5) == {"outcome": "woken"}
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, run.id)


def test_a_stop_as_a_timer_ticks(tm: TimeMachine) -> None:
    # Not affected: the timer workflow completes in the task that cancels its timer, and
    # the server refuses to complete a run with an event it has not seen (the fire): it
    # fails that task, and the retry sees the fire. One failed task, time not locked.
    ticker = Timer(timedelta(seconds=10), tick, name="wake-race-ticker").start()
    tm.settle()
    status = ticker.status()
    assert status is not None and status.next_fire_at is not None
    sleep_until_just_before(tm, status.next_fire_at)
    HELD.append("stop")
    try:
        tm._run(asyncio.wait_for(astop_timer_workflow(ticker.id), BOUND))
    except Exception as err:  # noqa: BLE001 - a timeout, however the client words it
        pytest.fail(f"stop() got no answer within {BOUND} s: {err!r}")
    advance_bounded(tm, seconds=15)
    assert SEEN == ["tick"]  # the first tick, at the start; none after the stop


def test_a_put_as_a_directory_expires(tm: TimeMachine) -> None:
    assert tm.env is not None
    client, expires = tm.env.client, tm.now() + timedelta(hours=1)
    tm._run(directory_put(client, tm.task_queue, "wake-race-dir", ["a"], "x", expires_at=expires))
    sleep_until_just_before(tm, expires)
    HELD.append("put")
    try:
        tm._run(asyncio.wait_for(directory_put(
            client, tm.task_queue, "wake-race-dir", ["b"], "x",
            expires_at=expires + timedelta(hours=1)), BOUND))
    except Exception as err:  # noqa: BLE001 - a timeout, however the client words it
        pytest.fail(f"put got no answer within {BOUND} s: {err!r}")
    advance_bounded(tm, minutes=1)
    assert tm._run(directory_query(client, "wake-race-dir", "entries")) == {"a": "x", "b": "x"}
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, "wake-race-dir")


def test_a_signal_as_a_cancel_index_forgets_an_event(tm: TimeMachine) -> None:
    assert tm.env is not None
    at = tm.now()
    index_id = "wake-race-index"
    tm._run(tm.env.client.start_workflow(
        CANCEL_INDEX_WORKFLOW, {}, id=index_id, task_queue=tm.task_queue,
        start_signal="occurred", start_signal_args=[{"id": "e1", "at": at.isoformat()}]))
    sleep_until_just_before(tm, at + timedelta(hours=1))
    HELD.append("remove")
    tm._run(tm.env.client.get_workflow_handle(index_id).signal("remove", "nobody"))
    advance_bounded(tm, minutes=15)  # the event forgotten, then idle: the index ends
    assert tm._run(tm.env.client.get_workflow_handle(index_id).result()) is None
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, index_id)


def test_a_registration_as_a_signal_hub_goes_idle(tm: TimeMachine) -> None:
    assert tm.env is not None
    hub = hub_id(tm.task_queue, "wake_race:hub")
    waiter = Waiter(run_id="nobody", seq=1, automation="wake_race_waiter")
    tm._run(tm.env.client.start_workflow(
        HUB_WORKFLOW, [], id=hub, task_queue=tm.task_queue,
        start_signal="register", start_signal_args=[waiter]))
    tm._run(tm.env.client.get_workflow_handle(hub).signal("unregister", waiter))
    tm.settle()
    idle_from = tm.now()
    sleep_until_just_before(tm, idle_from + IDLE_TIMEOUT)
    HELD.append("register")
    tm._run(tm.env.client.get_workflow_handle(hub).signal("register", waiter))
    advance_bounded(tm, minutes=1)
    waiting = tm._run(tm.env.client.get_workflow_handle(hub).query("waiting"))
    assert len(waiting) == 1
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, hub)


def test_a_reschedule_as_a_run_s_start_time_comes(tm: TimeMachine) -> None:
    departs = tm.now() + timedelta(hours=1)
    event = Event(name="wake_race_departure_due", id="dep-1", at=departs, scheduled=True)
    [run] = engine.handle_event_scheduled(event)
    sleep_until_just_before(tm, departs - timedelta(minutes=30))
    HELD.append(RESCHEDULE_SIGNAL)
    moved = Event(name="wake_race_departure_due", id="dep-1", at=departs + timedelta(hours=1),
                  scheduled=True)
    assert engine.handle_event_rescheduled(moved) == 1
    advance_bounded(tm, minutes=15)
    state = run.state()  # not started at the old time: it moved an hour later
    assert (state.phase, state.deadline) == ("scheduled", moved.at - timedelta(minutes=30))
    advance_bounded(tm, hours=1)
    assert run.result(timeout=5) == {"reminded": True}
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, run.id)
