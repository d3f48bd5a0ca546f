"""Stranded runs: runs in flight that no longer fit the code about to be deployed.

Run in the process of the *new* code (CI, a release step): the registry holds the new
automations, the server holds the runs the old code left in flight. Everything is read
from visibility (the listing's search attributes and memo), never from a query to a
worker of the old code, which may be gone:

- the workflow type: an automation (or internal workflow) this code still has;
- the current step (the ``da_park`` memo a parked run writes, else ``DaStep``): a step
  of the automation, or an old name ``renamed_steps`` maps to one;
- the steps the parked run goes to next (``then`` / ``on_timeout``, from the memo);
- its Context (from the memo): it validates against the new Context model. A Context
  too large for the memo was recorded as field names only; then the new model's
  required fields must be among them.

Runs that parked before the memo existed (or that are mid-step with no ``DaStep``) are
listed as not fully checked, with what could not be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowExecution

from .._core import search
from .._core.definitions import WorkflowDefinition
from .._core.registry import registry
from .bulk import _quote, internal_types

__all__ = ["CheckReport", "StrandedRun", "check_run", "find_stranded"]

PARK_MEMO = "da_park"  # written by workflows/_park_memo.py


@dataclass(frozen=True)
class StrandedRun:
    """A run in flight the new code cannot carry on.

    Attributes:
        id: The run's id.
        automation: Its automation (workflow type).
        step: The step it is in, when known.
        problems: What no longer fits, each with the fix.
    """

    id: str
    automation: str
    step: str | None
    problems: tuple[str, ...]

    def describe(self) -> str:
        """One line per problem, prefixed with the run."""
        where = f" (step {self.step})" if self.step else ""
        return "\n".join(f"{self.id} [{self.automation}{where}]: {p}" for p in self.problems)


@dataclass
class CheckReport:
    """The result of a stranded-runs check.

    Attributes:
        checked: How many runs in flight were looked at.
        stranded: The runs that no longer fit.
        partial: Run id -> what could not be checked for it (no memo yet).
    """

    checked: int = 0
    stranded: list[StrandedRun] = field(default_factory=list)
    partial: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No run is stranded."""
        return not self.stranded


def _context_problems(definition: WorkflowDefinition, memo: dict[str, Any]) -> list[str]:
    model: type[BaseModel] = definition.context_cls
    context = memo.get("context")
    if isinstance(context, dict):
        try:
            model.model_validate(context)
        except ValidationError as exc:
            errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                               for e in exc.errors()[:5])
            return [f"its Context no longer validates against {definition.qualname}.Context "
                    f"({errors}); give the new fields defaults or migrate the old ones"]
        return []
    fields = set(memo.get("context_fields") or [])
    missing = [name for name, info in model.model_fields.items()
               if info.is_required() and name not in fields]
    if missing:
        return [f"its Context (too large for the memo, {memo.get('context_bytes')} bytes: "
                f"only field names were checked) lacks required field(s) "
                f"{', '.join(missing)}; give them defaults"]
    return []


def _step_problem(definition: WorkflowDefinition, step: str, what: str) -> str | None:
    if step in definition.steps or step in definition.renamed_steps:
        return None
    return (f"{what} {step!r} no longer exists in {definition.name} (steps: "
            f"{', '.join(definition.steps)}); restore it or map it with "
            f"renamed_steps={{{step!r}: '<new step>'}}")


def check_run(run_id: str, automation: str, current: str | None, memo: dict[str, Any] | None,
              internal: set[str], report: CheckReport) -> None:
    """Check one run in flight and add what is found to ``report``."""
    report.checked += 1
    if automation in internal:
        return
    if registry.kind_of(automation) is None:
        report.stranded.append(StrandedRun(run_id, automation, current, (
            f"automation {automation!r} no longer exists in this code; restore it (or keep "
            "it until its runs end), or cancel them: durable-automation runs cancel "
            f"--automation {automation}",)))
        return
    definition = registry.workflows.get(automation)
    if definition is None:
        return  # handlers and agents have no steps to lose
    step = current if current is not None else (memo or {}).get("step")
    problems: list[str] = []
    if step:
        problem = _step_problem(definition, str(step), "its current step")
        if problem:
            problems.append(problem)
    if memo is not None and (current is None or memo.get("step") == current):
        for target in memo.get("targets") or []:
            problem = _step_problem(definition, str(target), "its next step (then=/on_timeout=)")
            if problem:
                problems.append(problem)
        problems += _context_problems(definition, memo)
    elif step:
        report.partial[run_id] = ("parked before the check memo existed, or running a step: "
                                  "its next steps and Context were not checked")
    else:
        report.partial[run_id] = "no step recorded (SEARCH_ATTRIBUTES off, no memo): not checked"
    if problems:
        report.stranded.append(StrandedRun(run_id, automation, str(step) if step else None,
                                           tuple(problems)))


async def _memo(execution: WorkflowExecution) -> dict[str, Any] | None:
    try:
        value = (await execution.memo()).get(PARK_MEMO)
    except Exception:  # noqa: BLE001 - undecodable (a codec key we lack): treat as absent
        return None
    return value if isinstance(value, dict) else None


async def find_stranded(client: Client, task_queue: str, limit: int = 10_000) -> CheckReport:
    """Check every run in flight on ``task_queue`` against the registered code."""
    report = CheckReport()
    internal = internal_types()
    query = f"TaskQueue = {_quote(task_queue)} AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query, limit=limit):
        check_run(execution.id, execution.workflow_type,
                  execution.typed_search_attributes.get(search.STEP), await _memo(execution),
                  internal, report)
    return report
