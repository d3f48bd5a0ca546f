"""A limited run's side of flow control: wait for the limiter's grant before the first step.

A run whose automation has a concurrency, throttle or rate limit is started by its
key's limiter, as a child (``flow/_limiter.py``). It holds here, phase ``waiting``,
"Waiting for a slot" in the UI, until the limiter's grant signal arrives. A run the
limiter did not start (no limiter parent: runs started before the automation had a
limit, or before this code) passes straight through, so their histories replay.
Workflow code: deterministic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .._core.flow import FLOW_GRANT_MEMO, LIMITER_ASK_SIGNAL, FlowGrant
    from .._core.wire import StartInput

if TYPE_CHECKING:
    from .program import RunProgram

__all__ = ["LIMITER_PREFIX", "wait_for_slot"]

LIMITER_PREFIX = "limit:"


async def wait_for_slot(program: RunProgram, start: StartInput) -> dict[str, Any] | None:
    """Hold until the limiter lets the run through; the run's result when it was dropped."""
    parent = workflow.info().parent
    if parent is None or not parent.workflow_id.startswith(LIMITER_PREFIX):
        return None
    if start.start_at is not None:
        # It waited for its time first: it asks now, so slots go in the order runs are due.
        await workflow.get_external_workflow_handle(parent.workflow_id).signal(
            LIMITER_ASK_SIGNAL, workflow.info().workflow_id)
    granted = workflow.memo_value(FLOW_GRANT_MEMO, None)
    if program.flow_grant is None and granted is not None:
        program.flow_grant = FlowGrant.model_validate(granted)  # let through as it started
    if program.flow_grant is None:
        program._phase, program._waiting_for = "waiting", "slot"
        program.publish(f"Waiting for a slot ({parent.workflow_id})")
        await workflow.wait_condition(lambda: program.flow_grant is not None)
        program._waiting_for = None
    grant = program.flow_grant
    assert grant is not None
    if grant.dropped:
        program._phase = "running"
        program.publish(f"Dropped by the {grant.reason}")
        return {"dropped": grant.reason}
    return None
