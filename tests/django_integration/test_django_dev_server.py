"""Events forwarded to a real worker on the Temporal dev server, with the ORM in worker threads.

Runs on SQLite, and on PostgreSQL with ``DURABLE_AUTOMATION_TEST_DB=postgres``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from django_integration.models import Event, EventStatus
from django_integration.outbox import flush
from durable_automation import engine
from tests.django_integration.testapp.models import Booking, DocUpload, Effect
from tests.helpers.polling import eventually


def _effects(automation: str) -> list[str]:
    return sorted(Effect.objects.filter(automation=automation).values_list("entity", flat=True))


def test_commit_starts_handler_that_uses_the_orm(dev_worker, outbox):
    booking = Booking.objects.create(ref="B-1", paid=True)
    # The handler loads the entity and writes an Effect row from a worker thread.
    eventually(lambda: _effects("tb_booking_paid_handler") == ["B-1"], timeout=20)
    assert flush()  # the handler can run before the dispatcher records the delivery
    event = Event.objects.get(name="tb_booking_paid", entity_id=str(booking.pk))
    assert event.status == EventStatus.OCCURRED and event.data == {"ref": "B-1"}


def test_rolled_back_transaction_forwards_nothing(dev_worker, outbox):
    with pytest.raises(RuntimeError), transaction.atomic():
        Booking.objects.create(ref="B-rolled-back", paid=True)
        raise RuntimeError("rollback")
    committed = Booking.objects.create(ref="B-committed", paid=True)
    assert flush()
    eventually(lambda: _effects("tb_booking_paid_handler") == ["B-committed"], timeout=20)
    assert list(Event.objects.values_list("entity_id", flat=True)) == [str(committed.pk)]
    assert _effects("tb_booking_paid_handler") == ["B-committed"]


def test_scheduled_event_fires_in_real_time(dev_worker, outbox):
    booking = Booking.objects.create(ref="B-due", due_at=timezone.now() + timedelta(seconds=2))
    assert flush()
    event = Event.objects.get(name="tb_booking_due")
    assert event.status == EventStatus.SCHEDULED
    eventually(lambda: _effects("tb_booking_due_handler") == ["B-due"], timeout=20)
    event.refresh_from_db()
    assert event.status == EventStatus.OCCURRED and event.occurred_at >= event.at
    booking.due_at = None
    booking.save()  # after it occurred: nothing to cancel
    assert flush()
    assert Event.objects.get(pk=event.pk).status == EventStatus.OCCURRED


def test_wait_for_event_is_woken_by_a_model_event(dev_worker, outbox):
    booking = Booking.objects.create(ref="B-docs", needs_docs=True)
    assert flush()
    event = Event.objects.get(name="tb_docs_requested", entity_id=str(booking.pk))
    run = engine.get_run(f"TbAwaitDocs:{event.entity_ref}:{event.pk}")
    eventually(lambda: run.status() == "waiting", timeout=20)

    DocUpload.objects.create(reservation_id=booking.pk)  # data={"docs_ready": True}
    assert run.result(timeout=20) == {"docs_ready": True}
