"""Find runs by filter (Temporal visibility) and cancel or retry them in bulk.

Filters map onto a visibility query: the automation is the workflow type, the status
the execution status, the time range the start time; the current step and the entity
are the ``DaStep`` / ``DaEntity`` search attributes (``SEARCH_ATTRIBUTES`` setting).
Only runs on this engine's task queue and of automations (not the SDK's internal
workflows) are touched.

Retry means: reset the failed run to the step that failed, at its latest visit, so it
runs again with today's code and the Context it had when that step began; the run
keeps its id. Starting it afresh instead would lose the Context and repeat the steps
that had already succeeded (emails sent, rows written).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from temporalio import workflow as temporal_workflow
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from .._core import search
from .._core.errors import sdk_error
from .._core.hooks import worker_components
from .._core.registry import registry
from .._core.settings import get_settings
from ..exceptions import ConfigurationError, DurableAutomationError, ResetError
from .reset import StepVisit, reset_run, step_visits
from .scheduled_event import SCHEDULED_EVENT_WORKFLOW

__all__ = ["BulkResult", "RunFilter", "RunInfo", "bulk_cancel", "bulk_retry", "find",
           "internal_types", "retry_one"]

FilterStatus = Literal["running", "completed", "failed", "cancelled"]

_STATUS_QUERY: dict[str, str] = {
    "running": "ExecutionStatus = 'Running'",
    "completed": "ExecutionStatus = 'Completed'",
    "failed": "(ExecutionStatus = 'Failed' OR ExecutionStatus = 'TimedOut')",
    "cancelled": "(ExecutionStatus = 'Canceled' OR ExecutionStatus = 'Terminated')",
}
_STATUS_NAME: dict[WorkflowExecutionStatus, str] = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "cancelled",
}


@dataclass(frozen=True)
class RunFilter:
    """Which runs a bulk operation touches (every given filter must hold).

    Attributes:
        automation: The automation's name (its workflow type).
        status: ``running`` (includes waiting), ``completed``, ``failed`` or ``cancelled``.
        step: The current (or last) step; needs the ``SEARCH_ATTRIBUTES`` setting.
        entity: ``app_label.model:pk``; needs the ``SEARCH_ATTRIBUTES`` setting.
        started_after: Runs started at or after this time.
        started_before: Runs started before this time.
        limit: Touch at most this many runs.
    """

    automation: str | None = None
    status: FilterStatus | None = None
    step: str | None = None
    entity: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    limit: int = 1000

    def query(self, task_queue: str) -> str:
        """The visibility query for this filter on ``task_queue``.

        Raises:
            ConfigurationError: An unknown status, or a step / entity filter without
                the ``SEARCH_ATTRIBUTES`` setting.
        """
        parts = [f"TaskQueue = {_quote(task_queue)}"]
        if self.automation:
            parts.append(f"WorkflowType = {_quote(self.automation)}")
        if self.status is not None:
            if self.status not in _STATUS_QUERY:
                raise ConfigurationError(
                    f"Unknown status {self.status!r}; use one of {', '.join(_STATUS_QUERY)}")
            parts.append(_STATUS_QUERY[self.status])
        for value, key, what in ((self.step, search.STEP, "step"),
                                 (self.entity, search.ENTITY, "entity")):
            if value is None:
                continue
            if not get_settings().search_attributes:
                raise ConfigurationError(
                    f"Filtering runs by {what} needs the SEARCH_ATTRIBUTES setting (runs carry "
                    "DaStep / DaEntity only then); turn it on, and register the attributes on "
                    "a real cluster (docs/operating-runs.md)")
            parts.append(f"{key.name} = {_quote(value)}")
        if self.started_after is not None:
            parts.append(f"StartTime >= {_quote(_iso(self.started_after))}")
        if self.started_before is not None:
            parts.append(f"StartTime < {_quote(_iso(self.started_before))}")
        return " AND ".join(parts)


@dataclass(frozen=True)
class RunInfo:
    """One run a filter matched, as visibility lists it."""

    id: str
    automation: str
    status: str
    step: str | None
    entity: str | None
    started_at: datetime | None
    closed_at: datetime | None


@dataclass
class BulkResult:
    """What a bulk operation touched (or, with ``dry_run``, would touch).

    Attributes:
        action: ``cancel`` or ``retry``.
        dry_run: Nothing was changed.
        runs: Every run the filter matched.
        done: Run id -> what was (or would be) done to it.
        skipped: Run id -> why it was left alone.
    """

    action: str
    dry_run: bool
    runs: list[RunInfo] = field(default_factory=list)
    done: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def report(self) -> str:
        """Human-readable lines: one per run, then a total."""
        verb = "would " if self.dry_run else ""
        lines = [f"{run_id}: {verb}{what}" for run_id, what in self.done.items()]
        lines += [f"{run_id}: skipped ({why})" for run_id, why in self.skipped.items()]
        done = f"to {self.action}" if self.dry_run else _PAST[self.action]
        lines.append(f"{len(self.done)} run(s) {done}, {len(self.skipped)} skipped"
                     + (" (dry run: nothing changed)" if self.dry_run else ""))
        return "\n".join(lines)


_PAST = {"cancel": "cancelled", "retry": "retried"}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _info(execution: WorkflowExecution) -> RunInfo:
    attributes = execution.typed_search_attributes
    status = _STATUS_NAME.get(execution.status, "running") if execution.status else "running"
    return RunInfo(execution.id, execution.workflow_type, status, attributes.get(search.STEP),
                   attributes.get(search.ENTITY), execution.start_time, execution.close_time)


def internal_types() -> set[str]:
    """Workflow types of the SDK's own machinery (signal hubs, timers, scheduled events):
    on the task queue, but not automation runs. Covers the subsystems imported so far."""
    names = {SCHEDULED_EVENT_WORKFLOW}
    for component in worker_components():
        for cls in component.workflows:
            definition = temporal_workflow._Definition.from_class(cls)
            if definition is not None and definition.name:
                names.add(definition.name)
    return names


async def find(client: Client, task_queue: str, run_filter: RunFilter) -> list[RunInfo]:
    """The runs of automations on ``task_queue`` that ``run_filter`` matches."""
    found: list[RunInfo] = []
    internal = internal_types()
    async for execution in client.list_workflows(run_filter.query(task_queue)):
        if execution.workflow_type in internal:
            continue  # a signal hub, timer, scheduled event...: not an automation run
        found.append(_info(execution))
        if len(found) >= run_filter.limit:
            break
    return found


# Runs acted on at once: enough to finish thousands in seconds, few enough not to
# trip the frontend's per-namespace rate limits.
_PARALLEL = 16


async def _each(result: BulkResult,
                act: Callable[[RunInfo], Awaitable[str | tuple[str]]]) -> BulkResult:
    gate = asyncio.Semaphore(_PARALLEL)

    async def one(run: RunInfo) -> tuple[bool, str]:
        async with gate:
            try:
                outcome = await act(run)
            except Exception as exc:  # one refused run must not stop the rest
                error = exc if isinstance(exc, DurableAutomationError) else sdk_error(
                    exc, f"{result.action} {run.id}")
                if error is None:
                    raise
                return False, str(error)
        if isinstance(outcome, tuple):
            return False, outcome[0]
        return True, str(outcome)

    outcomes = await asyncio.gather(*(one(run) for run in result.runs))
    for run, (done, what) in zip(result.runs, outcomes, strict=True):
        (result.done if done else result.skipped)[run.id] = what
    return result


async def bulk_cancel(client: Client, task_queue: str, run_filter: RunFilter,
                      dry_run: bool) -> BulkResult:
    """Cancel every running run the filter matches (closed ones are skipped)."""
    result = BulkResult("cancel", dry_run, await find(client, task_queue, run_filter))

    async def act(run: RunInfo) -> str | tuple[str]:
        if run.status != "running":
            return (f"already {run.status}",)
        if not dry_run:
            await client.get_workflow_handle(run.id).cancel()
        return f"cancel (step {run.step})" if run.step else "cancel"

    return await _each(result, act)


async def bulk_retry(client: Client, task_queue: str, run_filter: RunFilter,
                     dry_run: bool) -> BulkResult:
    """Reset every failed run the filter matches to the step that failed.

    Raises:
        ConfigurationError: The filter asks for another status than ``failed``.
    """
    if run_filter.status not in (None, "failed"):
        raise ConfigurationError(
            f"Only failed runs can be retried; the filter asks for {run_filter.status!r} runs")
    narrowed = RunFilter(**{**run_filter.__dict__, "status": "failed"})
    result = BulkResult("retry", dry_run, await find(client, task_queue, narrowed))

    async def act(run: RunInfo) -> str | tuple[str]:
        return await retry_one(client, run.id, dry_run)

    return await _each(result, act)


def failed_visit(automation: str, visits: list[StepVisit]) -> StepVisit:
    """The step a failed run failed in: the last step whose activity failed for good,
    else the last step of the automation that ran (one that returned ``fail()``); a
    failure hook that ran after it (``on_failure``) is not the step to go back to."""
    failed = [v for v in visits if v.failed]
    if failed:
        return failed[-1]
    definition = registry.workflows.get(automation)
    steps = [v for v in visits if definition is None or v.step in definition.steps]
    return (steps or visits)[-1]


async def retry_one(client: Client, run_id: str, dry_run: bool) -> str:
    """Reset one failed run to the step that failed (its latest visit); say what was done.

    Raises:
        ResetError: The run has not failed, or no step ran in its current execution.
    """
    description = await client.get_workflow_handle(run_id).describe()
    status = _STATUS_NAME.get(description.status, "running") if description.status else "running"
    if status != "failed":
        raise ResetError(run_id, "", [], f"Run {run_id} is {status}, not failed; to run one of "
                         "its steps again use run.reset(to_step=...)")
    automation, _execution, visits = await step_visits(client, run_id)
    if not visits:
        raise ResetError(run_id, "", [], f"Cannot retry {run_id}: no step ran in its current "
                         "execution, so there is nothing to go back to")
    last = failed_visit(automation, visits)
    if not dry_run:
        await reset_run(client, run_id, last.step, last.visit,
                        reason=f"durable-automation: retry failed step {last.step}")
    return f"reset to step {last.step} (visit {last.visit})"
