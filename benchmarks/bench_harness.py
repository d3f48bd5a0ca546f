"""What the benchmarks share: one dev server, our worker and a hand-written temporalio
worker on it, percentiles, and the verdict line (aim beside the ratio) for the saturation
benchmarks; a dev server with our worker in a process of its own for the routing ones."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from raw_baselines import RawFiveActivities, RawStepSleepStep, raw_step
from temporalio.client import Client
from temporalio.worker import Worker

from durable_automation import engine
from durable_automation._client.connect import data_converter
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker

__all__ = ["Bench", "add_worker_option", "bench", "finish", "percentile", "serve_if_worker",
           "verdict", "worker_process"]


@dataclass
class Bench:
    """A dev server with both workers polling: ``ours_queue`` (engine bound to it) and
    ``raw_queue``, each one worker with the same activity concurrency."""

    client: Client
    ours_queue: str
    raw_queue: str


@asynccontextmanager
async def bench(concurrency: int = 200) -> AsyncIterator[Bench]:
    """Start the server and both workers; stop everything on exit."""
    import bench_automations  # noqa: F401 - registers our side (here: only these benchmarks')

    with DevServer(ui=False) as server:
        client = await server.connect()
        ours_q, raw_q = f"da-{uuid.uuid4().hex[:6]}", f"raw-{uuid.uuid4().hex[:6]}"
        with ThreadPoolExecutor(concurrency) as pool:
            raw_worker = Worker(client, task_queue=raw_q,
                                workflows=[RawStepSleepStep, RawFiveActivities],
                                activities=[raw_step], activity_executor=pool,
                                max_concurrent_activities=concurrency)
            ours = AutomationWorker(client, ours_q, max_concurrent_steps=concurrency,
                                    bind_engine=False)
            async with ours, raw_worker:
                previous = engine.bind(client, ours_q, asyncio.get_running_loop())
                try:
                    yield Bench(client, ours_q, raw_q)
                finally:
                    engine.restore(previous)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def verdict(label: str, ratio: float, aim: float) -> bool:
    """Print ``label: ratio (aim <= x) PASS/MISS`` and return whether it met the aim."""
    ok = ratio <= aim
    print(f"  {label:<44} {ratio:6.3f}x   aim <= {aim:.2f}x   {'PASS' if ok else 'MISS'}")
    return ok


def median(values: list[float]) -> float:
    return statistics.median(values)


def finish(ok: bool) -> None:
    """Exit 0 when every aim was met, 1 otherwise (without interpreter teardown:
    temporalio's shutdown crash, sdk-python#300)."""
    sys.stdout.flush()
    os._exit(0 if ok else 1)


# ── a worker in a process of its own (the routing benchmarks) ────────────────────────


@asynccontextmanager
async def worker_process(script: str, dynamic_config: dict[str, Any]) -> AsyncIterator[None]:
    """A dev server with ``dynamic_config`` and a worker in a subprocess (``script --worker
    ADDRESS TASK_QUEUE``, see :func:`serve_if_worker`), so that the worker's CPU does not
    share the benchmark's GIL; ``engine`` is bound to its task queue for the block, and
    all of it stops on exit."""
    server = DevServer(ui=False, dynamic_config=dynamic_config)
    server.start()
    task_queue = f"bench-{uuid.uuid4().hex[:6]}"
    worker = await asyncio.create_subprocess_exec(
        sys.executable, script, "--worker", server.address, task_queue)
    try:
        client = await server.connect()
        previous = engine.bind(client, task_queue, asyncio.get_running_loop())
        try:
            yield
        finally:
            engine.restore(previous)
    finally:
        worker.terminate()
        await worker.wait()
        server.stop()


def add_worker_option(parser: argparse.ArgumentParser) -> None:
    """The hidden ``--worker ADDRESS TASK_QUEUE`` option :func:`worker_process` passes."""
    parser.add_argument("--worker", nargs=2, metavar=("ADDRESS", "TASK_QUEUE"),
                        help=argparse.SUPPRESS)


def serve_if_worker(args: argparse.Namespace) -> None:
    """In worker mode, run a worker for every registered automation until SIGTERM, then
    exit; otherwise return."""
    if args.worker:
        asyncio.run(_run_worker(*args.worker))
        sys.exit(0)


async def _run_worker(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=data_converter())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await AutomationWorker(client, task_queue, bind_engine=False,
                           graceful_shutdown=timedelta(seconds=1)).run_until(stop)
