"""Where a run's time goes: history events, workflow tasks and commands per run, ours next
to raw temporalio, and the worker-side cost of one workflow task (sandbox, pydantic).

    python benchmarks/anatomy.py [--runs 200]

Starts a dev server (``durable_automation.devserver``), runs ``--runs`` concurrent
(step, 2 s sleep, step) runs of each side on one worker each, then:

1. fetches every run's history and prints, per run: events, workflow tasks, commands
   (by kind), history bytes, and what our commands are that raw has not;
2. replays the histories on this machine (no server involved), with and without the
   workflow sandbox, to price one workflow task on the worker;
3. prices the data conversion of one step's input and outcome (pydantic) against
   raw's int.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_automations  # noqa: F401 - registers ours
from raw_baselines import RawStepSleepStep, raw_step
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    Worker,
)

from durable_automation import engine
from durable_automation._client.connect import data_converter
from durable_automation._core.wire import CommandWire, StepInput, StepOutcome
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker, replayer, workflow_classes

# Events a command of the workflow creates (the rest are the server's and the workers').
COMMAND_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "schedule activity",
    EventType.EVENT_TYPE_TIMER_STARTED: "start timer",
    EventType.EVENT_TYPE_TIMER_CANCELED: "cancel timer",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upsert search attributes",
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "modify properties",
    EventType.EVENT_TYPE_MARKER_RECORDED: "marker (local activity / patch)",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "complete workflow",
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal external",
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "start child",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continue as new",
}


class HeartbeatCounter(Interceptor):
    """Counts activity attempts that heartbeat: temporalio sends an attempt's first
    heartbeat to the server at once (later ones are throttled), so each such attempt
    costs the server one more call than an attempt that never heartbeats."""

    def __init__(self) -> None:
        self.attempts = 0
        self.heartbeating: set[tuple[str, str, int]] = set()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        counter = self

        class Outbound(ActivityOutboundInterceptor):
            def heartbeat(self, *details: Any) -> None:
                info = self.info()
                counter.heartbeating.add((info.workflow_id or "", info.activity_id,
                                          info.attempt))
                super().heartbeat(*details)

        class Inbound(ActivityInboundInterceptor):
            def init(self, outbound: ActivityOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

            async def execute_activity(self, input: Any) -> Any:
                counter.attempts += 1
                return await super().execute_activity(input)

        return Inbound(next)


def anatomy(history: WorkflowHistory) -> dict[str, Any]:
    """Counts of one history: events, workflow tasks, commands by kind, bytes."""
    tasks = sum(1 for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    commands = Counter(COMMAND_EVENTS[e.event_type] for e in history.events
                       if e.event_type in COMMAND_EVENTS)
    size = sum(e.ByteSize() for e in history.events)
    return {"events": len(history.events), "tasks": tasks, "commands": commands, "bytes": size}


def sequence(history: WorkflowHistory) -> list[str]:
    """The event types of a history, shortened (for printing one example of each)."""
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]


async def concurrent(start_one: Any, n: int) -> tuple[float, list[str]]:
    began = time.perf_counter()
    ids = await asyncio.gather(*(start_one(i) for i in range(n)))
    return time.perf_counter() - began, list(ids)


async def histories(client: Client, ids: list[str]) -> list[WorkflowHistory]:
    gate = asyncio.Semaphore(20)

    async def one(workflow_id: str) -> WorkflowHistory:
        async with gate:
            return await client.get_workflow_handle(workflow_id).fetch_history()

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def replay_seconds(player: Replayer, items: list[WorkflowHistory]) -> float:
    """Seconds to replay ``items`` (fails loudly on a replay error)."""
    async def feed() -> Any:
        for item in items:
            yield item

    began = time.perf_counter()
    async with player.workflow_replay_iterator(feed()) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise result.replay_failure
    return time.perf_counter() - began


def conversion_cost(rounds: int = 2000) -> tuple[float, float]:
    """Microseconds to encode + decode one step's input and outcome: ours, raw."""
    conv = data_converter().payload_converter
    step_input = StepInput(automation="bench_step_sleep_step", step="first",
                           run_id="bench_step_sleep_step:x", context={"n": 1}, execution=1,
                           visit=1)
    outcome = StepOutcome(context={"n": 2}, command=CommandWire(kind="goto", step="second"))

    def ours() -> None:
        for value, cls in ((step_input, StepInput), (outcome, StepOutcome)):
            [payload] = conv.to_payloads([value])
            conv.from_payloads([payload], [cls])

    def raw() -> None:
        for _ in range(2):
            [payload] = conv.to_payloads([1])
            conv.from_payloads([payload], [int])

    timings = []
    for fn in (ours, raw):
        began = time.perf_counter()
        for _ in range(rounds):
            fn()
        timings.append((time.perf_counter() - began) / rounds * 1e6)
    return timings[0], timings[1]


def report(label: str, items: list[WorkflowHistory]) -> dict[str, Any]:
    parts = [anatomy(h) for h in items]
    commands: Counter[str] = Counter()
    for part in parts:
        commands.update(part["commands"])
    n = len(parts)
    summary = {
        "events": statistics.mean(p["events"] for p in parts),
        "tasks": statistics.mean(p["tasks"] for p in parts),
        "bytes": statistics.mean(p["bytes"] for p in parts),
        "commands": {k: v / n for k, v in sorted(commands.items())},
    }
    print(f"  {label:<8} events {summary['events']:5.1f}   workflow tasks "
          f"{summary['tasks']:4.1f}   commands {sum(summary['commands'].values()):4.1f}   "
          f"history {summary['bytes'] / 1024:5.1f} KiB")
    for kind, count in summary["commands"].items():
        print(f"           {count:4.1f} x {kind}")
    return summary


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process (``pid``) or of this one (``None``)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def variant(name: str) -> Iterator[None]:
    """Ours with one thing switched off, to price it (the default changes nothing)."""
    from durable_automation._worker import activities, assembly
    from durable_automation.workflows import _step_program

    saved = (assembly.sandbox_runner, _step_program.record_park, activities._heartbeat_forever)
    if name == "ours-unsandboxed":
        assembly.sandbox_runner = UnsandboxedWorkflowRunner  # type: ignore[assignment]
    if name == "ours-no-park-memo":
        _step_program.record_park = lambda *args, **kwargs: None
    if name == "ours-beat-at-start":
        activities._heartbeat_forever = _beat_at_start
    try:
        yield
    finally:
        (assembly.sandbox_runner, _step_program.record_park,
         activities._heartbeat_forever) = saved


async def _beat_at_start(checkpoint: Any) -> None:
    """How steps heartbeated before this issue: at once, then every interval."""
    from temporalio import activity

    info = activity.info()
    while True:
        activity.heartbeat(*info.heartbeat_details)
        await asyncio.sleep(10)


async def measure(server: DevServer, client: Client, name: str, runs: int) -> dict[str, Any]:
    """Run ``runs`` concurrent runs of one side on a fresh worker; wall and CPU seconds."""
    queue = f"anat-{name}-{uuid.uuid4().hex[:6]}"
    beats = HeartbeatCounter()
    server_pid = server._server_pid()
    with variant(name), ThreadPoolExecutor(200) as pool:
        if name == "raw":
            worker: Any = Worker(client, task_queue=queue, workflows=[RawStepSleepStep],
                                 activities=[raw_step], activity_executor=pool,
                                 max_concurrent_activities=200, interceptors=[beats])
        else:
            worker = AutomationWorker(client, queue, max_concurrent_steps=200,
                                      bind_engine=False, interceptors=[beats])
        async with worker:
            previous = engine.bind(client, queue, asyncio.get_running_loop())
            try:
                async def one(i: int) -> str:
                    if name == "raw":
                        workflow_id = f"raw-{uuid.uuid4().hex}"
                        await client.execute_workflow(RawStepSleepStep.run, i, id=workflow_id,
                                                      task_queue=queue, rpc_timeout=RPC_TIMEOUT)
                        return workflow_id
                    run = await engine.astart("bench_step_sleep_step", n=i)
                    await run.aresult(timeout=900)
                    return run.id

                server_cpu, own_cpu = cpu_seconds(server_pid), cpu_seconds(None)
                wall, ids = await concurrent(one, runs)
                server_cpu = cpu_seconds(server_pid) - server_cpu
                own_cpu = cpu_seconds(None) - own_cpu
            finally:
                engine.restore(previous)
    return {"name": name, "wall": wall, "server_cpu": server_cpu, "own_cpu": own_cpu,
            "ids": ids, "beats": beats}


async def main(runs: int, variants: list[str], rounds: int) -> None:
    with DevServer(ui=False) as server:
        client = await server.connect()
        await measure(server, client, "ours", 20)  # warm up: imports, connections
        # Sides in turn, round after round, so that drift (a growing database, the
        # other processes on the machine) hits every side alike; medians per side.
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name in variants:
                results[name].append(await measure(server, client, name, runs))
        found = {name: await histories(client, r[-1]["ids"]) for name, r in results.items()}
    print(f"{runs} concurrent (step, 2 s sleep, step) runs, one worker each, sides in turn, "
          f"median of {rounds} rounds")
    print(f"  {'side':<18} {'wall s':>7} {'server CPU ms/run':>18} "
          f"{'worker+client CPU ms/run':>25} {'heartbeating attempts/run':>26}")
    for name, measured in results.items():
        wall = statistics.median(r["wall"] for r in measured)
        server_ms = statistics.median(r["server_cpu"] for r in measured) / runs * 1e3
        own_ms = statistics.median(r["own_cpu"] for r in measured) / runs * 1e3
        beats = len(measured[-1]["beats"].heartbeating) / runs
        print(f"  {name:<18} {wall:7.2f} {server_ms:18.2f} {own_ms:25.2f} {beats:26.1f}")
    print("per run (mean over every run's history):")
    for name, items in found.items():
        report(name, items)
    ours_h, raw_h = found.get("ours"), found.get("raw")
    if ours_h and raw_h:
        print("  one history, ours:", " ".join(sequence(ours_h[0])))
        print("  one history, raw: ", " ".join(sequence(raw_h[0])))
        # Worker-side cost of the workflow tasks: replay, no server, no network.
        sample_o, sample_r = ours_h[:200], raw_h[:200]
        tasks_o = sum(anatomy(h)["tasks"] for h in sample_o)
        tasks_r = sum(anatomy(h)["tasks"] for h in sample_r)
        ours_sandboxed = await replay_seconds(replayer(), sample_o)
        ours_plain = await replay_seconds(Replayer(workflows=workflow_classes(),
                                                   workflow_runner=UnsandboxedWorkflowRunner(),
                                                   data_converter=data_converter()), sample_o)
        raw_sandboxed = await replay_seconds(Replayer(workflows=[RawStepSleepStep]), sample_r)
        print(f"replaying {len(sample_o)} histories of each side on this machine "
              "(worker CPU per workflow task):")
        print(f"  ours, sandboxed  : {ours_sandboxed / tasks_o * 1e3:6.2f} ms/task")
        print(f"  ours, unsandboxed: {ours_plain / tasks_o * 1e3:6.2f} ms/task")
        print(f"  raw, sandboxed   : {raw_sandboxed / tasks_r * 1e3:6.2f} ms/task")
    ours_us, raw_us = conversion_cost()
    print(f"data conversion of one step (input + outcome, encode + decode): ours "
          f"{ours_us:.0f} us, raw {raw_us:.0f} us")


# A saturated server can take longer than the default 10 s to accept a start.
RPC_TIMEOUT = timedelta(seconds=120)

VARIANTS = ["ours", "raw", "ours-beat-at-start", "ours-no-park-memo", "ours-unsandboxed"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", action="append", choices=VARIANTS,
                        help="sides to measure, in this order (default: all)")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.variant or VARIANTS, args.rounds))
    sys.stdout.flush()
    os._exit(0)  # temporalio's interpreter-shutdown crash (sdk-python#300)
