"""A scheduled event moved as its timer fires: nothing cancels the timer that fired.

Moving a model's date sends the event's timer workflow a ``move`` signal, and every
run waiting for ``at + offset`` a reschedule signal. The timer workflow
(``django_integration/_timer.py``) and the runs' start gate (``RunProgram.gate``)
waited with ``wait_condition(..., timeout=...)``, which cancels the timer when the
signal wins: a timer that fired while that signal's task ran made the time-skipping
test server refuse the task and keep virtual time locked, so the next ``advance``
hung. They let their timers fire now (patches ``da-django-timer-alarm`` and
``da-gate-alarm``, ``durable_automation/_worker/alarm.py``). The signal's workflow
task is held so that the timer fires while it runs (``tests/helpers/wake_race.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from django_integration.models import Event, EventStatus
from django_integration.outbox import flush
from durable_automation._client.scheduled_event import MOVE_SIGNAL, timer_id
from durable_automation._core.wire import RESCHEDULE_SIGNAL
from durable_automation.testing import TimeMachine
from tests.django_integration.testapp.models import Effect, Reservation
from tests.helpers.wake_race import (
    HELD,
    HoldingTimeMachine,
    advance_bounded,
    sleep_until_just_before,
    timer_events,
)


@pytest.fixture
def tm() -> Iterator[TimeMachine]:
    HELD.clear()
    with HoldingTimeMachine() as machine:
        yield machine


def _effects(automation: str) -> list[str]:
    return list(Effect.objects.filter(automation=automation).values_list("entity", flat=True))


def _checkin_due(reservation: Reservation) -> Event:
    return Event.objects.filter(name="checkin_due", entity_id=str(reservation.pk)).latest("id")


def test_a_move_as_the_event_s_timer_fires(tm: TimeMachine, outbox: None) -> None:
    checkin = tm.now() + timedelta(hours=3)
    reservation = Reservation.objects.create(checkin_at=checkin, status="confirmed")
    assert flush()
    event = _checkin_due(reservation)
    advance_bounded(tm, hours=2, minutes=1)  # the reminder ran (60 min before)
    sleep_until_just_before(tm, checkin)
    HELD.append(MOVE_SIGNAL)
    reservation.checkin_at = checkin + timedelta(hours=1)
    reservation.save()
    assert flush()
    advance_bounded(tm, minutes=30)
    event.refresh_from_db()
    assert event.status == EventStatus.SCHEDULED and _effects("tb_checkin_arrived") == []
    advance_bounded(tm, hours=1)
    event.refresh_from_db()
    assert event.status == EventStatus.OCCURRED
    assert _effects("tb_checkin_arrived") == [str(reservation.pk)]
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, timer_id(event.wire()))


def test_a_move_as_a_reminder_s_start_time_comes(tm: TimeMachine, outbox: None) -> None:
    checkin = tm.now() + timedelta(hours=3)
    reservation = Reservation.objects.create(checkin_at=checkin, status="confirmed")
    assert flush()
    event = _checkin_due(reservation)
    reminder = f"PreArrivalReminder:{event.entity_ref}:{event.pk}"
    sleep_until_just_before(tm, checkin - timedelta(minutes=60))
    HELD.append(RESCHEDULE_SIGNAL)
    reservation.checkin_at = checkin + timedelta(hours=1)
    reservation.save()
    assert flush()
    advance_bounded(tm, minutes=30)
    assert _effects("PreArrivalReminder") == []  # not at the old time
    advance_bounded(tm, minutes=31)
    assert _effects("PreArrivalReminder") == [str(reservation.pk)]
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in timer_events(tm, reminder)
