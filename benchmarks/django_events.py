"""Benchmark: Django events against raw temporalio, on the same dev server, in the same run.

    python benchmarks/django_events.py                       # SQLite (a temp file)
    DURABLE_AUTOMATION_TEST_DB=postgres python benchmarks/django_events.py
    python benchmarks/django_events.py --burst 300 --rounds 3  # quicker
    python benchmarks/django_events.py --only save           # part 1 alone, no dev server
    python benchmarks/django_events.py --only throughput     # part 3 alone

Every figure is the median of ``--rounds`` rounds (at least 3), printed with its aim;
the script exits non-zero when any aim is missed.

1. ``save()`` of ``Reservation`` (two EventDefinitions) relative to ``PlainReservation``
   (same fields, no events): a create inside ``atomic()`` that makes both events, and an
   update that changes no event. Aim: at most 1.3x each. Each is shown with its floor
   (the plain save plus only the SQL events add); see ``save_cost.py``. (Shown too,
   without an aim: a create in autocommit, and two no-op updates in one ``atomic()``,
   where the second reads no Event row.)
2. Commit-to-first-step latency: from the commit of a save that makes an immediate event
   to the first line of its ``@on_event`` handler, against raw ``start_workflow`` of a
   one-activity workflow to the first line of its activity (sequential). Aim: p99 at
   most 1.5x raw.
3. Throughput: a burst of saves, each making one immediate event with one handler, from
   the first save to the last handler's first line; against raw ``start_workflow`` of a
   one-activity workflow for as many ids (64 in flight), to the last activity's first
   line. Aim: at least 0.9x raw. Also printed: the forwarding rate alone (first commit
   to Temporal having accepted every start). Each side's burst starts once the other
   side's runs have all completed (none open on its task queue), so neither side's time
   includes the other's tail on the shared server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_settings")

import django

django.setup()

from django.core.management import call_command
from django.db import connection, transaction
from raw_one_activity import SEEN as RAW_SEEN
from raw_one_activity import SEEN_LOCK as RAW_LOCK
from raw_one_activity import RawOneActivity, raw_first_step
from save_cost import save_costs
from temporalio.worker import Worker

from django_integration._dispatcher import dispatcher
from django_integration.models import Event
from durable_automation import engine, on_event
from durable_automation._core.runtime import LoopThread
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker, sandbox_runner
from tests.django_integration.testapp.models import BenchItem, PlainReservation, Reservation

_started: dict[str, float] = {}
_seen = threading.Condition()


@on_event("tb_bench_done", name="bench_first_step")
def bench_first_step(event) -> None:
    with _seen:
        _started[event.data["ref"]] = time.perf_counter()
        _seen.notify_all()


class Results:
    """Ratios with their aims; ``missed`` says whether any aim was missed."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str, bool, str]] = []

    def add(self, label: str, ratio: float, aim: float, *, at_most: bool,
            note: str = "") -> None:
        ok = ratio <= aim if at_most else ratio >= aim
        verdict = ("ok" if ok else "MISSED") + (f" ({note})" if note else "")
        self.rows.append((label, ratio, f"{'<=' if at_most else '>='} {aim}x", ok, verdict))
        print(f"  => {label}: {ratio:.2f}x  (aim {'<=' if at_most else '>='} {aim}x)  "
              f"{verdict}", flush=True)

    @property
    def missed(self) -> bool:
        return not all(row[3] for row in self.rows)


# ── 1. save() cost: benchmarks/save_cost.py ─────────────────────────────────────────


# ── 2 and 3: against raw temporalio ──────────────────────────────────────────────────


class Stack:
    """A dev server with our worker (engine bound) and a raw temporalio worker."""

    def __init__(self) -> None:
        self.server = DevServer(ui=False)
        self.runner = LoopThread("bench-workers")
        self.pool = ThreadPoolExecutor(100)

    def __enter__(self) -> Self:
        self.server.start()
        self.ours_q = f"bench-da-{uuid.uuid4().hex[:6]}"
        self.raw_q = f"bench-raw-{uuid.uuid4().hex[:6]}"

        async def start() -> None:
            self.client = await self.server.connect()
            self.worker = await AutomationWorker(self.client, self.ours_q,
                                                 bind_engine=False).__aenter__()
            self.raw = Worker(self.client, task_queue=self.raw_q, workflows=[RawOneActivity],
                              activities=[raw_first_step], activity_executor=self.pool,
                              workflow_runner=sandbox_runner())
            self.raw_task = asyncio.ensure_future(self.raw.run())

        self.runner.run(start())
        self.previous = engine.bind(self.worker.client, self.ours_q, self.runner.loop)
        return self

    def __exit__(self, *exc: object) -> None:
        engine.restore(self.previous)

        async def stop() -> None:
            await self.raw.shutdown()
            await self.worker.__aexit__(None, None, None)

        try:
            self.runner.run(stop(), timeout=60)
        finally:
            self.runner.stop()
            self.server.stop()
            self.pool.shutdown(wait=False)

    def settle(self, queue: str, timeout: float = 120.0) -> None:
        """Wait until no run on ``queue`` is open: each side starts on a quiet server,
        not while the other side's runs are still completing (which would put that
        side's tail into this side's time)."""
        query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"

        async def quiet() -> None:
            deadline = time.monotonic() + timeout
            while (await self.client.count_workflows(query)).count > 0:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"runs on {queue} still open after {timeout:.0f} s")
                await asyncio.sleep(0.1)

        self.runner.run(quiet(), timeout=timeout + 10)

    def raw_start(self, ref: str) -> None:
        self.runner.run(self.client.start_workflow(RawOneActivity.run, ref, id=f"raw-{ref}",
                                                   task_queue=self.raw_q))

    def raw_burst(self, refs: list[str]) -> None:
        async def burst() -> None:
            gate = asyncio.Semaphore(64)

            async def one(ref: str) -> None:
                async with gate:
                    await self.client.start_workflow(RawOneActivity.run, ref, id=f"raw-{ref}",
                                                     task_queue=self.raw_q)

            await asyncio.gather(*(one(r) for r in refs))

        self.runner.run(burst(), timeout=600)


def _wait(lock: threading.Condition, seen: dict[str, float], refs: list[str],
          timeout: float) -> float:
    with lock:
        if not lock.wait_for(lambda: all(r in seen for r in refs), timeout=timeout):
            missing = sum(r not in seen for r in refs)
            raise RuntimeError(f"{missing} of {len(refs)} first steps did not run in {timeout}s")
        return max(seen[r] for r in refs)


def _p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def latency(stack: Stack, results: Results, rounds: int, n: int) -> None:
    print(f"2. commit -> first step, {n} sequential saves / starts per round, median of "
          f"{rounds} rounds", flush=True)
    ours_p99, raw_p99, ours_p50, raw_p50 = [], [], [], []
    for r in range(-1, rounds):  # round -1 warms up the server, the workers and caches
        ours, raw = [], []
        for _ in range(n if r >= 0 else 20):
            ref = f"L-{uuid.uuid4().hex[:10]}"
            with transaction.atomic():
                BenchItem.objects.create(ref=ref)
                committed_at = time.perf_counter()  # ~ the commit: on_commit runs next
            ours.append(_wait(_seen, _started, [ref], 20) - committed_at)
            ref = f"R-{uuid.uuid4().hex[:10]}"
            began = time.perf_counter()
            stack.raw_start(ref)
            raw.append(_wait(RAW_LOCK, RAW_SEEN, [ref], 20) - began)
        if r >= 0:
            ours_p99.append(_p99(ours))
            raw_p99.append(_p99(raw))
            ours_p50.append(statistics.median(ours))
            raw_p50.append(statistics.median(raw))
    o, w = statistics.median(ours_p99), statistics.median(raw_p99)
    print(f"  raw temporalio     p50 {statistics.median(raw_p50) * 1e3:6.1f} ms  "
          f"p99 {w * 1e3:6.1f} ms")
    print(f"  durable-automation p50 {statistics.median(ours_p50) * 1e3:6.1f} ms  "
          f"p99 {o * 1e3:6.1f} ms", flush=True)
    results.add("latency p99 ours/raw", o / w, 1.5, at_most=True)


def throughput(stack: Stack, results: Results, rounds: int, burst: int) -> None:
    print(f"3. throughput, bursts of {burst}, median of {rounds} rounds", flush=True)
    ours_eps, forward_eps, raw_wps, raw_sps, save_s = [], [], [], [], []
    for _ in range(rounds):
        refs = [f"T-{uuid.uuid4().hex[:10]}" for _ in range(burst)]
        began = time.perf_counter()
        for ref in refs:
            BenchItem.objects.create(ref=ref)
        saved = time.perf_counter()
        pending = Event.objects.filter(name="tb_bench_done", needs_delivery=True)
        while pending.exists():
            time.sleep(0.01)
        forwarded = time.perf_counter()
        last = _wait(_seen, _started, refs, 600)
        stack.settle(stack.ours_q)
        ours_eps.append(burst / (last - began))
        save_s.append(saved - began)
        forward_eps.append(burst / (forwarded - began))
        print(f"  ours: saves {saved - began:5.2f} s, forwarded {forwarded - began:5.2f} s, "
              f"handled {last - began:5.2f} s", flush=True)

        refs = [f"W-{uuid.uuid4().hex[:10]}" for _ in range(burst)]
        began = time.perf_counter()
        stack.raw_burst(refs)
        started = time.perf_counter()
        last = _wait(RAW_LOCK, RAW_SEEN, refs, 600)
        stack.settle(stack.raw_q)
        raw_wps.append(burst / (last - began))
        raw_sps.append(burst / (started - began))
        print(f"  raw:  started {started - began:5.2f} s, handled {last - began:5.2f} s",
              flush=True)
    o, f, w, ws = (statistics.median(x) for x in (ours_eps, forward_eps, raw_wps, raw_sps))
    print(f"  raw temporalio         {w:7.1f} workflows/s (start -> first activity)")
    print(f"  raw starts alone       {ws:7.1f} workflows/s (start -> Temporal accepted all)")
    print(f"  durable-automation     {o:7.1f} events/s    (first save -> last first step)")
    print(f"  forwarding alone       {f:7.1f} events/s    (first save -> Temporal accepted all)",
          flush=True)
    results.add("throughput ours/raw", o / w, 0.9, at_most=False)
    print(f"  (forwarding alone includes the {burst} sequential saves themselves: median "
          f"{statistics.median(save_s):.2f} s of it; raw starts alone make no database write)",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--latency-n", type=int, default=100)
    parser.add_argument("--only", choices=("save", "latency", "throughput"), default=None,
                        help="run one part alone ('save' needs no dev server)")
    parser.add_argument("--saves", type=int, default=300, help="saves per round in part 1")
    args = parser.parse_args()
    rounds = max(args.rounds, 3)
    call_command("migrate", run_syncdb=True, verbosity=0)
    results = Results()
    try:
        if args.only in (None, "save"):
            save_costs(results, rounds, args.saves)
        if args.only != "save":
            with Stack() as stack:
                if args.only in (None, "latency"):
                    latency(stack, results, rounds, args.latency_n)
                if args.only in (None, "throughput"):
                    throughput(stack, results, rounds, args.burst)
    finally:
        dispatcher.pause()  # the clean-up's deletes forward nothing (the server is gone)
        if connection.vendor == "postgresql":
            for model in (Reservation, PlainReservation, BenchItem, Event):
                model.objects.all().delete()
    print("\nsummary (median of rounds):")
    for label, ratio, aim, _, verdict in results.rows:
        print(f"  {label:<44} {ratio:5.2f}x  aim {aim:<8} {verdict}")
    return 1 if results.missed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # temporalio's interpreter-shutdown crash (sdk-python#300)
