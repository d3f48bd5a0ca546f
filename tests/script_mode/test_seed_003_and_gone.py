"""Seed 003's timer forms from a script, counted from another process; and what a durable
timer does while the only process that can run its callback is gone."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from durable_automation.status import collect_status

pytestmark = pytest.mark.devserver

SEED_003_TIMERS = '''
import sys
import time
from datetime import datetime, timedelta, timezone
from durable_automation import TimerManager

manager = TimerManager(name=sys.argv[1])
manager.start_timer("core.timer_10s", {"type": "interval", "seconds": 10, "minutes": 0, "hours": 0})
manager.start_timer("core.timer_hourly", {"type": "cron", "expression": "0 0 * * * *"})
fire_at = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
manager.start_timer("core.once", {"type": "one_shot", "fire_at": fire_at})
print("started", manager.timer_count(), flush=True)
deadline = time.monotonic() + 60
while manager.timer_count() > 0 and time.monotonic() < deadline:
    time.sleep(0.2)
print("remaining", manager.timer_count(), flush=True)
'''

COUNTER = '''
import sys
from durable_automation import TimerManager

mine, other = TimerManager(name=sys.argv[1]), TimerManager(name=sys.argv[2])
print("count", mine.timer_count(), flush=True)
print("other", other.timer_count(), flush=True)
print("ids", ",".join(sorted(mine.timer_ids())), flush=True)
if mine.timer_count():
    interval, cron, once = (mine.status(t) for t in ("core.timer_10s", "core.timer_hourly",
                                                    "core.once"))
    print("interval-fired", interval.fired >= 1 and interval.config["type"] == "interval",
          flush=True)
    print("cron-next", cron.next_fire_at.minute == 0 and cron.next_fire_at.second == 0,
          flush=True)
    print("once-next", once.next_fire_at.isoformat(), flush=True)
print("stopped", mine.stop_all(), flush=True)
print("after", mine.timer_count(), flush=True)
'''


def test_seed_003_forms_from_a_script_are_seen_by_another_process(make_script: Any) -> None:
    scope = f"seed003-{uuid.uuid4().hex[:8]}"
    # As a user runs it: no TIMERS_IN_PROCESS and no worker; the script serves its timers.
    owner = make_script("seed003_timers.py", SEED_003_TIMERS)
    owner.start(scope)
    owner.wait_for(lambda: owner.texts("started"), timeout=60)
    assert owner.texts("started") == ["started 3"], owner.report()

    # Another app's manager, on the same server, with a timer of its own.
    neighbour = make_script("neighbour.py", SEED_003_TIMERS,
                            DURABLE_AUTOMATION_TIMERS_IN_PROCESS="1")
    neighbour.start(f"{scope}-other")
    neighbour.wait_for(lambda: neighbour.texts("started"), timeout=60)

    counter = make_script("count.py", COUNTER)
    assert counter.run(scope, f"{scope}-nobody", timeout=90) == 0, counter.report()
    assert counter.texts("count") == ["count 3"], counter.report()
    assert counter.texts("other") == ["other 0"], counter.report()
    assert counter.texts("ids") == ["ids core.once,core.timer_10s,core.timer_hourly"]
    # They work: the interval timer fired at once, the cron one waits for the top of
    # the hour, the one-shot for its fire_at (an hour from now).
    assert counter.texts("interval-fired") == ["interval-fired True"], counter.report()
    assert counter.texts("cron-next") == ["cron-next True"], counter.report()
    once_next = datetime.fromisoformat(counter.texts("once-next")[0].split()[1])
    assert timedelta(minutes=55) < once_next - datetime.now(UTC) < timedelta(minutes=61)
    assert counter.texts("stopped") == ["stopped 3"], counter.report()
    assert counter.texts("after") == ["after 0"], counter.report()

    assert owner.wait(60) == 0, owner.report()
    assert owner.texts("remaining") == ["remaining 0"], owner.report()
    # The neighbour's timers were not touched: it still counts its own three.
    neighbour_count = make_script("count2.py", COUNTER)
    assert neighbour_count.run(f"{scope}-other", scope, timeout=90) == 0
    assert neighbour_count.texts("count") == ["count 3"], neighbour_count.report()
    assert neighbour.wait(60) == 0, neighbour.report()


GONE = '''
import sys
import time
from durable_automation import Timer
from durable_automation.timers import task_info
from durable_automation.timers._local_worker import running_local_queue

ticks = []

def beat():
    ticks.append(task_info().tick)
    print(f"tick {task_info().tick}", flush=True)

timer = Timer(1, beat, name=sys.argv[2])
timer.start()
print("queue", running_local_queue(), flush=True)
if sys.argv[1] == "first":
    time.sleep(120)  # killed by the test
else:
    deadline = time.monotonic() + 40
    while len(ticks) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    timer.stop()
'''


def _waits_for_a_worker(description: Any) -> bool:
    raw = description.raw_description
    return raw.HasField("pending_workflow_task") or len(raw.pending_activities) > 0


def test_a_timer_pauses_while_its_script_is_gone_and_resumes_with_it(
    make_script: Any, temporal_dev_server: Any
) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}"
    script = make_script("gone.py", GONE)
    script.start("first", name)
    script.wait_for(lambda: len(script.texts("tick")) >= 2, timeout=60)
    queue = script.texts("queue")[0].split()[1]
    script.kill()
    last_before = int(script.texts("tick")[-1].split()[1])

    async def inspect() -> tuple[Any, Any]:
        client = await temporal_dev_server.connect()
        handle = client.get_workflow_handle(f"timer:{name}")
        # Ticks fall due while nobody serves the queue: wait (bounded) until the next
        # workflow task is pending, rather than a fixed 3 s that a loaded machine outlasts.
        await asyncio.sleep(3)
        description = await handle.describe()
        for _ in range(40):
            if _waits_for_a_worker(description):
                break
            await asyncio.sleep(0.5)
            description = await handle.describe()
        rows = await collect_status(client, limit=200)
        return description, rows

    description, rows = asyncio.run(inspect())
    # Paused, not failed: still running, on the script's own queue, its next workflow
    # task waiting for a worker; `durable-automation status` lists it.
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.task_queue == queue
    assert queue.startswith("durable-automation-local-") and "-gone-" in queue
    # (STARTED when the server had handed it to the dead process: it times out and
    # waits again. Killed while a tick's callback was queued, the callback's activity
    # is what waits, on the same queue.)
    assert _waits_for_a_worker(description), description.raw_description
    assert any(row.id == f"timer:{name}" and row.state == "running" for row in rows)

    started = time.monotonic()
    again = make_script("gone.py", GONE)  # same path: same queue name
    assert again.run("again", name, timeout=90) == 0, again.report()
    assert again.texts("queue") == [f"queue {queue}"]
    resumed = [int(line.split()[1]) for line in again.texts("tick")]
    assert resumed, again.report()
    # FIXED: the ticks that fell due while it was gone are skipped, not burst (the
    # tick in flight when the script died may run once more: at least once).
    assert resumed == sorted(set(resumed)) and resumed[0] >= last_before, resumed
    assert resumed[-1] >= last_before + 3, (last_before, resumed)
    assert len(resumed) <= 3, resumed
    assert time.monotonic() - started < 60

    async def final() -> Any:
        client = await temporal_dev_server.connect()
        return await client.get_workflow_handle(f"timer:{name}").describe()

    assert asyncio.run(final()).status == WorkflowExecutionStatus.COMPLETED


STOP_WHILE_GONE = '''
import sys
import time
from durable_automation import Timer
from durable_automation.exceptions import DurableAutomationError

timer = Timer(1, lambda: print("tick", flush=True), name=sys.argv[1])
timer.start()
if sys.argv[2] == "leave":
    time.sleep(1.5)
    sys.exit(0)  # exits with the timer still running: nobody serves it now
else:
    try:
        timer.status()
    except DurableAutomationError as exc:
        print("status", "paused, not lost" in str(exc), flush=True)
print("stopped", timer.stop() is None, flush=True)
'''


def test_stopping_a_timer_whose_script_is_gone_ends_it(
    make_script: Any, temporal_dev_server: Any
) -> None:
    name = f"orphan-{uuid.uuid4().hex[:8]}"
    leave = make_script("orphan.py", STOP_WHILE_GONE)
    assert leave.run(name, "leave", timeout=60) == 0, leave.report()
    assert leave.texts("tick"), leave.report()
    # Another program (different path, so a different local queue) stops it: the
    # stop update finds no worker, so the timer is terminated instead of hanging.
    stopper = make_script("stopper.py", STOP_WHILE_GONE.replace(
        'timer.start()\n', ''))
    started = time.monotonic()
    assert stopper.run(name, "stop", timeout=60) == 0, stopper.report()
    # Its status says why it cannot answer, instead of hanging.
    assert stopper.texts("status") == ["status True"], stopper.report()
    assert stopper.texts("stopped") == ["stopped True"], stopper.report()
    assert time.monotonic() - started < 40

    async def final() -> Any:
        client = await temporal_dev_server.connect()
        return await client.get_workflow_handle(f"timer:{name}").describe()

    # Really ended, not merely given up on.
    assert asyncio.run(final()).status == WorkflowExecutionStatus.TERMINATED
