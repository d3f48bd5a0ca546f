"""Migrations carry the rows already in an outbox over: 0002 to the new delivery design,
0003 to one index instead of three."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from django_integration.models import Event, EventStatus
from django_integration.outbox import relay_once
from tests.django_integration.testapp.models import Booking, Effect
from tests.helpers.polling import eventually

APP = "django_integration"
BEFORE = [(APP, "0001_initial")]
AFTER = [(APP, "0002_delivery_attempts_and_uniqueness")]


@pytest.fixture
def at_0001(no_forwarding: None) -> Iterator[MigrationExecutor]:
    """The Event table as migration 0001 left it; migrated forward again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes(APP))


def test_0002_keeps_waiting_rows_deliverable_and_resolves_duplicates(at_0001, dev_worker):
    old = at_0001.loader.project_state(BEFORE).apps.get_model(APP, "Event")
    booking = Booking.objects.create(ref="M-1")
    now = timezone.now()
    common = {"entity_type": "testapp.booking", "entity_id": str(booking.pk), "at": now}
    # Waiting for delivery after many failed tries (the old design never gave up).
    waiting = old.objects.create(name="tb_booking_paid", status="pending", needs_delivery=True,
                                 delivery_attempts=42, last_delivery_error="old error", **common)
    # Duplicates the old design let two concurrent saves create.
    twin = old.objects.create(name="tb_booking_paid", status="occurred", needs_delivery=False,
                              delivered_status="occurred", **common)
    due = now + timedelta(days=1)
    first = old.objects.create(name="tb_booking_due", scheduled=True, status="scheduled",
                               needs_delivery=False, delivered_status="scheduled",
                               **{**common, "at": due})
    second = old.objects.create(name="tb_booking_due", scheduled=True, status="scheduled",
                                needs_delivery=False, delivered_status="scheduled",
                                **{**common, "at": due})

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    row = Event.objects.get(pk=waiting.pk)
    assert (row.status, row.needs_delivery, row.delivery_attempts) == (
        EventStatus.PENDING, True, 0)
    assert (row.next_attempt_at, row.dead_at, row.target_errors) == (None, None, {})
    assert Event.objects.get(pk=twin.pk).status == EventStatus.CANCELLED
    assert Event.objects.get(pk=first.pk).status == EventStatus.SCHEDULED
    duplicate = Event.objects.get(pk=second.pk)
    # Cancelled, and queued so that its Temporal timer is cancelled too.
    assert duplicate.status == EventStatus.CANCELLED and duplicate.needs_delivery

    # The carried-over row is delivered by the new relay.
    result = relay_once(include_fresh=True)
    assert result.failed == 0
    row.refresh_from_db()
    assert row.status == EventStatus.OCCURRED and not row.needs_delivery
    eventually(lambda: Effect.objects.filter(automation="tb_booking_paid_handler").exists(),
               timeout=20)


AT_0002 = [(APP, "0002_delivery_attempts_and_uniqueness")]
AT_0003 = [(APP, "0003_one_live_index")]


def test_0003_keeps_every_row_and_the_same_uniqueness(at_0001):
    executor = MigrationExecutor(connection)
    executor.migrate(AT_0002)
    old = executor.loader.project_state(AT_0002).apps.get_model(APP, "Event")
    booking = Booking.objects.create(ref="M-3")
    now = timezone.now()
    common = {"entity_type": "testapp.booking", "entity_id": str(booking.pk), "at": now}
    kept = [
        old.objects.create(name="paid", status="occurred", **common),
        old.objects.create(name="paid", status="cancelled", **common),
        old.objects.create(name="paid", status="cancelled", **common),
        old.objects.create(name="due", scheduled=True, status="scheduled", **common),
        old.objects.create(name="due", scheduled=True, status="occurred", **common),
        old.objects.create(name="due", scheduled=True, status="occurred", **common),
    ]

    executor = MigrationExecutor(connection)
    executor.migrate(AT_0003)

    rows = Event.objects.filter(entity_id=str(booking.pk)).order_by("id")
    assert [(r.pk, r.name, r.status) for r in rows] == [(r.pk, r.name, r.status) for r in kept]
    # What the two partial constraints refused, the one index refuses...
    for live in ({"name": "paid", "status": "pending"},
                 {"name": "due", "scheduled": True, "status": "scheduled"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Event.objects.create(**{**common, **live})
    # ...and what they allowed, it allows: more rows that are not live.
    Event.objects.create(name="paid", status="cancelled", **common)
    Event.objects.create(name="due", scheduled=True, status="cancelled", **common)
    Event.objects.create(name="due", scheduled=True, status="failed", **common)
