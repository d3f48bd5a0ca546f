"""Part 1 of ``django_events.py``: what events add to ``save()``.

``Reservation`` (two EventDefinitions) against ``PlainReservation`` (the same fields,
no events), case by case. Fairness: both models have the same shape and run the
same number of saves, in alternating chunks of 25 so that the load of a shared
machine falls on both alike; every round is warmed up first; each figure is the
median of the rounds. Forwarding is paused (it runs after commit, on another thread).

Each case also shows its *floor*: the plain save plus only the SQL that events add,
sent straight through the driver (no Python of ours at all). What lies between the
floor and the measured ratio is our own overhead; a floor above the aim means the
aim cannot be met without dropping that SQL (the INSERT of the rows, or the SELECT
that sees what other processes did to them) and with it a guarantee.

The no-op update is measured twice on SQLite. While nothing but this connection's saves
wrote since the row's last save, the save path checks SQLite's two change counters
instead of reading the Event rows (``django_integration/_quiet.py``): that is the case
with the aim, and its floor is the plain save plus ``PRAGMA data_version``. After
anything else wrote (another process's commit, a ``QuerySet.update()``), the save reads
the rows: that case is shown without an aim, with the SELECT in its floor. On
PostgreSQL both cases read the rows.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from django_integration import _event_sql, _quiet
from django_integration._dispatcher import dispatcher
from tests.django_integration.testapp.models import PlainReservation, Reservation

__all__ = ["save_costs"]

CHUNK = 25

Save = Callable[[], None]


class Results(Protocol):
    def add(self, label: str, ratio: float, aim: float, *, at_most: bool,
            note: str = "") -> None: ...


def _checkin() -> Any:
    return timezone.now() + timedelta(days=3)


def _driver_execute(sql: str, params: list[Any]) -> None:
    """One statement through the driver's own cursor: the cost of the SQL alone."""
    if connection.vendor == "sqlite":
        sql = sql.replace("%s", "?")
    cursor = connection.connection.cursor()
    cursor.execute(sql, params)
    cursor.fetchall()


class _EventInsert:
    """The INSERT of a Reservation's two Event rows, exactly as the save path builds it,
    with its parameters bound once (only the entity id changes)."""

    def __init__(self) -> None:
        connection.ensure_connection()
        bound, _ = _event_sql._insert_template(connection)
        self.sql = _event_sql._insert_sql(connection, 2)
        now = timezone.now()
        rows = [{"name": "reservation_confirmed", "scheduled": False, "status": "pending",
                 "at": now, "data": {}, "error": "", "needs_delivery": True},
                {"name": "checkin_due", "scheduled": True, "status": "scheduled",
                 "at": _checkin(), "data": {}, "error": "", "needs_delivery": True}]
        stamp = _event_sql._DATETIME.get_db_prep_save(now, connection)
        # As the save path sets it (its foreign key is checked at commit, as for ours).
        content_type = ContentType.objects.get_for_model(PlainReservation).pk
        self.params: list[Any] = []
        self.entity_slots: list[int] = []
        for row in rows:
            row.update(entity_type="testapp.plainreservation", entity_id="",
                       content_type=content_type)
            for key, constant, convert in bound:
                if key == "entity_id":
                    self.entity_slots.append(len(self.params))
                if constant is not _event_sql._VARIES:
                    self.params.append(constant)
                elif key in _event_sql._STAMPS:
                    self.params.append(stamp)
                else:
                    self.params.append(row[key] if convert is None else convert(row[key]))

    def __call__(self, entity_id: int) -> None:
        params = list(self.params)
        for slot in self.entity_slots:
            params[slot] = str(entity_id)
        _driver_execute(self.sql, params)


def _cases(insert: _EventInsert) -> list[tuple[str, Callable[[type], Save], Save, float | None]]:
    checkin = _checkin()

    def create(model: type) -> Save:
        return lambda: model.objects.create(checkin_at=checkin, status="confirmed")

    def create_atomic(model: type) -> Save:
        def run() -> None:
            with transaction.atomic():
                model.objects.create(checkin_at=checkin, status="confirmed")
        return run

    def create_floor() -> None:
        insert(PlainReservation.objects.create(checkin_at=checkin, status="confirmed").pk)

    def create_atomic_floor() -> None:
        with transaction.atomic():
            create_floor()

    def update(model: type) -> Save:
        obj = model.objects.create(checkin_at=checkin, status="confirmed")

        def run() -> None:
            obj.status = "confirmed"  # no event changes
            obj.save()
        return run

    plain = PlainReservation.objects.create(checkin_at=checkin, status="confirmed")
    tracked = Reservation.objects.create(checkin_at=checkin, status="confirmed")
    select = [_event_sql._select(2), ["testapp.reservation", str(tracked.pk),
                                      "reservation_confirmed", "checkin_due"]]

    def update_floor() -> None:
        plain.save()
        if connection.vendor == "sqlite":  # nothing else wrote: the counter check alone
            _driver_execute("PRAGMA data_version", [])
        else:
            _driver_execute(*select)

    def update_after_another_writer(model: type) -> Save:
        obj = model.objects.create(checkin_at=checkin, status="confirmed")

        def run() -> None:
            _quiet.forget(connection)  # as after any other write: the SELECT path
            obj.save()
        return run

    def update_after_another_writer_floor() -> None:
        plain.save()
        _driver_execute(*select)

    def update_twice_atomic(model: type) -> Save:
        obj = model.objects.create(checkin_at=checkin, status="confirmed")

        def run() -> None:
            with transaction.atomic():  # the second save reads no Event row
                obj.save()
                obj.save()
        return run

    def update_twice_floor() -> None:
        with transaction.atomic():
            plain.save()
            _driver_execute(*select)
            plain.save()

    return [("create, both events, autocommit", create, create_floor, None),
            ("create, both events, in atomic()", create_atomic, create_atomic_floor, 1.3),
            ("update, no event changes", update, update_floor, 1.3),
            ("update, no change, after another writer", update_after_another_writer,
             update_after_another_writer_floor, None),
            ("2 updates in one atomic(), no change", update_twice_atomic, update_twice_floor,
             None)]


def _round(saves: list[Save], n: int) -> list[tuple[float, float]]:
    """Per-save (wall, CPU) seconds of each of ``saves``, run in alternating chunks."""
    wall = [0.0] * len(saves)
    cpu = [0.0] * len(saves)
    for _ in range(max(1, n // CHUNK)):
        for i, save in enumerate(saves):
            w, c = time.perf_counter(), time.process_time()
            for _ in range(CHUNK):
                save()
            wall[i] += time.perf_counter() - w
            cpu[i] += time.process_time() - c
    count = max(1, n // CHUNK) * CHUNK
    return [(w / count, c / count) for w, c in zip(wall, cpu, strict=True)]


def _round_trip(n: int = 500) -> float:
    cursor = connection.connection.cursor()
    times = []
    for _ in range(n):
        began = time.perf_counter()
        cursor.execute("SELECT 1")
        cursor.fetchall()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def save_costs(results: Results, rounds: int, n: int = 300) -> None:
    """Print part 1 and add its aims to ``results``."""
    dispatcher.pause()
    try:
        insert = _EventInsert()
        print(f"1. save() cost, {connection.vendor}, median of {rounds} rounds x {n} saves "
              f"each, in alternating chunks of {CHUNK} (Reservation: 2 EventDefinitions; "
              "baseline PlainReservation: none; floor: the plain save + only the SQL events "
              "add, sent by the driver)", flush=True)
        if connection.vendor != "sqlite":
            print(f"  one round trip to the database (SELECT 1): "
                  f"{_round_trip() * 1e6:.0f} us", flush=True)
        for label, make, floor, aim in _cases(insert):
            saves = [make(PlainReservation), make(Reservation), floor]
            _round(saves, CHUNK * 2)  # warm-up: caches, prepared statements, the file
            measured = [_round(saves, n) for _ in range(rounds)]
            wall = [statistics.median(r[i][0] for r in measured) for i in range(3)]
            cpu = [statistics.median(r[i][1] for r in measured) for i in range(3)]
            ratio, floor_ratio = wall[1] / wall[0], wall[2] / wall[0]
            print(f"  {label:<40} plain {wall[0] * 1e6:6.0f} us  with events "
                  f"{wall[1] * 1e6:6.0f} us  ratio {ratio:4.2f}x  floor {floor_ratio:4.2f}x  "
                  f"(CPU of this process: ratio {cpu[1] / cpu[0]:4.2f}x, floor "
                  f"{cpu[2] / cpu[0]:4.2f}x)", flush=True)
            if aim is not None:
                results.add(f"save(): {label}", ratio, aim, at_most=True,
                            note=f"floor {floor_ratio:.2f}x")
    finally:
        dispatcher.resume()
