"""Throttle and rate limit per key, in virtual time (time-skipping server): the
limiter counts in its own history with durable timers, so the count holds across
workers and restarts."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.api.enums.v1 import EventType

from durable_automation import engine
from durable_automation._core.flow import limiter_id
from durable_automation.flow import limiter_state
from tests.flow import flow_automations as automations


def test_throttle_delays_runs_beyond_the_limit_to_the_next_free_moment(time_machine):
    t0 = time_machine.now()
    runs = [engine.start("flow_report", account="acme", label=f"r{i}") for i in range(5)]
    other = engine.start("flow_report", account="globex", label="g")
    time_machine.settle()
    time_machine.advance(minutes=3)  # the limiter's durable timers let the rest through
    started = [datetime.fromisoformat(run.result(timeout=90)["at"]) - t0 for run in runs]
    minute = timedelta(minutes=1)
    assert [s // minute for s in started] == [0, 0, 1, 1, 2], started
    # Another key has its own window.
    assert datetime.fromisoformat(other.result(timeout=90)["at"]) - t0 < minute


def test_the_limiter_never_cancels_a_window_timer(time_machine):
    # A timer cancelled in the workflow task during which it fires made the time-skipping
    # server refuse that task and keep it started for good, so virtual time stayed locked
    # (advance() hung until the RPC deadline): the limiter lets its timers fire instead.
    runs = [engine.start("flow_report", account="initech", label=f"i{i}") for i in range(4)]
    assert [run.result(timeout=90)["label"] for run in runs] == ["i0", "i1", "i2", "i3"]
    limiter = time_machine.env.client.get_workflow_handle(
        limiter_id(time_machine.task_queue, "flow_report", "initech"))
    events = time_machine._run(limiter.fetch_history()).events
    kinds = [event.event_type for event in events]
    assert EventType.EVENT_TYPE_TIMER_FIRED in kinds
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in kinds


def test_rate_limit_drops_runs_beyond_the_limit_and_records_them(time_machine):
    automations.HANDLED.clear()
    runs = []
    for i in range(4):
        runs += engine.emit("flow_sms_requested", data={"phone": "555"}, id=f"sms-{i}")
    [elsewhere] = engine.emit("flow_sms_requested", data={"phone": "777"}, id="sms-x")
    results = [run.result(timeout=90) for run in runs]
    assert results[:2] == [{}, {}]
    assert all(r["dropped"].startswith("rate limit: 2 per 1:00:00") for r in results[2:])
    assert sorted(automations.HANDLED) == ["sms-0", "sms-1", "sms-x"]
    assert elsewhere.result(timeout=30) == {}
    state = limiter_state("send_sms", "555")
    assert state is not None and state.dropped_count == 2
    assert [d.run_id for d in state.dropped] == [run.id for run in runs[2:]]
    # An hour later the window is free again.
    time_machine.advance(hours=1, seconds=1)
    [later] = engine.emit("flow_sms_requested", data={"phone": "555"}, id="sms-later")
    assert later.result(timeout=30) == {}
    assert "sms-later" in automations.HANDLED


def test_awaiting_a_run_that_waits_for_a_slot_moves_time_to_what_frees_it(time_machine):
    t0 = time_machine.now()
    first = engine.start("flow_clean_room", room=12, crew="A")
    second = engine.start("flow_clean_room", room=12, crew="B")
    # second has no timer of its own: time moves to the holder's timer, then to its own.
    done = datetime.fromisoformat(second.result(timeout=30)["at"]) - t0
    assert timedelta(minutes=60) <= done < timedelta(minutes=61)
    assert first.status() == "completed"


def test_runs_with_a_start_offset_ask_for_their_slot_when_their_time_comes(time_machine):
    t0 = time_machine.now()
    [first] = engine.emit("flow_checkin_due", data={"room": 7, "guest": "ann"}, id="c1")
    [second] = engine.emit("flow_checkin_due", data={"room": 7, "guest": "bob"}, id="c2")
    [other] = engine.emit("flow_checkin_due", data={"room": 8, "guest": "cy"}, id="c3")
    time_machine.settle()
    time_machine.advance(hours=3)
    ends = {run.result(timeout=90)["guest"]: datetime.fromisoformat(run.result()["at"]) - t0
            for run in (second, first, other)}
    minute = timedelta(minutes=1)
    # Both of room 7 ask at the same instant (either may go first); room 8 waits for none.
    assert sorted([ends["ann"] // minute, ends["bob"] // minute]) == [90, 120], ends
    assert ends["cy"] // minute == 90, ends
