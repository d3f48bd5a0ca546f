"""Reading a run's Temporal history: which steps ran, and when (server time)."""

from __future__ import annotations

from datetime import datetime

from temporalio.api.enums.v1 import EventType

from durable_automation import engine
from durable_automation._core.runtime import call_sync


def steps_scheduled(run_id: str) -> list[tuple[str, datetime]]:
    """``(step, scheduled time)`` for every step activity the run scheduled, in order."""

    async def fetch() -> list[tuple[str, datetime]]:
        client = await engine._aclient()
        history = await client.get_workflow_handle(run_id).fetch_history()
        found = []
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                activity_type = event.activity_task_scheduled_event_attributes.activity_type.name
                found.append((activity_type.rsplit(".", 1)[-1], event.event_time.ToDatetime()))
        return found

    return call_sync(engine._ensure().loop, fetch, sync_name="steps_scheduled",
                     async_name="steps_scheduled")


def step_names(run_id: str) -> list[str]:
    """The step names the run scheduled, in order."""
    return [name for name, _ in steps_scheduled(run_id)]
