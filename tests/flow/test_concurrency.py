"""Concurrency per key: one run per guest at a time, the others wait durably in arrival
order, and a slot comes back however its run ends: terminated (no code of the run
executes), cancelled, failed or completed.

On the dev server: Temporal's time-skipping test server does not tell a parent that
its child was terminated, so the terminate case needs the real server.
"""

from __future__ import annotations

import asyncio

import pytest

from durable_automation import RunCancelledError, RunFailedError, engine
from durable_automation.flow import limiter_state
from tests.flow import flow_automations as automations
from tests.helpers.polling import eventually


def _sync(coro):
    return asyncio.run_coroutine_threadsafe(coro, engine._ensure().loop).result(30)


def _waits_for(run, what):
    state = run.state()
    return state.waiting_for == what


def test_one_run_per_key_and_every_ending_frees_the_slot(dev_worker):
    automations.BEGAN.clear()
    first = engine.start("flow_visit", guest="g1", label="a1")
    second = engine.start("flow_visit", guest="g1", label="a2")
    third = engine.start("flow_visit", guest="g1", label="a3", broken=True)
    fourth = engine.start("flow_visit", guest="g1", label="a4")
    other = engine.start("flow_visit", guest="g2", label="b1")

    # a1 and b1 (another key) run; a2..a4 wait for a slot, visibly.
    eventually(lambda: _waits_for(first, "done:a1") and _waits_for(other, "done:b1"))
    for run in (second, third, fourth):
        eventually(lambda run=run: _waits_for(run, "slot"))
        assert run.status() == "waiting"
    client = engine._ensure().client
    meta = _sync(
        client.get_workflow_handle(second.id).query("__temporal_workflow_metadata"))
    assert meta.current_details.startswith("Waiting for a slot (limit:")
    state = limiter_state("flow_visit", "g1")
    assert state is not None and state.holders == [first.id]
    assert state.waiting == [second.id, third.id, fourth.id]
    assert sorted(automations.BEGAN) == ["a1", "b1"]

    # Terminated: the run runs no code, the limiter sees the close and lets a2 in.
    _sync(client.get_workflow_handle(first.id).terminate("test"))
    eventually(lambda: _waits_for(second, "done:a2"))
    assert _waits_for(third, "slot") and _waits_for(fourth, "slot")

    # Cancelled: a3 next; it fails in its first step, which frees the slot for a4.
    second.cancel()
    with pytest.raises(RunCancelledError):
        second.result(timeout=20)
    with pytest.raises(RunFailedError, match="visit failed"):
        eventually(lambda: third.status() == "failed")
        third.result(timeout=20)
    eventually(lambda: _waits_for(fourth, "done:a4"))
    assert fourth.signal("done:a4")
    assert fourth.result(timeout=20) == {"label": "a4"}
    assert automations.BEGAN[-3:] == ["a2", "a3", "a4"]
    other.signal("done:b1")
    assert other.result(timeout=20) == {"label": "b1"}


def test_a_busy_limiter_continues_as_new_without_losing_a_run(dev_worker):
    """The session's dev server suggests continue-as-new at 200 events: 25 runs of one
    key take a limiter past it, so it drains its children and continues as new."""
    runs = [engine.start("flow_quick", key="busy", n=n) for n in range(25)]
    assert [run.result(timeout=60)["n"] for run in runs] == list(range(25))
    client = engine._ensure().client
    limiter = f"limit:{dev_worker.task_queue}:flow_quick:busy"

    async def chain() -> list[int]:
        sizes = []
        async for execution in client.list_workflows(f"WorkflowId = '{limiter}'"):
            history = await client.get_workflow_handle(limiter, run_id=execution.run_id
                                                       ).fetch_history()
            sizes.append(len(history.events))
        return sizes

    sizes = eventually(lambda: (s := _sync(chain())) and len(s) > 1 and s)
    # Bounded: it continued as new instead of growing with every run (a burst of starts
    # can take one run past the threshold: it cannot continue as new mid-update).
    assert len(sizes) >= 2 and max(sizes) < 1000, sizes


def test_the_watcher_of_a_carried_over_holder_returns_when_it_is_terminated(dev_worker):
    """After a continue-as-new, a limiter watches the slot holders it did not start with
    ``await_close_activity``: it must return however the run ends, terminate included."""
    from temporalio.testing import ActivityEnvironment

    from durable_automation.flow._watch import await_close_activity

    run = engine.start("flow_visit", guest="watched", label="w1")
    eventually(lambda: _waits_for(run, "done:w1"))
    client = engine._ensure().client

    async def watch_then_terminate() -> bool:
        watcher = asyncio.ensure_future(ActivityEnvironment(client=client).run(
            await_close_activity, run.id))
        await asyncio.sleep(0.5)
        assert not watcher.done()  # the run is alive: the watcher waits
        await client.get_workflow_handle(run.id).terminate("test")
        await asyncio.wait_for(watcher, 10)
        return True

    assert _sync(watch_then_terminate())


def test_a_run_waiting_for_its_slot_takes_no_signal(dev_worker):
    holder = engine.start("flow_visit", guest="solo", label="s1")
    waiting = engine.start("flow_visit", guest="solo", label="s2")
    eventually(lambda: _waits_for(waiting, "slot"))
    assert waiting.signal("slot") is False  # "slot" is no signal it waits for
    holder.signal("done:s1")
    eventually(lambda: _waits_for(waiting, "done:s2"))
    assert waiting.signal("done:s2")
    assert waiting.result(timeout=30) == {"label": "s2"}
