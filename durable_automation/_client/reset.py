"""Reset a run to a step: Temporal's ``ResetWorkflowExecution`` at the workflow task
that scheduled that step.

Every step runs as an activity ``<automation>.<step>`` whose input carries its
``visit`` (1 for the first time the run entered the step, 2 for the second...). The
workflow task that *scheduled* that activity is where the step began: resetting to it
replays the history up to there, so the step runs again with the Context it had then
(the newer steps' changes are gone), with today's code. Signals received after that
point are re-applied by Temporal; wake-ups meant for later waits are ignored by the
interpreter (their sequence numbers no longer match).

Only the current execution's history is searched: an agent (or a long run) that
continued as new can go back only to steps of its current run.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from .._core.registry import registry
from ..exceptions import ResetError, RunNotFoundError

__all__ = ["ResetPoint", "StepVisit", "reset_run", "step_visits"]


@dataclass(frozen=True)
class StepVisit:
    """One execution of a step found in a run's history.

    Attributes:
        step: The step (or agent handler) name.
        visit: Which time the run entered that step (1 = first).
        workflow_task_event_id: The workflow task that scheduled it (the reset point).
        failed: Whether this execution's activity failed for good.
    """

    step: str
    visit: int
    workflow_task_event_id: int
    failed: bool = False


@dataclass(frozen=True)
class ResetPoint:
    """Where a reset sent a run.

    Attributes:
        run_id: The run (workflow id); it keeps its id.
        step: The step it runs again.
        visit: Which visit of that step it went back to.
        execution_id: The new Temporal execution (run id) the reset started.
    """

    run_id: str
    step: str
    visit: int
    execution_id: str


def _step_of(automation: str, activity_type: str, payload: Any) -> str | None:
    """The step an activity of ``automation`` ran (renames resolved), else ``None``."""
    prefix, _, name = activity_type.rpartition(".")
    if prefix != automation:
        return None
    if isinstance(payload, dict):
        name = str(payload.get("step") or payload.get("handler") or name)
    definition = registry.workflows.get(automation)
    if definition is not None and name not in definition.steps:
        name = definition.renamed_steps.get(name, name)
    return name


async def step_visits(client: Client, run_id: str) -> tuple[str, str, list[StepVisit]]:
    """``(automation, execution id, visits)`` of the run's current execution, in order.

    Raises:
        RunNotFoundError: No run has that id.
    """
    try:
        description = await client.get_workflow_handle(run_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RunNotFoundError(run_id) from None
        raise
    automation, execution = description.workflow_type, description.run_id or ""
    history = await client.get_workflow_handle(run_id, run_id=execution).fetch_history()
    scheduled: dict[int, StepVisit] = {}
    counts: dict[str, int] = {}
    failed: set[int] = set()
    retrying: dict[str, int] = {}  # local step -> its visit whose last attempt failed
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            payloads = list(attributes.input.payloads)
            decoded = (await client.data_converter.decode(payloads[:1], [dict]))[0] \
                if payloads else None
            step = _step_of(automation, attributes.activity_type.name, decoded)
            if step is None:
                continue
            counts[step] = counts.get(step, 0) + 1
            visit = decoded.get("visit") if isinstance(decoded, dict) else None
            scheduled[event.event_id] = StepVisit(
                step, int(visit) if isinstance(visit, int) else counts[step],
                attributes.workflow_task_completed_event_id)
        elif event.event_type in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
                                  EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT):
            failed.add(event.activity_task_failed_event_attributes.scheduled_event_id
                       or event.activity_task_timed_out_event_attributes.scheduled_event_id)
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            _local_step(automation, event, scheduled, counts, failed, retrying)
    visits = [StepVisit(v.step, v.visit, v.workflow_task_event_id, event_id in failed)
              for event_id, v in scheduled.items()]
    return automation, execution, visits


def _local_step(automation: str, event: HistoryEvent, scheduled: dict[int, StepVisit],
                counts: dict[str, int], failed: set[int], retrying: dict[str, int]) -> None:
    """A ``@step(local=True)`` attempt: a local-activity marker. Local steps are retried
    by the workflow, one local activity per attempt; an attempt right after a failed one
    of the same step is that visit's retry, not a new visit. Its reset point is the
    workflow task that recorded the first attempt."""
    attributes = event.marker_recorded_event_attributes
    if attributes.marker_name != "core_local_activity" or "data" not in attributes.details:
        return
    try:
        data = json.loads(attributes.details["data"].payloads[0].data)
    except (ValueError, IndexError):
        return
    step = _step_of(automation, str(data.get("activity_type", "")), None)
    if step is None:
        return
    attempt_failed = attributes.HasField("failure")
    key = retrying.pop(step, None)
    if key is None:  # a new visit
        key = event.event_id
        counts[step] = counts.get(step, 0) + 1
        scheduled[key] = StepVisit(step, counts[step],
                                   attributes.workflow_task_completed_event_id)
    failed.discard(key)
    if attempt_failed:
        failed.add(key)
        retrying[step] = key


def _known_steps(automation: str) -> list[str] | None:
    definition = registry.workflows.get(automation)
    if definition is not None:
        return list(definition.steps)
    agent = registry.agents.get(automation)
    if agent is not None:
        return list(agent.handlers)
    return None


def choose_visit(run_id: str, automation: str, visits: list[StepVisit], to_step: str,
                 visit: int | None) -> StepVisit:
    """The visit of ``to_step`` to reset to (the latest, or number ``visit``).

    Raises:
        ResetError: The step does not exist, never ran in this execution, or has no
            such visit.
    """
    known = _known_steps(automation)
    if known is not None and to_step not in known:
        raise ResetError(run_id, to_step, [],
                         f"Cannot reset {run_id}: {automation} has no step {to_step!r} "
                         f"(steps: {', '.join(known)})")
    of_step = [v for v in visits if v.step == to_step]
    numbers = [v.visit for v in of_step]
    if not of_step:
        ran = ", ".join(dict.fromkeys(v.step for v in visits)) or "none"
        raise ResetError(run_id, to_step, [],
                         f"Cannot reset {run_id} to {to_step!r}: the step has not run in the "
                         f"run's current execution (steps that ran: {ran}). A run that "
                         "continued as new (agents, long runs) can go back only to steps of "
                         "its current execution.")
    if visit is None:
        return of_step[-1]
    for candidate in of_step:
        if candidate.visit == visit:
            return candidate
    raise ResetError(run_id, to_step, numbers,
                     f"Cannot reset {run_id} to visit {visit} of {to_step!r}: its current "
                     f"execution has visits {', '.join(map(str, numbers))}")


async def reset_run(client: Client, run_id: str, to_step: str, visit: int | None,
                    reason: str = "") -> ResetPoint:
    """Reset ``run_id`` so that ``to_step`` runs again from its ``visit`` (default: latest)."""
    automation, execution, visits = await step_visits(client, run_id)
    chosen = choose_visit(run_id, automation, visits, to_step, visit)
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=run_id, run_id=execution),
            reason=reason or f"durable-automation: reset to {to_step} (visit {chosen.visit})",
            workflow_task_finish_event_id=chosen.workflow_task_event_id,
            request_id=str(uuid.uuid4()),
        )
    )
    return ResetPoint(run_id, to_step, chosen.visit, response.run_id)
