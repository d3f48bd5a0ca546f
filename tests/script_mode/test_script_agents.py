"""A script's own agents run on the script's in-process worker, with the directories
their events are routed through (held events, index buckets).

An agent a script defines exists only in the script: on the configured queue no worker
serves its instances (or a project worker that cannot run it would), so spawned agents
never ran. The test's configured queue is its own, so no worker of the session serves it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.devserver

# Agents and a handler of the same events (on_event: a script whose automations run on
# its own worker, docs/timers.md, Script mode).
AGENTS = '''
import sys
from pydantic import BaseModel
from durable_automation import Concurrency, complete, engine, on_event
from durable_automation.agents import agent, handler
from durable_automation.flow import limiter_state

tag = sys.argv[1]

@on_event("script_opened")
def audit(event):
    print("audit", event.data["acct"], flush=True)

@agent("script_account", spawn_on="script_opened", match={"acct": "{{ ctx.acct }}"},
       singleton=True)
class Account:
    """Direct route: an event before the spawn is held for the agent."""

    class Context(BaseModel):
        acct: str
        notes: int = 0

    @handler("script_note")
    def note(self, ctx, event):
        ctx.notes += 1
        print("noted", event.id, flush=True)
        if ctx.notes == 2:
            return complete()

@agent("script_visitor", spawn_on="script_arrived", match={"room": "{{ ctx.room }}"})
class Visitor:
    """Index route: events find the agent through its room's index bucket; one handler
    call per room at a time (its limiter runs where the agent runs)."""

    class Context(BaseModel):
        room: str

    @handler("script_left", concurrency=Concurrency(limit=1, key="{{ ctx.room }}"))
    def left(self, ctx):
        print("left", ctx.room, flush=True)
        state = limiter_state("script_visitor.left", ctx.room)  # this call holds the slot
        print("slot", len(state.holders), flush=True)
        return complete()

acct, room = f"a-{tag}", f"r-{tag}"
print("held", engine.emit("script_note", data={"acct": acct}, id=f"n1-{tag}"), flush=True)
[account] = [run for run in engine.emit("script_opened", data={"acct": acct})
             if run.id.startswith("agent:")]
engine.emit("script_note", data={"acct": acct}, id=f"n2-{tag}")
print("account", account.result(timeout=20)["context"], flush=True)
[visitor] = engine.emit("script_arrived", data={"room": room})
engine.emit("script_left", data={"room": room})
print("visitor", visitor.result(timeout=20)["handled"], flush=True)
'''


def test_a_scripts_agents_run_on_its_own_worker(make_script: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    script = make_script("agents.py", AGENTS,
                         DURABLE_AUTOMATION_TASK_QUEUE=f"script-agents-{tag}").start(tag)
    script.wait_for(lambda: script.texts("visitor") or script.process.poll() is not None,
                    timeout=45)
    assert script.wait(30) == 0, script.report()
    assert script.texts("held") == ["held []"], script.report()
    assert script.texts("audit") == [f"audit a-{tag}"], script.report()
    assert script.texts("noted") == [f"noted n1-{tag}", f"noted n2-{tag}"], script.report()
    assert script.texts("account") == [f"account {{'acct': 'a-{tag}', 'notes': 2}}"], \
        script.report()
    assert script.texts("left") == [f"left r-{tag}"], script.report()
    assert script.texts("slot") == ["slot 1"], script.report()
    assert script.texts("visitor") == ["visitor 1"], script.report()
