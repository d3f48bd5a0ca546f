"""Long-looping runs continue-as-new and keep their Context and position (dev server,
whose suggestContinueAsNew threshold the session fixture sets to 200 events)."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType

from durable_automation import complete, engine, get_context, goto, step, workflow
from durable_automation._core.runtime import call_sync


@workflow("can_counter")
class Counter:
    class Context(BaseModel):
        target: int
        count: int = 0

    @step(start=True)
    def tick(self):
        ctx = get_context()
        ctx.count += 1
        if ctx.count >= ctx.target:
            return complete(count=ctx.count)
        return goto(self.tick)


def test_loop_longer_than_history_limit_continues_as_new(dev_worker):
    run = engine.start("can_counter", target=120)
    assert run.result(timeout=120) == {"count": 120}

    async def continued() -> int:
        client = await engine._aclient()
        runs = 0
        async for _execution in client.list_workflows(f"WorkflowId = '{run.id}'"):
            runs += 1
        history = await client.get_workflow_handle(run.id).fetch_history()
        assert history.events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        return runs

    # 120 steps make ~720 history events: more than one run of the same workflow id.
    assert call_sync(engine._ensure().loop, continued, sync_name="x", async_name="x") > 1
