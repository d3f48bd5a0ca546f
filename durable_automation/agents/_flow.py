"""Flow control for one call of an agent's handler (``@handler(..., concurrency=...)``).

An agent handles its events one at a time, inside its own long-lived workflow, so a
limit on a handler counts *calls* across every instance of the agent, per key. Before
the handler's activity the agent asks the key's limiter for a slot (a local activity
signals it, creating it if needed: ``flow/_acquire.py``) and waits for the grant
signal; after the call it gives the slot back (``release``). Should the agent be
terminated while holding a slot, the limiter sees the agent close (it watches a
holder it did not start with ``flow/_watch.py``), so the slot comes back.

``priority=`` / ``fairness_key=`` on a handler set its activity's task-queue priority.
Everything here is behind ``workflow.patched("da-flow-agent-handler")``: agents in
flight before it keep their commands. Workflow code: deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority

with workflow.unsafe.imports_passed_through():
    from .._core.flow import (
        ACQUIRE_ACTIVITY,
        LIMITER_RELEASE_SIGNAL,
        AcquireRequest,
        FlowControl,
        FlowGrant,
        flow_of,
        limiter_id,
        period_of,
        priority_fields,
        render_key,
    )
    from .._core.wire import EventWire, StartInput
    from .._worker.program import RunProgram

__all__ = ["HandlerSlot", "handler_flow"]

PATCH = "da-flow-agent-handler"


class HandlerSlot:
    """The flow options of one handler call, and its slot while it holds one."""

    def __init__(self, flow: FlowControl, automation: str) -> None:
        self.flow = flow
        self.automation = automation
        self.request: AcquireRequest | None = None

    def priority(self, context: dict[str, Any], event: EventWire) -> Priority:
        """The call's activity priority (the agent's own when none is declared)."""
        try:
            fields = priority_fields(self.flow, StartInput(context=context, event=event))
        except ValueError as exc:
            workflow.logger.warning("%s: fairness_key %s; default priority used",
                                    self.automation, exc)
            fields = {k: v for k, v in (("priority_key", self.flow.priority),) if v}
        return Priority(**fields) if fields else Priority.default

    async def acquire(self, program: RunProgram, agent_id: str, context: dict[str, Any],
                      event: EventWire) -> FlowGrant | None:
        """Wait for the limiter's grant (``None``: the handler has no limiter)."""
        flow = self.flow
        if flow.limiter is None or flow.mode is None:
            return None
        try:
            key = render_key(flow.limiter.key, context, event)
        except ValueError as exc:
            workflow.logger.warning("%s: the %s key %s; key 'missing' used", self.automation,
                                    flow.mode, exc)
            key = "missing"
        token = f"{agent_id}|{self.automation}|{event.id}"
        self.request = AcquireRequest(
            limiter=limiter_id(workflow.info().task_queue, self.automation, key),
            holder=agent_id, token=token, automation=self.automation, key=key,
            mode=flow.mode, limit=flow.limiter.limit,
            period_seconds=period_of(flow).total_seconds(),
        )
        await workflow.execute_local_activity(
            ACQUIRE_ACTIVITY, self.request, start_to_close_timeout=timedelta(seconds=30),
            summary=f"ask {self.request.limiter} for a slot")
        await workflow.wait_condition(lambda: token in program.flow_grants)
        return program.flow_grants.pop(token)

    async def release(self) -> None:
        """Give the slot back (concurrency only: throttle and rate limit hold none)."""
        request, self.request = self.request, None
        if request is None or request.mode != "concurrency":
            return
        try:
            await workflow.get_external_workflow_handle(request.limiter).signal(
                LIMITER_RELEASE_SIGNAL, request.token)
        except Exception:  # noqa: BLE001 - a limiter that is gone holds nothing
            workflow.logger.debug("Limiter %s is gone; nothing to release", request.limiter)


def handler_flow(agent: str, handler: str) -> HandlerSlot | None:
    """The flow options of ``agent``'s ``handler``, for a call starting now (patched)."""
    flow = flow_of(f"{agent}.{handler}")
    if flow is None or not workflow.patched(PATCH):
        return None
    return HandlerSlot(flow, f"{agent}.{handler}")
