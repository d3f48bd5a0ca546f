"""Recording scenarios (``record.py``) for waits whose due time a signal moves.

A run's start gate (``RunProgram.gate``, moved by a reschedule signal) and a scheduled
event's timer workflow (``django_integration/_timer.py``, moved by ``move``): before
patches ``da-gate-alarm`` and ``da-django-timer-alarm`` the signal cancelled the wait's
timer and started another; with them the first timer fires and the next one is armed
then (``durable_automation/_worker/alarm.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from durable_automation import engine
from durable_automation._client.scheduled_event import amove_timer, astart_timer, timer_id
from durable_automation._core.wire import EventWire
from durable_automation.events import Event
from durable_automation.testing import TimeMachine

__all__ = ["gate_rescheduled", "scheduled_event_alarm"]

Save = Callable[[str, str], None]


def gate_rescheduled(tm: TimeMachine, save: Save, prefix: str = "gate_rescheduled",
                     event_id: str = "dep-1") -> None:
    """``replay_departure_due`` (an event workflow starting 30 min before the event) for an
    event an hour away, rescheduled an hour later 20 min into the gate's wait; the run
    starts at the new time."""
    departs = tm.now() + timedelta(hours=1)
    [run] = engine.handle_event_scheduled(Event(name="replay_departure_due", id=event_id,
                                                at=departs, scheduled=True))
    tm.settle()
    assert run.state().phase == "scheduled"
    tm.advance(minutes=20)
    moved = Event(name="replay_departure_due", id=event_id, at=departs + timedelta(hours=1),
                  scheduled=True)
    assert engine.handle_event_rescheduled(moved) == 1
    tm.settle()
    save(f"{prefix}_mid_gate", run.id)
    tm.advance(minutes=11)  # past the old start time: still waiting
    assert run.state().phase == "scheduled"
    tm.advance(hours=1)
    assert run.result() == {"reminded": True}
    save(f"{prefix}_started", run.id)


def scheduled_event_alarm(tm: TimeMachine, save: Save) -> None:
    """The ``scheduled_event`` scenario of ``record.py`` (moved 1 h later, then fired) with
    patch ``da-django-timer-alarm``, and an event moved 30 min earlier, then fired."""
    assert tm.env is not None
    client = tm.env.client
    for event_id, move, name in (("ev-2", timedelta(hours=1), "moved_then_fired"),
                                 ("ev-3", -timedelta(minutes=30), "moved_earlier_then_fired")):
        due = tm.now() + timedelta(hours=1)
        wire = EventWire(id=event_id, name="replay_due", entity_type="replay.stay",
                         entity_id="1", at=due, scheduled=True)
        assert tm._run(astart_timer(engine, wire))
        tm.settle()
        if name == "moved_then_fired":
            save("scheduled_event_alarm_mid_wait", timer_id(wire))
        tm._run(amove_timer(engine, wire.model_copy(update={"at": due + move})))
        tm.settle()
        tm.advance(hours=2)
        result = tm._run(client.get_workflow_handle(timer_id(wire)).result())
        assert result["outcome"] == "occurred", result
        save(f"scheduled_event_alarm_{name}", timer_id(wire))
