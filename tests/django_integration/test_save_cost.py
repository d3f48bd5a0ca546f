"""The cheap path of ``save()``: inside one transaction, a save whose events did not
change since this transaction's last save of the row reads and writes no Event row.
Everything that could make the remembered state wrong must forget it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_integration import _tracking
from django_integration.models import Event, EventStatus
from tests.django_integration.testapp.models import Reservation

_TABLE = Event._meta.db_table


def _event_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if _TABLE in q["sql"]]


def _statuses(reservation: Reservation) -> list[tuple[str, str]]:
    rows = Event.objects.filter(entity_id=str(reservation.pk)).order_by("id")
    return [(r.name, r.status) for r in rows]


def _checkin() -> object:
    return timezone.now() + timedelta(days=3)


def test_a_save_that_changes_no_event_in_the_same_transaction_touches_no_event_row(
        no_forwarding):
    with transaction.atomic():
        reservation = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        with CaptureQueriesContext(connection) as captured:
            reservation.status = "confirmed"
            reservation.save()
            reservation.save()
        assert _event_queries(captured) == []
        assert len(captured.captured_queries) == 2  # the two UPDATEs of the reservation
    assert _statuses(reservation) == [("reservation_confirmed", EventStatus.PENDING),
                                      ("checkin_due", EventStatus.SCHEDULED)]


def test_a_change_after_a_skipped_save_still_cancels_and_schedules_again(no_forwarding):
    with transaction.atomic():
        reservation = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        reservation.save()  # remembered: nothing to do
        reservation.status = "pending"
        with CaptureQueriesContext(connection) as captured:
            reservation.save()
        assert _event_queries(captured)  # a changed event reads (and writes) its rows
        assert _statuses(reservation)[1] == ("checkin_due", EventStatus.CANCELLED)
        reservation.status = "confirmed"
        reservation.save()
        reservation.checkin_at = _checkin() + timedelta(hours=1)  # the date alone moves it
        reservation.save()
    rows = list(Event.objects.filter(entity_id=str(reservation.pk), name="checkin_due")
                .order_by("id"))
    assert [r.status for r in rows] == [EventStatus.CANCELLED, EventStatus.SCHEDULED]
    assert rows[1].at == reservation.checkin_at
    assert _statuses(reservation)[0] == ("reservation_confirmed", EventStatus.PENDING)


def test_a_savepoint_rollback_forgets_what_it_undid(no_forwarding):
    with transaction.atomic():
        reservation = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            reservation.status = "pending"
            reservation.save()  # cancels checkin_due, then the savepoint undoes it
            raise ZeroDivisionError
        assert _statuses(reservation)[1] == ("checkin_due", EventStatus.SCHEDULED)
        reservation.save()  # status "pending" again: must cancel, not trust the undone save
    assert _statuses(reservation) == [("reservation_confirmed", EventStatus.PENDING),
                                      ("checkin_due", EventStatus.CANCELLED)]


def test_two_objects_of_one_row_in_one_transaction(no_forwarding):
    with transaction.atomic():
        first = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        second = Reservation.objects.get(pk=first.pk)
        second.status = "pending"
        second.save()  # cancels checkin_due
        first.save()  # confirmed again (the last write wins): scheduled again
    rows = Event.objects.filter(entity_id=str(first.pk), name="checkin_due").order_by("id")
    assert [r.status for r in rows] == [EventStatus.CANCELLED, EventStatus.SCHEDULED]


def test_a_delete_forgets_the_row(no_forwarding):
    with transaction.atomic():
        reservation = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        pk = reservation.pk
        reservation.delete()
        reservation.pk = pk
        reservation.save()  # the same pk again: a new row, new events
    statuses = Event.objects.filter(entity_id=str(pk), name="checkin_due").order_by("id")
    assert [r.status for r in statuses] == [EventStatus.CANCELLED, EventStatus.SCHEDULED]


def test_each_transaction_reads_the_rows_again(no_forwarding):
    """A save outside the transaction that remembered cannot trust it: another writer
    may have changed the row (and its events) since."""
    with transaction.atomic():
        stale = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        stale.save()
    other = Reservation.objects.get(pk=stale.pk)
    other.status = "pending"
    other.save()  # another writer cancels checkin_due
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        stale.save()  # confirmed again: must read the rows and schedule again
    assert _event_queries(captured)
    rows = Event.objects.filter(entity_id=str(stale.pk), name="checkin_due").order_by("id")
    assert [r.status for r in rows] == [EventStatus.CANCELLED, EventStatus.SCHEDULED]


def test_a_rolled_back_transaction_leaves_nothing_remembered(no_forwarding):
    reservation = Reservation.objects.create(checkin_at=_checkin(), status="pending")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        reservation.status = "confirmed"
        reservation.save()
        raise ZeroDivisionError
    assert _statuses(reservation) == []
    with transaction.atomic():
        reservation.save()  # still "confirmed" in memory: now it counts
    assert _statuses(reservation) == [("reservation_confirmed", EventStatus.PENDING),
                                      ("checkin_due", EventStatus.SCHEDULED)]


def test_an_unwatched_save_reads_the_rows_too(no_forwarding):
    """Unless queries are captured, SQLite's SELECT goes to the driver directly: it must
    see what another writer did exactly as Django's cursor would."""
    stale = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
    other = Reservation.objects.get(pk=stale.pk)
    other.status = "pending"
    other.save()  # another writer cancels checkin_due
    stale.save()  # confirmed again: schedules a new occurrence
    stale.checkin_at += timedelta(hours=1)
    stale.save()  # moves it (the row read back has an aware datetime to compare)
    rows = list(Event.objects.filter(entity_id=str(stale.pk), name="checkin_due").order_by("id"))
    assert [r.status for r in rows] == [EventStatus.CANCELLED, EventStatus.SCHEDULED]
    assert rows[1].at == stale.checkin_at
    stale.save()  # nothing changed: nothing written
    assert Event.objects.get(pk=rows[1].pk).version == rows[1].version


def test_one_on_commit_per_transaction_hands_over_every_row(no_forwarding, monkeypatch):
    submitted: list[int] = []
    monkeypatch.setattr(_tracking, "_submit", submitted.extend)
    with transaction.atomic():
        first = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        second = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
        first.status = "pending"
        first.save()  # cancels first's checkin_due: its row again
        assert len([h for h in connection.run_on_commit
                    if getattr(h[1], "func", None) == submitted.extend]) == 1
        assert submitted == []  # nothing before the commit
    rows = Event.objects.filter(entity_id__in=[str(first.pk), str(second.pk)])
    assert sorted(set(submitted)) == sorted(r.pk for r in rows)


def test_rows_written_after_a_rolled_back_savepoint_are_handed_over(no_forwarding, monkeypatch):
    submitted: list[int] = []
    monkeypatch.setattr(_tracking, "_submit", submitted.extend)
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
            raise ZeroDivisionError  # its rows, and the on_commit registered with them, go
        kept = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
    rows = Event.objects.filter(entity_id=str(kept.pk))
    assert len(rows) == 2
    assert sorted(submitted) == sorted(r.pk for r in rows)


def test_an_event_insert_maintains_two_indexes_only(no_forwarding):
    # Every index an INSERT writes is one more page for each commit to journal: on
    # SQLite three indexes over (entity_type, entity_id, name) doubled what events add
    # to a save. One unique index serves lookups and both uniqueness rules.
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, _TABLE)
    indexes = sorted(name for name, c in found.items() if c["index"] and not c["primary_key"])
    assert indexes == ["da_event_one_live", "da_event_outbox"]


def test_a_database_error_of_the_direct_select_is_djangos_own(no_forwarding):
    # The direct path (SQLite, nobody watching queries) enters Django's error wrapper only
    # when the driver raises: the caller still gets django.db's error, not sqlite3's.
    reservation = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        with connection.cursor() as cursor:  # DDL is transactional: rolled back below
            cursor.execute(f"ALTER TABLE {_TABLE} RENAME TO da_event_renamed")
        reservation.status = "cancelled"
        reservation.save()
    assert type(caught.value).__module__ == "django.db.utils", type(caught.value)
    assert Event.objects.filter(entity_id=str(reservation.pk)).exists()  # table is back


def test_an_immediate_rows_time_is_not_read_back(no_forwarding):
    # The SELECT of the save path returns ``at`` for scheduled rows only (converting it
    # is most of a row's cost, and only a scheduled event's time is compared).
    reservation = Reservation.objects.create(checkin_at=_checkin(), status="confirmed")
    rows = _tracking.latest_rows(connection, "testapp.reservation", str(reservation.pk),
                                 _tracking._tracked[Reservation].definitions)
    at = {row.name: row.at for row in rows}
    assert at["reservation_confirmed"] is None and at["checkin_due"] is not None
