"""What a person sees in the Temporal UI (dev server): the automation's own workflow type,
a summary of what started the run, the current step / wait as details, step names as
activity summaries, and search attributes to filter by."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType

from durable_automation import engine
from durable_automation._core.runtime import call_sync
from durable_automation._core.settings import overridden
from tests.helpers.polling import eventually
from tests.workflows import test_signals  # noqa: F401 - registers sig_waiter


def _sync(fn):
    return call_sync(engine._ensure().loop, fn, sync_name="t", async_name="t")


def test_runs_are_listed_by_name_with_steps_and_filterable(dev_worker):
    channel = f"ui:{uuid.uuid4().hex[:6]}"
    with overridden(search_attributes=True):
        run = engine.start("sig_waiter", channel=channel)
    eventually(lambda: run.status() == "waiting", timeout=30)
    client = dev_worker.client

    async def describe():
        return await client.get_workflow_handle(run.id).describe()

    description = _sync(describe)
    assert description.workflow_type == "sig_waiter"

    async def summaries():
        return await description.static_summary(), await description.static_details()

    summary, _ = _sync(summaries)
    assert summary == f"Started by engine.start('sig_waiter', channel={channel})"

    async def metadata():
        handle = client.get_workflow_handle(run.id)
        return await handle.query("__temporal_workflow_metadata")

    meta = _sync(metadata)
    assert f"waiting for {channel}" in meta.current_details

    async def activity_summaries():
        history = await client.get_workflow_handle(run.id).fetch_history()
        found = []
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                found.append((
                    event.activity_task_scheduled_event_attributes.activity_type.name,
                    client.data_converter.payload_converter.from_payload(
                        event.user_metadata.summary, str),
                ))
        return found

    assert _sync(activity_summaries) == [("sig_waiter.wait_for_go", "wait_for_go")]

    async def listed():
        query = (f"DaAutomation = 'sig_waiter' AND DaStep = 'wait_for_go' "
                 f"AND DaWaitingFor = '{channel}'")
        return [w.id async for w in client.list_workflows(query)]

    eventually(lambda: _sync(listed) == [run.id], timeout=30, message="visibility filter")
    assert engine.signal(channel) == 1
    assert run.result(timeout=30)["wakes"] == 1
