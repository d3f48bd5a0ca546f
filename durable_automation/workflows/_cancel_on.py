"""``cancel_on=[CancelOn(...)]`` on workflows: decoration checks and the workflow side.

A run of an automation with ``cancel_on``, as it starts (before any offset wait or
step), executes the ``durable_automation.cancel_on_register`` local activity: it joins
the index of each of its keys (see ``_cancel_index.py``; keys come from the Context it
starts with). When a matching event occurs, the engine cancels it through Temporal
with the reason ``cancel_on:<position>:<event id>``. The run then executes that
CancelOn's ``on_cancel`` step, if any (its command is ignored), leaves its indexes,
and ends cancelled. A run that ends any other way also leaves its indexes; a
terminated one is taken off by the next event that finds it gone.

All new commands are behind ``workflow.patched("da-cancel-on")``, and the whole path
is skipped for automations without ``cancel_on`` (their histories are unchanged).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, CancelledError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from .._core.cancel_on import CancelOn, cancel_index_id
    from .._core.definitions import StepDefinition, WorkflowDefinition
    from .._core.wire import StartInput, StepInput
    from ._cancel_on_client import REGISTER_ACTIVITY, started_at_iso
    from ._failure import run_with_failure_hook

if TYPE_CHECKING:
    from .._worker.program import RunProgram

__all__ = ["check_cancel_on", "run_guarded"]

_PATCH = "da-cancel-on"
_REASON = re.compile(r"\bcancel_on:(\d+):")


# ── decoration time ──────────────────────────────────────────────────────────────


def check_cancel_on(cancel_on: Any, steps: dict[str, StepDefinition]
                    ) -> tuple[tuple[CancelOn, ...], list[str]]:
    """Check ``cancel_on=``; return the CancelOns and every problem found."""
    if cancel_on is None or cancel_on == ():
        return (), []
    if isinstance(cancel_on, CancelOn):
        cancel_on = [cancel_on]
    if not isinstance(cancel_on, Sequence) or isinstance(cancel_on, str):
        return (), [f"cancel_on must be a list of CancelOn(...), got {cancel_on!r}"]
    problems: list[str] = []
    specs: list[CancelOn] = []
    for spec in cancel_on:
        if not isinstance(spec, CancelOn):
            problems.append(f"cancel_on items must be CancelOn(event, match=...), got {spec!r}")
            continue
        problems += spec.problems()
        if spec.on_cancel is not None and isinstance(spec.on_cancel, str) and (
                spec.on_cancel not in steps):
            problems.append(f"CancelOn({spec.event!r}): on_cancel names step {spec.on_cancel!r}, "
                            f"which does not exist (steps: {', '.join(steps)})")
        specs.append(spec)
    return tuple(specs), problems


# ── workflow side ────────────────────────────────────────────────────────────────


def _indexes(definition: WorkflowDefinition, context: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for position, spec in enumerate(definition.cancel_on):
        key = spec.run_key(context)
        if key is not None:  # a Context without the field: no event can match it
            found.append({"id": cancel_index_id(definition.name, position, spec, key),
                          "position": position})
    return found


async def run_guarded(program: RunProgram, definition: WorkflowDefinition, start: StartInput,
                      body: Coroutine[Any, Any, Any]) -> Any:
    """Run a step workflow's ``body`` with its ``on_failure`` hook and ``cancel_on``."""
    guarded = run_with_failure_hook(program, definition, start.event, body)
    if not definition.cancel_on or not workflow.patched(_PATCH):
        return await guarded
    indexes = _indexes(definition, dict(start.context))
    try:
        if indexes and workflow.info().continued_run_id is None:
            program._phase = "running"  # busy, as far as Run.status() and settle() go
            program.publish("Registering cancel_on")
            await workflow.execute_local_activity(
                REGISTER_ACTIVITY,
                {"run_id": workflow.info().workflow_id, "indexes": indexes,
                 "started_at": started_at_iso(workflow.info().start_time)},
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                # The index may cancel this very run as it registers: abandon then.
                cancellation_type=workflow.ActivityCancellationType.ABANDON,
                summary="register cancel_on",
            )
        result = await guarded
    # Not BaseException: continue-as-new (the next run carries on, registered as it is)
    # and a worker evicting the run from its cache must pass through untouched.
    except (Exception, asyncio.CancelledError) as err:
        guarded.close()  # never awaited when the registration was cancelled: drop both
        body.close()
        if workflow.cancellation_reason() is not None and _cancelled(err):
            await _on_cancel(program, definition, start)
            await _leave(indexes)
            raise CancelledError("Cancelled by an event (cancel_on)") from None
        await _leave(indexes)
        raise
    await _leave(indexes)
    return result


def _cancelled(err: BaseException) -> bool:
    # A step's activity cancelled under it surfaces as the program's StepFailed error.
    return is_cancelled_exception(err) or (
        isinstance(err, ApplicationError) and err.__cause__ is not None
        and is_cancelled_exception(err.__cause__))


def _cause(definition: WorkflowDefinition) -> CancelOn | None:
    # The server may wrap the reason ("Cancel requested by workflow ... with reason: ...").
    found = _REASON.search(workflow.cancellation_reason() or "")
    if found is None:
        return None  # Run.cancel() or a cancel from the UI: no on_cancel step
    index = int(found.group(1))
    return definition.cancel_on[index] if index < len(definition.cancel_on) else None


async def _on_cancel(program: RunProgram, definition: WorkflowDefinition,
                     start: StartInput) -> None:
    spec = _cause(definition)
    if spec is None or spec.on_cancel is None:
        return
    step = spec.on_cancel
    program.publish(f"Cancelled by {spec.event}; running {step}")
    retry = definition.retry_for(step)
    try:
        await program.execute(
            definition.name, step, retry.to_policy() if retry else None,
            definition.steps[step].timeout,
            StepInput(automation=definition.name, step=step, run_id=workflow.info().workflow_id,
                      context=program._context or dict(start.context),
                      execution=program._executions + 1, visit=1, event=start.event),
        )
    except ApplicationError as err:
        # The run ends cancelled either way; the step's error is logged.
        workflow.logger.warning("on_cancel step %s of %s failed: %s", step, definition.name,
                                err.message)


async def _leave(indexes: list[dict[str, Any]]) -> None:
    """Take the run off its indexes (best effort: an index that ended has nothing to drop)."""
    run_id = workflow.info().workflow_id
    for index in indexes:
        try:
            await workflow.get_external_workflow_handle(index["id"]).signal("remove", run_id)
        except Exception:  # noqa: BLE001 - a missing index holds nothing to remove
            workflow.logger.debug("cancel_on index %s is gone", index["id"])
