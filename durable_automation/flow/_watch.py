"""The activity a limiter uses for a slot holder that is not its own child.

A limiter sees the close of the runs it started itself (they are its children). After
it continues as new, the runs holding a slot are children of its previous run, whose
close events nobody receives; and runs that were waiting then are granted later by a
limiter run that did not start them. For those holders only (never more than the
limit at once), the limiter runs this activity: one long poll on the run's history
for its close event, the server answering as soon as the run closes, however it
closes. It heartbeats, so a worker that dies mid-wait is noticed and the wait goes on
on another worker.

Temporal's raw history call is used rather than ``WorkflowHandle.result()``, whose
time-skipping interceptor would move virtual time under ``time_machine``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, HistoryEventFilterType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["AWAIT_CLOSE_ACTIVITY", "await_close_activity"]

AWAIT_CLOSE_ACTIVITY = "durable_automation.limiter_await_close"
_POLL = timedelta(seconds=20)
_CONTINUED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


@activity.defn(name=AWAIT_CLOSE_ACTIVITY)
async def await_close_activity(run_id: str) -> None:
    """Return once the run ``run_id`` (its latest execution) has closed."""
    client = activity.client()
    while True:
        activity.heartbeat()
        request = GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=run_id),
            wait_new_event=True, skip_archival=True,
            history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
        )
        try:
            response = await client.workflow_service.get_workflow_execution_history(
                request, retry=True, timeout=_POLL)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return  # gone (or never existed): it holds nothing
            if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            continue  # the long poll's own time ran out: ask again
        events = response.history.events
        if events and events[-1].event_type != _CONTINUED:
            return
        # No close yet (the poll ended empty), or it continued as new: the next request
        # reads the latest run.
        await asyncio.sleep(0)
