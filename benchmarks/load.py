"""Load on loopback, bounded and self-stopping: 1,000 events in a burst into the Django
integration, and 1,000 concurrent sleeping runs on one worker, on a dev server this
script starts and stops.

    python benchmarks/load.py [--events 1000] [--runs 1000]
    DURABLE_AUTOMATION_TEST_DB=postgres python benchmarks/load.py

Prints throughput and checks every event was handled exactly once and every run
completed exactly once (the same checks run at smaller scale in the test suite:
tests/django_integration/test_load_small.py, tests/workflows/test_load_small.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_settings")

import django

django.setup()

from django.core.management import call_command
from django.db import connection

from django_integration.outbox import flush
from durable_automation import engine
from durable_automation._core.runtime import LoopThread
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker
from tests.django_integration.testapp import automations  # noqa: F401
from tests.django_integration.testapp.models import Booking, Effect
from tests.workflows import test_load_small

DEADLINE = 300.0  # seconds: every phase stops by itself


def wait_until(check, what: str) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > DEADLINE:
            raise SystemExit(f"FAIL: {what} not done within {DEADLINE:.0f}s")
        time.sleep(0.2)
    return time.perf_counter() - started


def event_burst(n: int) -> None:
    refs = [f"load-{uuid.uuid4().hex[:6]}-{i}" for i in range(n)]
    started = time.perf_counter()
    for ref in refs:
        Booking.objects.create(ref=ref, paid=True)
    saved = time.perf_counter() - started
    flush(DEADLINE)

    def handled() -> Counter:
        return Counter(Effect.objects.filter(automation="tb_booking_paid_handler",
                                             entity__in=refs).values_list("entity", flat=True))

    wait_until(lambda: len(handled()) == n, f"{n} events handled")
    total = time.perf_counter() - started
    counts = handled()
    once = set(counts.values()) == {1} and set(counts) == set(refs)
    print(f"events: {n} saves in {saved:.1f}s; all handled {total:.1f}s after the first save "
          f"({n / total:.0f} events/s end to end); each exactly once: {once}")
    if not once:
        raise SystemExit("FAIL: an event was lost or handled twice")


async def sleeping_runs(n: int) -> None:
    test_load_small.COMPLETIONS.clear()
    started = time.perf_counter()
    runs = await asyncio.gather(*(engine.astart("load_sleeper", n=i) for i in range(n)))
    launched = time.perf_counter() - started
    results = await asyncio.wait_for(
        asyncio.gather(*(run.aresult() for run in runs)), DEADLINE)
    total = time.perf_counter() - started
    once = {test_load_small.COMPLETIONS[run.id] for run in runs} == {1}
    ok = sorted(r["n"] for r in results) == list(range(n))
    print(f"runs: {n} started in {launched:.1f}s ({n / launched:.0f}/s), each sleeping 2s; "
          f"all completed after {total:.1f}s; each exactly once: {once and ok}")
    if not (once and ok):
        raise SystemExit("FAIL: a run did not complete exactly once")


def main(events: int, runs: int) -> None:
    call_command("migrate", run_syncdb=True, verbosity=0)
    server = DevServer(ui=False).start()
    runner = LoopThread("load-worker")
    queue = f"load-{uuid.uuid4().hex[:6]}"

    async def start() -> AutomationWorker:
        return await AutomationWorker(await server.connect(), queue, bind_engine=False,
                                      max_concurrent_steps=200).__aenter__()

    worker = runner.run(start())
    previous = engine.bind(worker.client, queue, runner.loop)
    try:
        event_burst(events)
        runner.run(sleeping_runs(runs))
    finally:
        engine.restore(previous)
        runner.run(worker.__aexit__(None, None, None), timeout=60)
        runner.stop()
        server.stop()
        if connection.vendor == "postgresql":
            Booking.objects.filter(ref__startswith="load-").delete()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    main(args.events, args.runs)
    sys.stdout.flush()
    os._exit(0)  # temporalio's interpreter-shutdown crash (sdk-python#300)
