"""Concurrency on an agent's handler counts calls across every instance of the agent:
two desks (two agents) get a call at once, the kitchen takes one at a time."""

from __future__ import annotations

from durable_automation import engine
from durable_automation.flow import limiter_state
from tests.flow import flow_automations as automations
from tests.helpers.polling import eventually


def test_one_handler_call_at_a_time_across_agents(time_machine):
    automations.CALLS.clear()
    desks = [engine.emit("flow_desk_opened", data={"id": desk})[0] for desk in (1, 2)]
    time_machine.settle()
    for desk in (1, 2):
        engine.emit("flow_desk_call", data={"id": desk})
    eventually(lambda: len(automations.CALLS) == 2, timeout=30)
    (_, _, first_ended), (_, second_began, _) = sorted(
        automations.CALLS, key=lambda call: call[1])
    assert second_began >= first_ended, automations.CALLS  # never two calls at once
    assert {desk for desk, _, _ in automations.CALLS} == {1, 2}
    for run in desks:
        eventually(lambda run=run: [r.outcome for r in run.agent_state().history
                                    if r.handler == "call_kitchen"] == ["ran"])
    state = limiter_state("flow_front_desk.call_kitchen")
    assert state is None or (state.holders == [] and state.waiting == [])
