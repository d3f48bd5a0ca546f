"""One run's latency, five steps: durable-automation (regular steps, and local steps)
against hand-written temporalio with five regular activities, on one dev server.

    python benchmarks/latency.py [--runs 100] [--rounds 3]

Each round makes ``--runs`` sequential runs of each side, one at a time and
interleaved (ours, raw, ours-local, ours, ...), timing each from start to result.
Prints p50 and p99 per side (median of the rounds) and the medians of the rounds'
ratios beside their aims:
regular steps at most 1.1x raw, local steps at most 0.5x raw regular activities.
Exits 1 when an aim is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from bench_harness import Bench, bench, finish, median, percentile, verdict
from raw_baselines import RawFiveActivities

from durable_automation import engine

AIM_REGULAR = 1.1
AIM_LOCAL = 0.5


def sides(b: Bench) -> dict[str, Callable[[], Awaitable[None]]]:
    async def ours() -> None:
        run = await engine.astart("bench_five_steps_regular")
        assert (await run.aresult(timeout=120))["n"] == 5

    async def local() -> None:
        run = await engine.astart("bench_five_steps_local")
        assert (await run.aresult(timeout=120))["n"] == 5

    async def raw() -> None:
        result = await b.client.execute_workflow(
            RawFiveActivities.run, id=f"raw-{uuid.uuid4().hex}", task_queue=b.raw_queue)
        assert result == 5

    return {"ours": ours, "raw": raw, "ours-local": local}


async def main(runs: int, rounds: int) -> bool:
    async with bench() as b:
        timed = sides(b)
        for fn in timed.values():  # warm up
            for _ in range(5):
                await fn()
        p50: dict[str, list[float]] = {name: [] for name in timed}
        p99: dict[str, list[float]] = {name: [] for name in timed}
        for n in range(rounds):
            samples: dict[str, list[float]] = {name: [] for name in timed}
            for _ in range(runs):
                for name, fn in timed.items():
                    began = time.perf_counter()
                    await fn()
                    samples[name].append(time.perf_counter() - began)
            for name, values in samples.items():
                p50[name].append(percentile(values, 50))
                p99[name].append(percentile(values, 99))
            print(f"  round {n + 1}: " + ", ".join(
                f"{name} p50 {p50[name][-1] * 1e3:.0f} ms p99 {p99[name][-1] * 1e3:.0f} ms"
                for name in timed))
    m50 = {name: median(v) for name, v in p50.items()}
    m99 = {name: median(v) for name, v in p99.items()}
    print(f"5-step run latency, {runs} sequential runs per side, median of {rounds} rounds:")
    for name in timed:
        print(f"  {name:<11} p50 {m50[name] * 1e3:7.1f} ms   p99 {m99[name] * 1e3:7.1f} ms")

    def ratio(values: dict[str, list[float]], side: str) -> float:
        # Median of the rounds' ratios: within a round the sides were interleaved.
        return median([a / b for a, b in zip(values[side], values["raw"], strict=True)])

    results = [
        verdict("latency p50, ours/raw", ratio(p50, "ours"), AIM_REGULAR),
        verdict("latency p99, ours/raw", ratio(p99, "ours"), AIM_REGULAR),
        verdict("latency p50, local steps/raw activities", ratio(p50, "ours-local"),
                AIM_LOCAL),
        verdict("latency p99, local steps/raw activities", ratio(p99, "ours-local"),
                AIM_LOCAL),
    ]
    return all(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    finish(asyncio.run(main(args.runs, args.rounds)))
