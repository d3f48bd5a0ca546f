"""What the saturation benchmarks share: one dev server, our worker and a hand-written
temporalio worker on it, percentiles, and the verdict line (aim beside the ratio)."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_automations  # noqa: F401 - registers our side
from raw_baselines import RawFiveActivities, RawStepSleepStep, raw_step
from temporalio.client import Client
from temporalio.worker import Worker

from durable_automation import engine
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker

__all__ = ["Bench", "bench", "finish", "percentile", "verdict"]


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
