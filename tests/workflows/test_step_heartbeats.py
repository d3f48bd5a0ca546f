"""A short step costs the server no heartbeat: the first beat is due a third of the
heartbeat timeout after the attempt starts (temporalio sends an attempt's first
heartbeat at once, so beating at the start cost one server call per step)."""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import PendingActivityState

from durable_automation import complete, engine, step, workflow
from durable_automation._core.runtime import call_sync

RELEASE = threading.Event()


@workflow("hb_quiet_step")
class QuietStep:
    class Context(BaseModel):
        pass

    @step(start=True)
    def hold(self) -> Any:
        RELEASE.wait(30)
        return complete(done=True)


def _pending(run_id: str) -> Any:
    async def describe() -> Any:
        client = await engine._aclient()
        return await client.get_workflow_handle(run_id).describe()

    description = call_sync(engine._ensure().loop, describe, sync_name="d", async_name="d")
    pending = description.raw_description.pending_activities
    return pending[0] if pending else None


def test_a_step_shorter_than_the_interval_never_heartbeats(dev_worker: Any) -> None:
    RELEASE.clear()
    run = engine.start("hb_quiet_step")
    deadline = time.monotonic() + 20
    while (activity := _pending(run.id)) is None or (
            activity.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED):
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    time.sleep(1.0)  # a heartbeat sent at the start would have reached the server by now
    activity = _pending(run.id)
    try:
        assert not activity.HasField("last_heartbeat_time"), activity
    finally:
        RELEASE.set()
    assert run.result(timeout=30) == {"done": True}
