"""Event rows kept current by post_save/post_delete, and bad input that loses nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from django_integration import EventDefinition
from django_integration._resolver import resolve_entity
from django_integration.models import Event, EventStatus
from django_integration.outbox import flush, relay_once
from durable_automation.exceptions import DefinitionError, EntityNotFoundError
from tests.django_integration.testapp.models import Booking, Effect, Fragile, Reservation
from tests.helpers.polling import eventually


def _rows(name: str) -> list[Event]:
    return list(Event.objects.filter(name=name).order_by("id"))


def test_immediate_event_recorded_in_the_same_transaction(no_forwarding):
    with transaction.atomic():
        booking = Booking.objects.create(ref="T-1", paid=True)
        [row] = _rows("tb_booking_paid")
        assert (row.status, row.entity_type, row.entity_id) == (
            EventStatus.PENDING, "testapp.booking", str(booking.pk))
        assert row.needs_delivery and row.data == {"ref": "T-1"}
        assert row.content_type.model_class() is Booking
    assert row.entity == booking  # resolves via the model label
    assert row.to_event().entity == booking


def test_rollback_leaves_no_event(no_forwarding):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        Booking.objects.create(ref="T-rb", paid=True)
        raise ZeroDivisionError("rolled back")
    assert not Event.objects.exists()


def test_null_date_schedules_nothing_and_clearing_the_date_cancels(no_forwarding):
    booking = Booking.objects.create(ref="T-2")
    assert _rows("tb_booking_due") == []
    booking.due_at = timezone.now() + timedelta(days=1)
    booking.save()
    [row] = _rows("tb_booking_due")
    assert (row.status, row.at, row.version) == (EventStatus.SCHEDULED, booking.due_at, 1)

    booking.due_at += timedelta(hours=2)
    booking.save()
    row.refresh_from_db()
    assert (row.status, row.at, row.version) == (EventStatus.SCHEDULED, booking.due_at, 2)

    booking.due_at = None
    booking.save()
    row.refresh_from_db()
    assert (row.status, row.error, row.version) == (EventStatus.CANCELLED, "no date", 3)
    assert row.needs_delivery  # the cancellation itself must be forwarded


def test_condition_false_cancels_and_true_again_schedules_a_new_event(no_forwarding):
    r = Reservation.objects.create(checkin_at=timezone.now() + timedelta(days=2),
                                   status="confirmed")
    r.status = "pending"
    r.save()
    r.status = "confirmed"
    r.save()
    assert [e.status for e in _rows("checkin_due")] == [EventStatus.CANCELLED,
                                                       EventStatus.SCHEDULED]
    assert len(_rows("reservation_confirmed")) == 1  # occurs once per instance


def test_condition_that_raises_is_recorded_and_other_events_still_occur(dev_worker, outbox):
    fragile = Fragile.objects.create(value=0, when=timezone.now() + timedelta(days=1))
    assert flush()
    [inverse] = _rows("tb_fragile_inverse")
    assert inverse.status == EventStatus.FAILED and not inverse.needs_delivery
    assert "ZeroDivisionError" in inverse.error
    [due] = _rows("tb_fragile_due")
    assert due.status == EventStatus.FAILED and "ZeroDivisionError" in due.error
    [ok] = _rows("tb_fragile_ok")
    assert ok.status == EventStatus.OCCURRED
    eventually(lambda: Effect.objects.filter(automation="tb_fragile_ok_handler").exists())

    fragile.value = 1  # fixed: the failed immediate event now occurs, the scheduled one waits
    fragile.save()
    assert flush()
    inverse.refresh_from_db()
    due.refresh_from_db()
    assert (inverse.status, inverse.error) == (EventStatus.OCCURRED, "")
    assert (due.status, due.error) == (EventStatus.SCHEDULED, "")


def test_entity_whose_model_no_longer_exists(dev_worker, outbox):
    with pytest.raises(EntityNotFoundError, match=r"model 'gone\.parcel' no longer exists"):
        resolve_entity("gone.parcel", "1")
    # An event of a removed model: forwarding fails for good, with the reason; kept.
    row = Event.objects.create(name="tb_docs_requested", entity_type="gone.parcel",
                               entity_id="1", status=EventStatus.PENDING, at=timezone.now())
    result = relay_once(include_fresh=True)
    assert (result.delivered, result.failed) == (0, 1)
    row.refresh_from_db()
    assert row.status == EventStatus.FAILED and not row.needs_delivery
    assert "no longer exists" in row.error and row.delivery_attempts == 1


def test_entity_deleted_before_delivery(no_forwarding, dev_worker):
    booking = Booking.objects.create(ref="T-gone", needs_docs=True)
    pk = booking.pk
    booking.delete()
    with pytest.raises(EntityNotFoundError, match=f"Booking with pk='{pk}' no longer exists"):
        resolve_entity("testapp.booking", str(pk))
    result = relay_once(include_fresh=True)
    assert result.failed == 1
    [row] = _rows("tb_docs_requested")
    assert row.status == EventStatus.FAILED and "no longer exists" in row.error


def test_event_definition_is_validated():
    with pytest.raises(DefinitionError) as info:
        EventDefinition("", condition="yes", date_field=3)  # type: ignore[arg-type]
    assert len(info.value.problems) == 3
