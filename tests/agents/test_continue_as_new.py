"""Continue-as-new on the dev server (suggestContinueAsNew=200 in the session fixture):
the Context, a pending offset timer and a claim survive it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel

from durable_automation import engine
from durable_automation.agents import AgentManager, agent, claims, handler
from durable_automation.events import Event
from tests.helpers.polling import eventually

TICKS = 80  # >= 4 history events each: past the 200-event threshold however batched


@agent("ag_can_counter", spawn_on="ag_can_started", match={"id": "{{ ctx.counter_id }}"})
class CanCounter:
    class Context(BaseModel):
        counter_id: int
        count: int = 0
        fired_at_count: int | None = None

    @classmethod
    def create_context(cls, event):
        return cls.Context(counter_id=event.data["counter_id"])

    @handler("ag_can_claim", match={"id": "{{ ctx.counter_id }}"})
    def take(self, ctx):
        claims.hold("ag_can_message", match={"counter_id": ctx.counter_id})

    @handler("ag_can_tick")
    def tick(self, ctx):
        ctx.count += 1

    @handler("ag_can_due", offset=timedelta(seconds=-2))
    def due(self, ctx):
        ctx.fired_at_count = ctx.count


def test_context_timers_and_claims_survive_continue_as_new(dev_worker):
    data = {"counter_id": 1, "id": 1}
    [run] = engine.emit("ag_can_started", data=data)
    engine.emit("ag_can_claim", data=data)
    at = engine.now() + timedelta(seconds=14)
    engine.handle_event_scheduled(Event(name="ag_can_due", id="due-1", data=data, at=at,
                                        scheduled=True))

    async def ticks() -> None:
        await asyncio.gather(*(engine.aemit("ag_can_tick", data=data) for _ in range(TICKS)))

    asyncio.run(ticks())
    # The agent continues-as-new once its history passed the threshold and its inbox is
    # empty, i.e. at the latest right after the last tick.
    state = eventually(
        lambda: (s := run.agent_state()).context["count"] == TICKS and s.generation >= 1 and s,
        timeout=30, message="all ticks handled, then continued-as-new")
    assert [t.handler for t in state.timers] == ["due"]  # still pending after that
    assert state.timers[0].due == at - timedelta(seconds=2)
    assert state.claims == ["ag_can_message"]
    assert claims.holder("ag_can_message", {"counter_id": 1}) == run.id
    final = eventually(lambda: (s := run.agent_state()).context["fired_at_count"] is not None
                       and s, timeout=20, message="the offset handler fired")
    assert final.context["fired_at_count"] == TICKS
    [rec] = [r for r in final.history if r.handler == "due"]
    assert rec.at >= at - timedelta(seconds=2)
    # Visibility lists it under its agent name (the UI filter WorkflowType = 'ag_can_counter').
    eventually(lambda: run.id in [r.id for r in AgentManager.list_active("ag_can_counter")],
               timeout=10, message="listed by visibility")
    assert AgentManager.complete(run) == ["ag_can_message"]
    assert claims.holder("ag_can_message", {"counter_id": 1}) is None
