"""Automations a plain script defines run on the script's own in-process worker.

A TimerManager firing is an event; the script's ``@on_event`` handlers (and its
``@workflow`` automations) exist only in the script, so no configured worker can run
them: they must run where the script's timers and tasks run, with no worker process.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.docs_examples import printed_by, run_example
from tests.script_mode.conftest import ROOT

pytestmark = pytest.mark.devserver

# docs/timers.md's TimerManager example, cut down to the interval timer and its handler.
TIMER_EVENTS = '''
import sys
import time
from durable_automation import TimerManager, on_event

scope, timer_id = sys.argv[1], sys.argv[2]
seen = []

@on_event(timer_id)
def on_tick(event):
    seen.append(event.data["tick"])
    print("tick", event.data["type"], event.data["interval_seconds"], flush=True)

manager = TimerManager(name=scope)
manager.start_timer(timer_id, {"type": "interval", "seconds": 1})
deadline = time.monotonic() + 30
while len(seen) < 2 and time.monotonic() < deadline:
    time.sleep(0.1)
print("stopped", manager.stop_all(), flush=True)
'''

# A script's @workflow, started with engine.start and woken by its timer's events.
TIMER_WORKFLOW = '''
import sys
from pydantic import BaseModel
from durable_automation import TimerManager, complete, engine, step, wait_for_event, workflow

scope, timer_id = sys.argv[1], sys.argv[2]

@workflow("script_tick_counter")
class TickCounter:
    class Context(BaseModel):
        ticks: int = 0

    @step(start=True)
    def begin(self, ctx):
        return wait_for_event(timer_id, then=self.count)

    @step()
    def count(self, ctx):
        ctx.ticks += 1
        print("step", ctx.ticks, flush=True)
        return complete(ticks=ctx.ticks) if ctx.ticks >= 2 else wait_for_event(timer_id,
                                                                               then=self.count)

run = engine.start("script_tick_counter")
manager = TimerManager(name=scope)
manager.start_timer(timer_id, {"type": "interval", "seconds": 1})
print("result", run.result(timeout=30), flush=True)
print("stopped", manager.stop_all(), flush=True)
'''


def _queue() -> str:
    # A queue of this test's own: no worker of the session (or another test) serves it.
    return f"script-automations-{uuid.uuid4().hex[:8]}"


def test_timer_manager_events_reach_the_scripts_on_event_handler(make_script: Any) -> None:
    script = make_script("timer_events.py", TIMER_EVENTS, DURABLE_AUTOMATION_TASK_QUEUE=_queue())
    tag = uuid.uuid4().hex[:8]
    assert script.run(f"events-{tag}", f"core.tick_{tag}", timeout=90) == 0, script.report()
    assert script.texts("tick")[:2] == ["tick interval 1.0"] * 2, script.report()
    assert script.texts("stopped") == ["stopped 1"], script.report()
    assert not any("Traceback" in line for line in script.errors), script.report()


def test_a_scripts_workflow_runs_and_is_woken_by_its_timer_events(make_script: Any) -> None:
    script = make_script("timer_workflow.py", TIMER_WORKFLOW,
                         DURABLE_AUTOMATION_TASK_QUEUE=_queue())
    tag = uuid.uuid4().hex[:8]
    assert script.run(f"flow-{tag}", f"core.flow_tick_{tag}", timeout=90) == 0, script.report()
    assert script.texts("step") == ["step 1", "step 2"], script.report()
    assert script.texts("result") == ["result {'ticks': 2}"], script.report()
    assert script.texts("stopped") == ["stopped 1"], script.report()


def test_the_timer_manager_example_of_docs_timers_runs_as_a_script(
        temporal_dev_server: Any, tmp_path: Path) -> None:
    lines = run_example("timers.md", "sensors.py", tmp_path, timeout=90, env={
        "DURABLE_AUTOMATION_ADDRESS": temporal_dev_server.address,
        "DURABLE_AUTOMATION_TASK_QUEUE": _queue(), "PYTHONPATH": str(ROOT)})
    assert lines == printed_by("timers.md", "sensors.py")
