"""Autocommit saves on SQLite: a save whose events did not change reads no Event row
while nothing but this connection's saves wrote to the database since it last brought
the row's events in line; anything else that wrote makes it read them again.

The statements are seen with the driver's trace callback, so the direct path (which
Django's query capture would turn off) is the one under test.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from django_integration.models import Event, EventStatus
from tests.django_integration.testapp.models import Reservation

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's counters")

_TABLE = Event._meta.db_table


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []
    connection.ensure_connection()
    raw = connection.connection
    raw.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        raw.set_trace_callback(None)


def _event_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().upper().startswith("SELECT") and _TABLE in s]


def _checkin_due(reservation: Reservation) -> list[Event]:
    return list(Event.objects.filter(entity_id=str(reservation.pk), name="checkin_due")
                .order_by("id"))


def _synced() -> Reservation:
    """A confirmed reservation whose no-op save this connection has just remembered."""
    reservation = Reservation.objects.create(
        checkin_at=timezone.now() + timedelta(days=3), status="confirmed")
    reservation.save()
    return reservation


def _cancel_checkin_due_by_hand(reservation: Reservation) -> None:
    Event.objects.filter(entity_id=str(reservation.pk), name="checkin_due").update(
        status=EventStatus.CANCELLED)  # no post_save: only total_changes can tell


def _in_another_thread(work: object) -> None:
    """Run ``work`` on another thread: another Django connection to the same file."""
    def run() -> None:
        try:
            work()  # type: ignore[operator]
        finally:
            connections.close_all()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)


def test_a_save_that_changes_no_event_reads_no_event_row_while_nothing_else_wrote(
        no_forwarding):
    reservation = _synced()  # its save read the rows, and the database's version
    with _statements() as seen:
        reservation.save()
        reservation.save()
    assert _event_reads(seen) == []
    assert sum("UPDATE" in s and "testapp_reservation" in s for s in seen) == 2, seen


def test_a_commit_by_another_connection_makes_the_next_save_read_again(no_forwarding):
    stale = _synced()

    def cancel() -> None:
        other = Reservation.objects.get(pk=stale.pk)
        other.status = "pending"
        other.save()  # cancels checkin_due, from another connection
    _in_another_thread(cancel)
    assert [e.status for e in _checkin_due(stale)] == [EventStatus.CANCELLED]
    with _statements() as seen:
        stale.save()  # confirmed again: must see the cancellation and schedule anew
    assert _event_reads(seen)
    assert [e.status for e in _checkin_due(stale)] == [EventStatus.CANCELLED,
                                                       EventStatus.SCHEDULED]


def test_event_rows_changed_by_hand_on_this_connection_are_read_again(no_forwarding):
    reservation = _synced()
    _cancel_checkin_due_by_hand(reservation)
    reservation.save()
    assert [e.status for e in _checkin_due(reservation)] == [EventStatus.CANCELLED,
                                                             EventStatus.SCHEDULED]


def test_a_rolled_back_save_is_not_remembered(no_forwarding):
    first = timezone.now() + timedelta(days=3)
    reservation = Reservation.objects.create(checkin_at=first, status="confirmed")
    reservation.save()
    moved = first + timedelta(hours=2)
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        reservation.checkin_at = moved
        reservation.save()  # moves checkin_due, then the transaction rolls back
        raise ZeroDivisionError
    assert [e.at for e in _checkin_due(reservation)] == [first]
    reservation.save()  # still ``moved`` in memory: the row and its event must follow
    assert [e.at for e in _checkin_due(reservation)] == [moved]


def test_a_save_of_another_object_of_the_row_is_seen(no_forwarding):
    stale = _synced()
    other = Reservation.objects.get(pk=stale.pk)
    other.status = "pending"
    other.save()  # same connection, through post_save: remembered per row
    stale.save()
    assert [e.status for e in _checkin_due(stale)] == [EventStatus.CANCELLED,
                                                       EventStatus.SCHEDULED]


def test_a_new_connection_starts_afresh(no_forwarding):
    reservation = _synced()
    connection.close()  # as Django does at the end of a request (CONN_MAX_AGE=0)
    _cancel_checkin_due_by_hand(reservation)  # on the new connection
    with _statements() as seen:
        reservation.save()
    assert _event_reads(seen)
    assert [e.status for e in _checkin_due(reservation)] == [EventStatus.CANCELLED,
                                                             EventStatus.SCHEDULED]


def test_a_commit_by_another_process_makes_the_next_save_read_again(no_forwarding):
    reservation = _synced()
    path = connection.settings_dict["NAME"]
    script = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        f"db.execute(\"UPDATE {_TABLE} SET status = 'cancelled' WHERE entity_id = ? "
        "AND name = 'checkin_due'\", (sys.argv[2],))\n"
        "db.commit()\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path), str(reservation.pk)],
                   check=True, timeout=30)
    with _statements() as seen:
        reservation.save()  # must see the other process's cancellation
    assert _event_reads(seen)
    assert [e.status for e in _checkin_due(reservation)] == [EventStatus.CANCELLED,
                                                             EventStatus.SCHEDULED]


def test_a_read_that_finds_a_new_version_forgets_the_other_rows(no_forwarding):
    stale, other = _synced(), _synced()

    def cancel() -> None:
        _cancel_checkin_due_by_hand(stale)  # another connection commits
    _in_another_thread(cancel)
    other.status = "pending"
    other.save()  # reads its rows, at the new version: what else was remembered is unsure
    stale.save()
    assert [e.status for e in _checkin_due(stale)] == [EventStatus.CANCELLED,
                                                       EventStatus.SCHEDULED]


def test_where_others_commit_between_saves_the_version_is_rarely_read(no_forwarding):
    """Reading ``data_version`` costs; where another connection commits between most
    saves it would be read for nothing, so the memo rests after each miss (for twice
    as many saves each time) and those saves read the rows as without it."""
    reservation = _synced()
    other = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        with _statements() as seen:
            for i in range(40):
                other.execute(f"UPDATE {_TABLE} SET error = ? WHERE entity_id = ? AND "
                              "name = 'reservation_confirmed'", (f"touch {i}", str(reservation.pk)))
                other.commit()
                reservation.save()
    finally:
        other.close()
    versions = [s for s in seen if "data_version" in s and not s.startswith("--")]
    assert len(_event_reads(seen)) == 40  # every save read the rows (none was skipped)
    assert len(versions) <= 12, len(versions)  # 80 without the rests
