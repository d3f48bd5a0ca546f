"""A 5-step durable-automation workflow against a hand-written temporalio workflow doing the
same five activities, on the same dev server, same worker settings.

    python benchmarks/step_workflow_vs_raw.py [--runs 60] [--concurrency 10]

Prints wall time per batch for each and the ratio (aim: at most 1.15).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_automations  # noqa: F401 - registers our side (bench_five_steps_regular)
from raw_baselines import RawFiveActivities, raw_step
from temporalio.worker import Worker

from durable_automation import engine
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker, sandbox_runner


async def batch(start_one, runs: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await start_one()

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(runs)))
    return time.perf_counter() - began


AIM = 1.15  # ours/raw wall time for the same runs


async def main(runs: int, concurrency: int, rounds: int) -> bool:
    """Print both medians and the ratio beside its aim; whether the aim was met."""
    from concurrent.futures import ThreadPoolExecutor

    with DevServer(ui=False) as server:
        client = await server.connect()
        ours_q, raw_q = f"bench-da-{uuid.uuid4().hex[:6]}", f"bench-raw-{uuid.uuid4().hex[:6]}"
        with ThreadPoolExecutor(100) as pool:
            raw_worker = Worker(client, task_queue=raw_q, workflows=[RawFiveActivities],
                                activities=[raw_step], activity_executor=pool,
                                workflow_runner=sandbox_runner())
            async with AutomationWorker(client, ours_q), raw_worker:

                async def ours() -> None:
                    run = await engine.astart("bench_five_steps_regular")
                    assert (await run.aresult())["n"] == 5

                async def raw() -> None:
                    result = await client.execute_workflow(
                        RawFiveActivities.run, id=f"raw-{uuid.uuid4().hex}", task_queue=raw_q)
                    assert result == 5

                await batch(ours, 10, concurrency)  # warm up both
                await batch(raw, 10, concurrency)
                ours_times, raw_times = [], []
                for _ in range(rounds):  # interleaved, so drift affects both alike
                    ours_times.append(await batch(ours, runs, concurrency))
                    raw_times.append(await batch(raw, runs, concurrency))
    o, r = statistics.median(ours_times), statistics.median(raw_times)
    print(f"{runs} runs x 5 steps, concurrency {concurrency}, median of {rounds} rounds")
    print(f"  raw temporalio workflow : {r:7.3f} s  ({runs / r:6.1f} runs/s)")
    print(f"  durable-automation      : {o:7.3f} s  ({runs / o:6.1f} runs/s)")
    ok = o / r <= AIM
    print(f"  ratio durable/raw       : {o / r:7.3f}   (aim <= {AIM})   {'PASS' if ok else 'MISS'}")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    met = asyncio.run(main(args.runs, args.concurrency, args.rounds))
    import os

    sys.stdout.flush()
    # Exit 1 on a miss; os._exit for temporalio's shutdown crash (sdk-python#300).
    os._exit(0 if met else 1)
