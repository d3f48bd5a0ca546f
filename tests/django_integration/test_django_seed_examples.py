"""Seed 001 §1-§3 with only their imports changed, on the time-skipping server.

The models and automations are in ``testapp`` (``models.py``, ``automations.py``).
"""

from __future__ import annotations

from datetime import timedelta

from django_integration.models import Event, EventStatus
from django_integration.outbox import flush
from durable_automation import engine
from tests.django_integration.testapp.models import Effect, Reservation
from tests.helpers.history import steps_scheduled


def _effects(automation: str) -> list[str]:
    return list(Effect.objects.filter(automation=automation).values_list("entity", flat=True))


def _event(name: str, reservation: Reservation) -> Event:
    return Event.objects.filter(name=name, entity_id=str(reservation.pk)).latest("id")


def _run_id(automation: str, event: Event) -> str:
    return f"{automation}:{event.entity_ref}:{event.pk}"


def test_confirming_a_reservation_sends_the_welcome_email_once(time_machine, outbox):
    reservation = Reservation.objects.create(checkin_at=time_machine.now() + timedelta(days=3))
    assert flush()
    assert not Event.objects.filter(name="reservation_confirmed").exists()

    reservation.status = "confirmed"
    reservation.save()
    assert flush()
    event = _event("reservation_confirmed", reservation)
    assert event.status == EventStatus.OCCURRED and not event.needs_delivery
    run = engine.get_run(_run_id("send_welcome_email", event))
    assert run.result(timeout=20) == {}
    assert _effects("send_welcome_email") == [str(reservation.pk)]

    # Saving again (still confirmed) is not a new occurrence.
    reservation.save()
    Reservation.objects.get(pk=reservation.pk).save()
    assert flush()
    time_machine.settle()
    assert Event.objects.filter(name="reservation_confirmed").count() == 1
    assert _effects("send_welcome_email") == [str(reservation.pk)]


def test_pre_arrival_reminder_runs_60_minutes_before_checkin(time_machine, outbox):
    checkin = time_machine.now() + timedelta(hours=3)
    reservation = Reservation.objects.create(checkin_at=checkin, status="confirmed")
    assert flush()
    event = _event("checkin_due", reservation)
    assert (event.status, event.at, event.needs_delivery) == (EventStatus.SCHEDULED, checkin, False)
    reminder = engine.get_run(_run_id("PreArrivalReminder", event))
    time_machine.settle()
    # The run exists from when the event is scheduled, waiting for checkin - 60m.
    assert reminder.status() == "waiting"
    assert _effects("tb_checkin_created") == [str(reservation.pk)]

    time_machine.advance(hours=1, minutes=59)
    assert _effects("PreArrivalReminder") == []
    time_machine.advance(minutes=2)
    assert reminder.result(timeout=20) == {}
    assert _effects("PreArrivalReminder") == [str(reservation.pk)]
    [(_, ran_at)] = steps_scheduled(reminder.id)
    assert abs(ran_at.replace(tzinfo=checkin.tzinfo) - (checkin - timedelta(minutes=60))) \
        < timedelta(seconds=5)

    # At check-in time the scheduled event occurs (condition re-checked: still confirmed).
    assert _effects("tb_checkin_arrived") == []
    time_machine.advance(hours=1)
    event.refresh_from_db()
    assert event.status == EventStatus.OCCURRED
    assert _effects("tb_checkin_arrived") == [str(reservation.pk)]


def test_moving_checkin_moves_the_reminder_and_the_event(time_machine, outbox):
    reservation = Reservation.objects.create(
        checkin_at=time_machine.now() + timedelta(hours=3), status="confirmed")
    assert flush()
    event = _event("checkin_due", reservation)
    time_machine.settle()

    reservation.checkin_at = time_machine.now() + timedelta(hours=5)
    reservation.save()
    assert flush()
    moved = _event("checkin_due", reservation)
    assert moved.pk == event.pk and moved.at == reservation.checkin_at

    time_machine.advance(hours=3, minutes=1)  # past the old reminder and the old check-in
    assert _effects("PreArrivalReminder") == []
    assert _effects("tb_checkin_arrived") == []
    time_machine.advance(hours=1)  # 4h01: the moved reminder
    assert _effects("PreArrivalReminder") == [str(reservation.pk)]
    assert _effects("tb_checkin_arrived") == []
    time_machine.advance(hours=1)  # 5h01: the moved check-in
    assert _effects("tb_checkin_arrived") == [str(reservation.pk)]


def test_deleting_the_reservation_cancels_reminder_and_event(time_machine, outbox):
    reservation = Reservation.objects.create(
        checkin_at=time_machine.now() + timedelta(hours=3), status="confirmed")
    assert flush()
    event = _event("checkin_due", reservation)
    reminder = engine.get_run(_run_id("PreArrivalReminder", event))
    time_machine.settle()
    pk = reservation.pk

    reservation.delete()
    assert flush()
    event.refresh_from_db()
    assert event.status == EventStatus.CANCELLED and not event.needs_delivery
    time_machine.settle()
    assert reminder.status() == "cancelled"
    assert _effects("tb_checkin_cancelled") == [str(pk)]

    time_machine.advance(hours=4)
    assert _effects("PreArrivalReminder") == []
    assert _effects("tb_checkin_arrived") == []


def test_condition_false_when_due_cancels_the_event(time_machine, outbox):
    reservation = Reservation.objects.create(
        checkin_at=time_machine.now() + timedelta(hours=2), status="confirmed")
    assert flush()
    event = _event("checkin_due", reservation)
    # A change that bypasses post_save: only the check at fire time can see it.
    Reservation.objects.filter(pk=reservation.pk).update(status="cancelled")

    time_machine.advance(hours=2, minutes=1)
    event.refresh_from_db()
    assert event.status == EventStatus.CANCELLED
    assert "condition" in event.error
    assert _effects("tb_checkin_arrived") == []
    assert _effects("tb_checkin_cancelled") == [str(reservation.pk)]
