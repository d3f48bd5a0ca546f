"""What every workflow program shares: run state, the signal/query/update handlers'
bodies, the start gate, UI details and executing a user-code activity.

The router workflow (``router.py``) owns the Temporal handlers and forwards them to
its program; a program kind (steps, handlers, agents) subclasses :class:`RunProgram`
and implements :meth:`RunProgram.run`. Workflow code: deterministic, no user code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from .._core import search
    from .._core.channels import describe_errors, hub_id, merge_payload
    from .._core.defaults import defaults
    from .._core.flow import FlowGrant
    from .._core.wire import RunState, StartInput, StepInput, StepOutcome, Waiter, WakeWire
    from .alarm import Alarm

__all__ = ["RunProgram", "unregister_waiter"]


class RunProgram:
    """State and shared behaviour of one run; the base ``run`` names an unknown automation.

    Args:
        name: The automation's name (the workflow type).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        # The Context class payloads are checked against (set by the step program).
        self._context_cls: type[BaseModel] | None = None
        self._context: dict[str, Any] = {}
        self._step: str | None = None
        self._phase: str = "scheduled"
        self._waiting_for: str | None = None
        self._wait_seq: int | None = None
        self._deadline: datetime | None = None
        self._executions = 0
        self._wakes: dict[int, WakeWire] = {}
        self._start_at: datetime | None = None
        # The start gate's timers: a reschedule does not cancel one (gate()).
        self._gate_alarm = Alarm("da-gate-alarm")
        # The limiter's answer, for a run with a concurrency/throttle/rate limit (flow_gate).
        self.flow_grant: FlowGrant | None = None
        self.flow_grants: dict[str, FlowGrant] = {}  # by token: an agent's handler calls

    async def run(self, args: Sequence[RawValue]) -> Any:
        """Run the program; this base has no automation to run."""
        workflow.payload_converter().from_payload(args[0].payload, StartInput)
        raise ApplicationError(
            f"No automation named {self._name!r} is registered on this worker; import "
            "the module that defines it in the worker (AUTOMATION_MODULES)",
            type="UnknownAutomation", non_retryable=True,
        )

    # ── handler bodies (the router declares the handlers) ──────────────────────────

    def on_wake(self, wake: WakeWire) -> None:
        """A hub's wake-up: accepted only for the wait of the step execution in progress
        (older ones are late deliveries for waits that already ended, timed out)."""
        if wake.seq is not None and wake.seq == self._executions:
            self._wakes.setdefault(wake.seq, wake)

    def on_flow_grant(self, grant: FlowGrant) -> None:
        """The run's limiter let it through (or dropped it): see ``flow_gate.py``."""
        if grant.token is not None:
            self.flow_grants.setdefault(grant.token, grant)
            return
        self.flow_grant = self.flow_grant or grant

    def on_reschedule(self, start_at: datetime) -> None:
        """The event this run waits for moved: start at ``start_at`` instead."""
        self._start_at = start_at

    def state(self) -> RunState:
        """The run's state for ``Run.status()`` / ``Run.context()``."""
        return RunState(
            automation=self._name, step=self._step, phase=self._phase,  # type: ignore[arg-type]
            waiting_for=self._waiting_for, deadline=self._deadline,
            context=self._context, executions=self._executions,
        )

    async def direct_signal(self, signal: str, payload: dict[str, Any] | None) -> bool:
        """``Run.signal``: wake this run's current wait directly (validated first)."""
        seq = self._wait_seq
        assert seq is not None  # the validator admitted the update
        self._wakes.setdefault(seq, WakeWire(channel=signal, seq=seq, payload=payload))
        # The hub still lists this wait; take it off so engine.signal does not count it.
        await unregister_waiter(signal, Waiter(run_id=workflow.info().workflow_id, seq=seq,
                                               automation=self._name))
        return True

    def validate_direct_signal(self, signal: str, payload: dict[str, Any] | None) -> None:
        """Reject a direct signal the run does not wait for, or whose payload does not fit."""
        # (_wait_seq: a run waiting for a flow-control slot waits for no signal.)
        if self._phase != "waiting" or self._waiting_for != signal or self._wait_seq is None:
            raise ApplicationError(
                f"Run {workflow.info().workflow_id} is not waiting for {signal!r}"
                + (f" (it waits for {self._waiting_for!r})" if self._waiting_for else ""),
                type="NotWaiting",
            )
        if self._context_cls is not None:
            try:
                merge_payload(self._context_cls, self._context, payload)
            except ValidationError as exc:
                raise ApplicationError(
                    "Signal payload rejected: " + describe_errors(f"{self._name}.Context", exc),
                    type="InvalidPayload",
                ) from None

    # ── shared behaviour ───────────────────────────────────────────────────────────

    def publish(self, details: str) -> None:
        """Show where the run is: current details in the UI, and the step / wait search
        attributes when the run was started with them (the server has them registered)."""
        workflow.set_current_details(details)
        attributes = workflow.info().typed_search_attributes
        if attributes.get(search.AUTOMATION) is None:
            return
        updates = [
            search.STEP.value_set(self._step) if self._step else search.STEP.value_unset(),
            search.WAITING_FOR.value_set(self._waiting_for) if self._waiting_for
            else search.WAITING_FOR.value_unset(),
        ]
        if attributes.get(search.STEP) != self._step or (
            attributes.get(search.WAITING_FOR) != self._waiting_for
        ):
            workflow.upsert_search_attributes(updates)

    async def gate(self, start_at: datetime | None, label: str) -> None:
        """Hold the run until ``start_at``; a reschedule signal moves the time.

        The reschedule cancels no timer (patch ``da-gate-alarm``, ``alarm.py``): one that
        fired while the signal's task ran made the time-skipping test server refuse the
        task and keep virtual time locked. A timer of an older, earlier time fires and
        the next one is armed then.
        """
        # A reschedule sent right after the start can be handled before this runs: it
        # is the newer time and must win (patched: older histories overwrote it).
        if self._start_at is None or not workflow.patched("da-gate-keeps-early-reschedule"):
            self._start_at = start_at
        while self._start_at is not None:
            remaining = self._start_at - workflow.now()
            if remaining <= timedelta(0):
                break
            target = self._start_at
            self._phase, self._deadline = "scheduled", target
            self.publish(f"Scheduled for {target.isoformat()} ({label})")
            try:
                await self._gate_alarm.wait_condition(
                    lambda: self._start_at != target,  # noqa: B023 - awaited in this iteration
                    timeout=remaining,
                    timeout_summary=f"{label} at {target.isoformat(timespec='seconds')}",
                )
            except TimeoutError:
                break
        self._deadline = None

    async def execute(
        self,
        name: str,
        step: str,
        retry: RetryPolicy | None,
        start_to_close: timedelta | None,
        step_input: StepInput,
    ) -> StepOutcome:
        """Run user code as the activity ``<name>.<step>``; a failure fails the run."""
        if retry is None:
            retry = RetryPolicy(maximum_attempts=defaults.infrastructure_attempts)
        try:
            return await workflow.execute_activity(
                f"{name}.{step}",
                step_input,
                result_type=StepOutcome,
                start_to_close_timeout=start_to_close or defaults.step_timeout,
                heartbeat_timeout=defaults.heartbeat_timeout,
                retry_policy=retry,
                summary=step,
            )
        except ActivityError as err:
            cause = err.cause
            message = getattr(cause, "message", None) or str(cause or err)
            error_type = getattr(cause, "type", None) or type(cause).__name__
            raise ApplicationError(
                f"Step {step} failed: {message}", {"step": step, "error_type": error_type},
                type="StepFailed", non_retryable=True,
            ) from err


async def unregister_waiter(channel: str, waiter: Waiter) -> None:
    """Tell the channel's hub this run no longer waits (best effort)."""
    try:
        hub = hub_id(workflow.info().task_queue, channel)
        await workflow.get_external_workflow_handle(hub).signal(
            "unregister", waiter
        )
    except Exception:  # noqa: BLE001 - a hub that ended has nobody to forget
        workflow.logger.debug("Signal hub for %s is gone; nothing to unregister", channel)
