"""A script's own limited automations run on the script's in-process worker.

``concurrency=``, ``throttle=`` and ``rate_limit=`` start a run through its key's
limiter workflow, which starts the run as its child on its own queue. In a script the
automation exists only in the script, so the limiter must run on the script's queue
too: on the configured queue no worker serves it (``engine.start`` waited for the
limiter's update forever), or a project worker that cannot run the script's code would.
Each test's configured queue is its own, so no worker of the session serves it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.devserver

# A script's visits, one per guest at a time, and a handler of its own events with a
# concurrency limit too (importing on_event makes it a script whose automations run on
# its own worker: docs/timers.md, Script mode).
CONCURRENCY = '''
import sys
import time
from pydantic import BaseModel
from durable_automation import Concurrency, complete, engine, on_event, step, wait, workflow
from durable_automation.flow import limiter_state

guest = sys.argv[1]

@on_event("script_guest_left", concurrency=Concurrency(limit=1, key="{{ event.data.guest }}"))
def farewell(event):
    print("farewell", event.data["label"], flush=True)

@workflow("script_visit", concurrency=Concurrency(limit=1, key="{{ ctx.guest }}"))
class Visit:
    class Context(BaseModel):
        guest: str
        label: str

    @step(start=True)
    def begin(self, ctx):
        print("began", ctx.label, flush=True)
        return wait(f"done:{ctx.label}", then=self.end)

    @step()
    def end(self, ctx):
        return complete(label=ctx.label)

def until(check):
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)

runs = [engine.start("script_visit", guest=guest, label=f"v{i}") for i in range(3)]
label = {run.id: f"v{i}" for i, run in enumerate(runs)}
until(lambda: runs[0].state().waiting_for == "done:v0"
      and all(run.state().waiting_for == "slot" for run in runs[1:]))
state = limiter_state("script_visit", guest)
print("holders", [label[i] for i in state.holders], flush=True)
print("waiting", [label[i] for i in state.waiting], flush=True)
for i, run in enumerate(runs):
    until(lambda: run.state().waiting_for == f"done:v{i}")
    print("woken", engine.signal(f"done:v{i}"), flush=True)
    print("result", run.result(timeout=20), flush=True)
left = [run for i in range(2) for run in engine.emit(
    "script_guest_left", data={"guest": guest, "label": f"f{i}"}, id=f"left-{guest}-{i}")]
print("handled", [run.result(timeout=20) for run in left], flush=True)
'''

# A rate-limited handler and a throttled workflow of the script.
RATE_AND_THROTTLE = '''
import sys
import time
from datetime import timedelta
from pydantic import BaseModel
from durable_automation import RateLimit, Throttle, complete, engine, on_event, step, workflow

phone = sys.argv[1]

@on_event("script_sms", rate_limit=RateLimit(limit=1, period=timedelta(hours=1),
                                             key="{{ event.data.phone }}"))
def send_sms(event):
    print("sent", event.id, flush=True)

@workflow("script_report", throttle=Throttle(limit=1, period=timedelta(seconds=1),
                                             key="{{ ctx.account }}"))
class Report:
    class Context(BaseModel):
        account: str

    @step(start=True)
    def build(self, ctx):
        return complete(at=time.time())

runs = [run for i in range(2) for run in engine.emit("script_sms", data={"phone": phone},
                                                      id=f"sms-{phone}-{i}")]
results = [run.result(timeout=20) for run in runs]
print("sms", results[0], results[1]["dropped"].split(" for ")[0], flush=True)
reports = [engine.start("script_report", account=phone) for _ in range(2)]
first, second = (run.result(timeout=20)["at"] for run in reports)
print("throttled", second - first >= 0.8, flush=True)
'''


def _queue() -> str:
    return f"script-flow-{uuid.uuid4().hex[:8]}"


def test_a_scripts_concurrency_limited_runs_complete_on_its_own_worker(make_script: Any) -> None:
    script = make_script("limited_visits.py", CONCURRENCY,
                         DURABLE_AUTOMATION_TASK_QUEUE=_queue()).start(uuid.uuid4().hex[:8])
    script.wait_for(lambda: script.texts("handled") or script.process.poll() is not None,
                    timeout=45)
    assert script.wait(30) == 0, script.report()
    assert script.texts("began") == ["began v0", "began v1", "began v2"], script.report()
    assert script.texts("holders") == ["holders ['v0']"], script.report()
    assert script.texts("waiting") == ["waiting ['v1', 'v2']"], script.report()
    assert script.texts("woken") == ["woken 1"] * 3, script.report()
    assert script.texts("result") == [f"result {{'label': 'v{i}'}}" for i in range(3)]
    assert sorted(script.texts("farewell")) == ["farewell f0", "farewell f1"], script.report()
    assert script.texts("handled") == ["handled [{}, {}]"], script.report()


def test_a_scripts_rate_limited_handler_and_throttled_workflow_run_on_its_own_worker(
        make_script: Any) -> None:
    script = make_script("limited_events.py", RATE_AND_THROTTLE,
                         DURABLE_AUTOMATION_TASK_QUEUE=_queue())
    phone = uuid.uuid4().hex[:8]
    script.start(phone)
    script.wait_for(lambda: script.texts("throttled") or script.process.poll() is not None,
                    timeout=45)
    assert script.wait(30) == 0, script.report()
    assert script.texts("sent") == [f"sent sms-{phone}-0"], script.report()
    assert script.texts("sms") == ["sms {} rate limit: 1 per 1:00:00"], script.report()
    assert script.texts("throttled") == ["throttled True"], script.report()
