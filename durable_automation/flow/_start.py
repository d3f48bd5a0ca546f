"""The engine's start path for runs whose automation has a limiter.

The engine calls :func:`start_limited` instead of starting the run itself: one
update-with-start reaches the key's limiter (created on first use), which starts the
run as its child and answers once it exists (see ``_limiter.py`` for why children).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from .._core.flow import (
    LIMITER_ENQUEUE_UPDATE,
    LIMITER_WORKFLOW,
    LimiterState,
    LimitRequest,
    flow_of,
    limiter_id,
    period_of,
    priority_fields,
    render_key,
)
from .._core.registry import registry
from .._core.settings import get_settings
from .._core.wire import StartInput
from ..exceptions import ConfigurationError

__all__ = ["limiter_key", "start_limited"]

# A limiter that completes (idle) just as a start reaches it fails that update; the
# next attempt creates a new limiter.
_ATTEMPTS = 3


def limiter_key(name: str, start: StartInput) -> str:
    """The limiter key of a run of ``name``.

    Raises:
        ConfigurationError: The key template names a value the run does not have.
    """
    flow = flow_of(name)
    assert flow is not None and flow.limiter is not None
    try:
        return render_key(flow.limiter.key, start.context, start.event)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: the {flow.mode} key {exc}") from None


async def start_limited(eng: Any, name: str, run_id: str, start: StartInput, summary: str,
                        idempotent: bool) -> bool:
    """Start a run through its key's limiter; ``False`` when its id was already used."""
    flow = flow_of(name)
    assert flow is not None and flow.limiter is not None and flow.mode is not None
    binding = eng._ensure()
    key = limiter_key(name, start)
    # The limiter runs where the automation's runs run, and starts them on its own
    # queue: a script's own automation on the script's in-process worker (the
    # engine's _queue_for), else nobody would serve the limiter or its runs.
    task_queue = await eng._queue_for(name)
    try:
        fields = priority_fields(flow, start)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: fairness_key {exc}") from None
    request = LimitRequest(
        run_id=run_id, automation=name,
        kind=registry.workflows[name].kind if name in registry.workflows else "handler",
        start=start, summary=summary, idempotent=idempotent,
        entity_ref=start.event.entity_ref if start.event else None,
        search_attributes=get_settings().search_attributes,
        mode=flow.mode, limit=flow.limiter.limit,
        period_seconds=period_of(flow).total_seconds(), key=key, **fields,
    )
    rule = f"{flow.mode.replace('_', ' ')} {flow.limiter.limit}"
    for attempt in range(1, _ATTEMPTS + 1):
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            LIMITER_WORKFLOW, LimiterState(automation=name, key=key, mode=flow.mode,
                                           limit=flow.limiter.limit,
                                           period_seconds=request.period_seconds),
            id=limiter_id(task_queue, name, key), task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Limiter: {rule} of {name} for key {key!r}",
        )
        try:
            answer = await binding.client.execute_update_with_start_workflow(
                LIMITER_ENQUEUE_UPDATE, request, start_workflow_operation=operation,
                result_type=str)
        except (WorkflowUpdateFailedError, RPCError) as err:
            closing = isinstance(err, WorkflowUpdateFailedError) or err.status in (
                RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)
            if not closing or attempt == _ATTEMPTS:
                raise
            continue
        return answer != "exists"
    raise AssertionError("unreachable")
