"""The seed's ReservationJourney and GuestSupport agents under time_machine (virtual time)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_automation import engine
from durable_automation.agents import AgentManager, claims
from durable_automation.events import Event

from . import seed_agents
from .seed_agents import SENT

SLACK = timedelta(seconds=2)  # an immediate handler starts within a workflow task of the event


@pytest.fixture(autouse=True)
def clear_sent():
    SENT.clear()
    yield
    SENT.clear()


def scheduled(name, entity, at, entity_type):
    return Event(name=name, id=f"{name}-{entity.id}", entity_type=entity_type,
                 entity_id=str(entity.id), at=at, scheduled=True, _entity=entity)


def ran(history):
    return [(r.handler, r.outcome) for r in history]


def test_reservation_journey_runs_each_handler_at_its_time(time_machine, world):
    tm = time_machine
    t0 = tm.now()
    guest = world.add("hotel.guest", id=7, name="Ada")
    res = world.add("hotel.reservation", id=1, guest=guest, checkin_at=t0 + timedelta(days=2),
                    checkout_at=t0 + timedelta(days=5))
    [journey] = engine.emit("reservation_created", entity=res, entity_type="hotel.reservation")
    assert journey.id == "agent:reservation_journey:id=1"
    engine.emit("reservation_confirmed", entity=res, entity_type="hotel.reservation")
    checkin = scheduled("checkin_due", res, res.checkin_at, "hotel.reservation")
    checkout = scheduled("checkout_due", res, res.checkout_at, "hotel.reservation")
    engine.handle_event_scheduled(checkin)
    engine.handle_event_scheduled(checkout)
    tm.settle()

    run = AgentManager.get("reservation_journey", "id=1")
    assert [(t.handler, t.due) for t in run.timers()] == [
        ("send_pre_checkin", res.checkin_at - timedelta(hours=3)),
        ("send_feedback_request", res.checkout_at + timedelta(hours=1)),
    ]
    assert SENT == [("email", "Ada", "Your booking is confirmed!")]

    tm.advance(res.checkin_at - timedelta(hours=3) - t0 - timedelta(seconds=1))
    assert len(SENT) == 1  # one second before: not yet
    tm.advance(seconds=1)
    assert SENT[-1] == ("sms", "Ada", "Check-in opens soon!")
    tm.advance(hours=3)
    engine.handle_event_occurred(checkin)  # what the scheduled-event timer does at checkin_at
    tm.settle()
    assert SENT[-1] == ("message", "Ada", "Welcome! Your room is ready.")
    tm.advance(res.checkout_at - tm.now())
    engine.handle_event_occurred(checkout)
    tm.advance(minutes=59)
    assert len(SENT) == 3
    tm.advance(minutes=1)
    assert SENT[-1] == ("email", "Ada", "How was your stay?")

    history = run.history()
    assert ran(history) == [("send_confirmation", "ran"), ("send_pre_checkin", "ran"),
                            ("send_welcome", "ran"), ("send_feedback_request", "ran")]
    expected = [t0, res.checkin_at - timedelta(hours=3), res.checkin_at,
                res.checkout_at + timedelta(hours=1)]
    for record, when in zip(history, expected, strict=True):
        assert when <= record.at <= when + SLACK, (record.handler, record.at, when)
    assert [r.due for r in history] == [None, expected[1], None, expected[3]]
    ctx = run.context()
    assert ctx.reminder_sent and ctx.welcome_sent and ctx.guest_name == "Ada"
    assert run.timers() == []
    assert [r.id for r in AgentManager.list_active("reservation_journey")] == [run.id]


def test_moved_date_moves_the_timer_and_cancellation_drops_it(time_machine, world):
    tm = time_machine
    t0 = tm.now()
    res = world.add("hotel.reservation", id=2, guest=world.add("hotel.guest", id=8, name="Bo"))
    engine.emit("reservation_created", entity=res, entity_type="hotel.reservation")
    checkin = scheduled("checkin_due", res, t0 + timedelta(days=1), "hotel.reservation")
    checkout = scheduled("checkout_due", res, t0 + timedelta(days=3), "hotel.reservation")
    engine.handle_event_scheduled(checkin)
    engine.handle_event_scheduled(checkout)
    moved = scheduled("checkin_due", res, t0 + timedelta(days=2), "hotel.reservation")
    assert engine.handle_event_rescheduled(moved) >= 1
    engine.handle_event_cancelled(checkout)
    tm.settle()
    run = AgentManager.get("reservation_journey", "id=2")
    assert [(t.handler, t.due) for t in run.timers()] == [
        ("send_pre_checkin", t0 + timedelta(days=2, hours=-3))]

    tm.advance(days=1)  # the old due time passes: nothing
    assert SENT == []
    tm.advance(days=3)
    assert SENT == [("sms", "Bo", "Check-in opens soon!")]
    history = run.history()
    assert ran(history) == [("send_feedback_request", "dropped"), ("send_pre_checkin", "ran")]
    assert history[1].due == t0 + timedelta(days=2, hours=-3)


def test_guest_support_routes_messages_by_sender_and_honours_claims(time_machine, world):
    tm = time_machine
    booking = world.add("hotel.booking", id=10, guest_id=5)
    [support, triage] = sorted(engine.emit("booking_created", entity=booking,
                                           entity_type="hotel.booking"), key=lambda r: r.id)
    assert (support.id, triage.id) == ("agent:guest_support:guest_id=5",
                                       "agent:message_triage:guest_id=5")

    def message(mid, sender):
        msg = world.add("hotel.message", id=mid, sender_id=sender)
        engine.emit("message_received", entity=msg, entity_type="hotel.message")
        tm.settle()

    message(100, 5)
    message(101, 6)  # another guest: no support agent for 6
    assert sorted(SENT) == sorted([
        ("support", 5, "handled"), ("triage", 5, "seen"), ("audit", 100, "logged"),
        ("inbox", "100", "routed"), ("audit", 101, "logged"), ("inbox", "101", "routed")])

    SENT.clear()
    ticket = world.add("hotel.ticket", id=1, guest_id=5)
    engine.emit("ticket_created", entity=ticket, entity_type="hotel.ticket")
    tm.settle()
    assert claims.holder("message_received", {"sender_id": 5}) == support.id
    message(102, 5)  # claimed: only the claimant and the ignores_claims audit see it
    message(103, 6)  # not claimed
    assert sorted(SENT) == sorted([
        ("support", 5, "handled"), ("audit", 102, "logged"),
        ("audit", 103, "logged"), ("inbox", "103", "routed")])

    SENT.clear()
    engine.emit("ticket_resolved", entity=ticket, entity_type="hotel.ticket")
    tm.settle()
    assert claims.holder("message_received", {"sender_id": 5}) is None
    message(104, 5)
    assert sorted(SENT) == sorted([("support", 5, "handled"), ("triage", 5, "seen"),
                                   ("audit", 104, "logged"), ("inbox", "104", "routed")])
    assert triage.context().seen == 2
    assert [r.handler for r in support.history()] == [
        "handle_message", "on_spawn", "handle_message", "cleanup", "handle_message"]


def test_singleton_second_spawn_reaches_the_existing_agent(time_machine, world):
    tm = time_machine
    first = world.add("hotel.booking", id=20, guest_id=9)
    second = world.add("hotel.booking", id=21, guest_id=9)
    runs_a = engine.emit("booking_created", entity=first, entity_type="hotel.booking")
    runs_b = engine.emit("booking_created", entity=second, entity_type="hotel.booking")
    run_b = AgentManager.spawn("guest_support", event=Event(
        name="booking_created", entity_type="hotel.booking", entity_id="21", _entity=second))
    tm.settle()
    assert {r.id for r in runs_a} == {r.id for r in runs_b}
    assert run_b.id == "agent:guest_support:guest_id=9"
    active = [r.id for r in AgentManager.list_active("guest_support") if "guest_id=9" in r.id]
    assert active == ["agent:guest_support:guest_id=9"]
    assert run_b.context().booking_id == 20  # the first spawn's Context is kept


def test_complete_releases_claims_and_ends_the_agent(time_machine, world):
    tm = time_machine
    booking = world.add("hotel.booking", id=30, guest_id=11)
    engine.emit("booking_created", entity=booking, entity_type="hotel.booking")
    ticket = world.add("hotel.ticket", id=3, guest_id=11)
    engine.emit("ticket_created", entity=ticket, entity_type="hotel.ticket")
    tm.settle()
    run = AgentManager.get("guest_support", "guest_id=11")
    assert claims.holder("message_received", {"sender_id": 11}) == run.id
    assert AgentManager.complete(run) == ["message_received"]
    assert claims.holder("message_received", {"sender_id": 11}) is None
    assert run.status() == "completed"
    assert run.id not in [r.id for r in AgentManager.list_active("guest_support")]


_ = seed_agents
