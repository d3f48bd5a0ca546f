"""Benchmark: the cost of model events on ``save()``, and commit-to-first-step latency.

    python benchmarks/django_events.py                       # SQLite (a temp file)
    DURABLE_AUTOMATION_TEST_DB=postgres python benchmarks/django_events.py

1. ``save()`` of ``Reservation`` (two EventDefinitions: an immediate one and a
   scheduled one) relative to ``PlainReservation`` (same fields, no events), measured
   in the same run, in three cases: a create that makes both events (one INSERT into
   the Event table), the same inside ``transaction.atomic()`` (as with
   ATOMIC_REQUESTS), and an update that changes no event (one indexed SELECT).
   Forwarding is paused so only what ``save()`` itself costs is measured (forwarding
   happens on a background thread after commit). Aim: at most 1.5x.
2. Commit-to-first-step latency on the Temporal dev server: time from the commit of a
   save that makes an immediate event to the first line of its ``@on_event`` handler
   running in the worker (same process, same clock). Aim: p99 under 250 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_settings")

import django

django.setup()

from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from django_integration._dispatcher import dispatcher
from django_integration.models import Event
from durable_automation import engine, on_event
from durable_automation._runtime import LoopThread
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker
from tests.django_integration.testapp.models import (
    Booking,
    PlainReservation,
    Reservation,
)

_started: dict[str, float] = {}
_seen = threading.Condition()


@on_event("tb_booking_paid", name="bench_first_step")
def bench_first_step(event) -> None:
    with _seen:
        _started[event.data["ref"]] = time.perf_counter()
        _seen.notify_all()


def _per_save(fn: Callable[[int], None], n: int) -> float:
    fn(-1)  # warm up (content-type cache, prepared plans)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n


def _median_of(runs: int, fn: Callable[[int], None], n: int) -> float:
    return statistics.median(_per_save(fn, n) for _ in range(runs))


def save_costs(n: int = 300) -> None:
    checkin = timezone.now() + timedelta(days=3)
    dispatcher.pause()

    def create(model: type) -> Callable[[int], None]:
        return lambda i: model.objects.create(checkin_at=checkin, status="confirmed")

    def create_atomic(model: type) -> Callable[[int], None]:
        def run(i: int) -> None:
            with transaction.atomic():
                model.objects.create(checkin_at=checkin, status="confirmed")
        return run

    def update(model: type) -> Callable[[int], None]:
        obj = model.objects.create(checkin_at=checkin, status="confirmed")

        def run(i: int) -> None:
            obj.status = "confirmed"  # no event changes
            obj.save()
        return run

    print(f"save() cost, {connection.vendor}, median of 5 x {n} saves "
          "(Reservation: 2 EventDefinitions; baseline PlainReservation: none)")
    for label, make in (("create, both events occur, autocommit", create),
                        ("create, both events occur, in atomic()", create_atomic),
                        ("update, no event changes", update)):
        plain = _median_of(5, make(PlainReservation), n)
        evented = _median_of(5, make(Reservation), n)
        print(f"  {label:<42} plain {plain * 1e6:7.0f} us  with events "
              f"{evented * 1e6:7.0f} us  ratio {evented / plain:4.2f}x  (aim <= 1.5x)")
    dispatcher.resume()


def commit_to_first_step(n: int = 200) -> None:
    server = DevServer(ui=False)
    server.start()
    runner = LoopThread("bench-worker")
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"

    async def start() -> AutomationWorker:
        worker = AutomationWorker(await server.connect(), task_queue, bind_engine=False)
        return await worker.__aenter__()

    worker = runner.run(start())
    previous = engine.bind(worker.client, task_queue, runner.loop)
    latencies = []
    try:
        for i in range(-10, n):  # the first 10 warm up the server, worker and caches
            ref = f"L-{i}-{uuid.uuid4().hex[:6]}"
            with transaction.atomic():
                Booking.objects.create(ref=ref, paid=True)
                committed_at = time.perf_counter()  # ~ the commit: on_commit runs next
            with _seen:
                if not _seen.wait_for(lambda ref=ref: ref in _started, timeout=10):
                    raise RuntimeError(f"handler for {ref} did not run within 10s")
            if i >= 0:
                latencies.append(_started[ref] - committed_at)
    finally:
        engine.restore(previous)
        runner.run(worker.__aexit__(None, None, None), timeout=60)
        runner.stop()
        server.stop()
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"commit -> first step (dev server, {n} sequential saves): p50 {p50 * 1e3:.1f} ms, "
          f"p99 {p99 * 1e3:.1f} ms, max {latencies[-1] * 1e3:.1f} ms  (aim: p99 < 250 ms)")
    left = Event.objects.filter(name="tb_booking_paid", needs_delivery=True).count()
    print(f"  events left undelivered: {left}")


def main() -> None:
    call_command("migrate", run_syncdb=True, verbosity=0)
    try:
        save_costs()
        commit_to_first_step()
    finally:
        if connection.vendor == "postgresql":
            for model in (Reservation, PlainReservation, Booking, Event):
                model.objects.all().delete()
    sys.stdout.flush()
    os._exit(0)  # temporalio's interpreter-shutdown crash (sdk-python#300)


if __name__ == "__main__":
    main()
