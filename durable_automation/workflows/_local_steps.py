"""Local steps (``@step(local=True)``): a step run as a Temporal local activity.

A local activity runs in the worker that runs the workflow task, with no round trip
through the server's task queue: a short step costs one workflow task instead of a
schedule, a poll, a start and a completion. Its result (or failure) is recorded in
the history as a marker, so replay never runs the step again and editing its body
never breaks a run in flight.

Local activities cannot heartbeat, so a failed attempt cannot leave its Context in
heartbeat details for the next attempt as a regular step does. Instead this program
drives the retries itself: each local activity gets exactly one attempt; a failed
attempt raises an error whose details carry the Context it left (see
``_step_activity.py``); the workflow sleeps the backoff on a durable timer and calls
the step again with that Context and the next attempt number. A worker that dies
mid-retry loses nothing: the failure (with its Context) and the timer are in the
history, and the next worker replays them.

Workflow code (except :func:`check_local_step`, which runs at decoration time).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from .._core.defaults import defaults, format_duration
    from .._core.retry import Retry
    from .._core.wire import StepInput, StepOutcome
    from .._worker.program import RunProgram

__all__ = [
    "LOCAL_PATCH",
    "LOCAL_STEP_MAX_TIMEOUT",
    "LOCAL_STEP_TIMEOUT",
    "check_local_step",
    "local_attempt_delay",
    "run_local_step",
]

# Runs recorded before local steps existed (or before a step became local) replay
# their regular activity; runs started since record this marker first.
LOCAL_PATCH = "da-local-steps"

# A local activity holds its workflow task open while it runs; Temporal advises them
# for work of seconds. Longer steps belong in regular activities (heartbeats, priority,
# their own worker slots), so a local step may not declare a longer timeout.
LOCAL_STEP_MAX_TIMEOUT = timedelta(minutes=1)
LOCAL_STEP_TIMEOUT = timedelta(seconds=30)


def check_local_step(where: str, mark: Mapping[str, Any]) -> list[str]:
    """Decoration-time problems of a step's ``local`` argument (empty when fine)."""
    local, timeout = mark.get("local", False), mark.get("timeout")
    if not isinstance(local, bool):
        return [f"{where}: local must be True or False, got {local!r}"]
    if local and isinstance(timeout, timedelta) and timeout > LOCAL_STEP_MAX_TIMEOUT:
        return [
            f"{where}: local=True with timeout={timeout}: a local step may take at most "
            f"{format_duration(LOCAL_STEP_MAX_TIMEOUT)} (it holds the workflow task and cannot "
            "heartbeat); make it a regular step (drop local=True) or shorten the timeout"
        ]
    return []


def local_attempt_delay(retry: Retry, attempt: int) -> timedelta:
    """How long to wait before ``attempt`` (2 = the first retry), as Temporal would."""
    delay = retry.base_delay * (float(retry.backoff) ** (attempt - 2))
    if retry.max_delay is not None and delay > retry.max_delay:
        return retry.max_delay
    return delay


async def run_local_step(
    program: RunProgram,
    name: str,
    step: str,
    retry: Retry | None,
    timeout: timedelta | None,  # noqa: ASYNC109 - the attempt's, passed to Temporal
    step_input: StepInput,
) -> StepOutcome:
    """Run ``<name>.<step>`` as local activities, one per attempt, retrying per ``retry``.

    Without a ``Retry`` a raising step fails the run at once (its error is
    non-retryable, as for a regular step); a timed-out attempt is still tried again
    (``infrastructure_attempts`` in all), as a regular step's lost attempt is.

    Raises:
        ApplicationError: ``StepFailed``, when the last attempt failed (fails the run).
    """
    policy = retry or Retry(max_attempts=defaults.infrastructure_attempts)
    attempt, context = 1, step_input.context
    while True:
        try:
            return await workflow.execute_local_activity(
                f"{name}.{step}",
                step_input.model_copy(update={"context": context, "attempt": attempt}),
                result_type=StepOutcome,
                start_to_close_timeout=timeout or LOCAL_STEP_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=step,
            )
        except (ActivityError, ApplicationError, TimeoutError) as err:
            # Depending on how the attempt ended, the failure arrives wrapped in an
            # ActivityError (as for regular activities) or as the error itself.
            cause = err.cause if isinstance(err, ActivityError) else err
            retryable = not (isinstance(cause, ApplicationError) and cause.non_retryable)
            if retry is None and not isinstance(cause, TimeoutError):
                retryable = False
            if not retryable or attempt >= policy.max_attempts:
                raise step_failed(step, err) from err
            left = _context_left(cause)
            if left is not None:
                context = left
            attempt += 1
            delay = local_attempt_delay(policy, attempt)
            workflow.set_current_details(
                f"Step {step}: attempt {attempt} in {format_duration(delay)} "
                f"(attempt {attempt - 1} failed: {_message(err)})"
            )
            # Between attempts the run sleeps, as a regular step's run waits out an
            # activity's backoff: not "running" (Run.status, time_machine's settle).
            program._phase, program._deadline = "sleeping", workflow.now() + delay
            try:
                await workflow.sleep(delay, summary=f"{step}: retry {attempt} in "
                                                    f"{format_duration(delay)}")
            finally:
                program._phase, program._deadline = "running", None


def _context_left(cause: BaseException | None) -> dict[str, Any] | None:
    """The Context a failed attempt left in its error's details (``None``: unchanged
    or not known, e.g. a timed-out attempt)."""
    if isinstance(cause, ApplicationError) and cause.details:
        first = cause.details[0]
        if isinstance(first, dict):
            return first
    return None


def _message(err: BaseException) -> str:
    cause = err.cause if isinstance(err, ActivityError) else err
    return getattr(cause, "message", None) or str(cause or err)


def step_failed(step: str, err: BaseException) -> ApplicationError:
    """The run's failure for a step whose last attempt failed with ``err``."""
    cause = err.cause if isinstance(err, ActivityError) else err
    error_type = getattr(cause, "type", None) or type(cause).__name__
    return ApplicationError(
        f"Step {step} failed: {_message(err)}", {"step": step, "error_type": error_type},
        type="StepFailed", non_retryable=True,
    )
