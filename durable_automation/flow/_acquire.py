"""The local activity an agent runs to ask a limiter for a slot for one handler call.

A workflow cannot signal-with-start; this activity does, so the key's limiter is
created on first use. Its retries may deliver the request twice: the limiter keeps
one entry per token.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy

from .._core.flow import (
    ACQUIRE_ACTIVITY,
    LIMITER_ACQUIRE_SIGNAL,
    LIMITER_WORKFLOW,
    AcquireRequest,
    LimiterState,
)

__all__ = ["acquire_activity"]


@activity.defn(name=ACQUIRE_ACTIVITY)
async def acquire_activity(request: AcquireRequest) -> None:
    """Signal (starting it if needed) the limiter ``request.limiter`` with the request."""
    rule = f"{request.mode.replace('_', ' ')} {request.limit}"
    await activity.client().start_workflow(
        LIMITER_WORKFLOW,
        LimiterState(automation=request.automation, key=request.key, mode=request.mode,
                     limit=request.limit, period_seconds=request.period_seconds),
        id=request.limiter, task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=LIMITER_ACQUIRE_SIGNAL, start_signal_args=[request],
        static_summary=f"Limiter: {rule} of {request.automation} for key {request.key!r}",
    )
