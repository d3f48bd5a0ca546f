"""The interpreter: one fixed Temporal workflow that runs every registered automation.

It is registered as Temporal's *dynamic* workflow, so each automation is started
under its own name as the workflow type (the UI lists ``reindex_listing``, not
``Interpreter``), and it looks the automation up in the registry by that name.

User code never runs here: each step is an activity (``<automation>.<step>``) that
returns a command, and the interpreter turns commands into timers, signal waits,
the next activity, or the end of the run. Editing a step's body therefore never
breaks the replay of runs in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from . import _search as search
    from ._agent_program import run_agent
    from ._definitions import HandlerDefinition, WorkflowDefinition
    from ._registry import registry
    from ._signal_hub import describe_errors, hub_id
    from ._wire import (
        DIRECT_SIGNAL_UPDATE,
        RESCHEDULE_SIGNAL,
        STATE_QUERY,
        WAKE_SIGNAL,
        CommandWire,
        RunState,
        StartInput,
        StepInput,
        StepOutcome,
        Waiter,
        WakeWire,
    )

__all__ = ["AutomationWorkflow", "StepDefaults", "defaults", "format_duration"]


@dataclass
class StepDefaults:
    """Activity options the worker sets from settings before it starts.

    Kept out of workflow inputs on purpose: they are not part of a run's history, so
    changing them affects new activity attempts without breaking replay.
    """

    step_timeout: timedelta = timedelta(hours=1)
    heartbeat_timeout: timedelta = timedelta(seconds=30)
    # A step without a Retry fails its run on the first exception it raises (the
    # activity marks it non-retryable), but a worker that dies mid-step is retried
    # this many times so the run still completes.
    infrastructure_attempts: int = 5


defaults = StepDefaults()

_FAILED_TYPE = "AutomationFailed"


def format_duration(value: timedelta) -> str:
    """``2h``, ``90m``, ``1d2h``, ``-60m``: short, for timer summaries."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + ("".join(parts) or "0s")


def merge_payload(
    context_cls: type[BaseModel], context: dict[str, Any], payload: dict[str, Any] | None
) -> dict[str, Any]:
    """Merge payload keys that are Context fields into ``context``, validated.

    Raises:
        ValidationError: The merged Context does not validate.
    """
    updates = {k: v for k, v in (payload or {}).items() if k in context_cls.model_fields}
    if not updates:
        return context
    merged = context_cls.model_validate({**context, **updates})
    return merged.model_dump(mode="json")


@workflow.defn(dynamic=True)
class AutomationWorkflow:
    """Runs the automation whose name is this workflow's type."""

    def __init__(self) -> None:
        self._name = workflow.info().workflow_type
        self._definition: WorkflowDefinition | None = None
        self._context: dict[str, Any] = {}
        self._step: str | None = None
        self._phase: str = "scheduled"
        self._waiting_for: str | None = None
        self._wait_seq: int | None = None
        self._deadline: datetime | None = None
        self._executions = 0
        self._wakes: dict[int, WakeWire] = {}
        self._start_at: datetime | None = None

    # ── handlers ──────────────────────────────────────────────────────────────────

    @workflow.signal(name=WAKE_SIGNAL)
    def _on_wake(self, wake: WakeWire) -> None:
        # Accept a wake only for the wait of the step execution in progress: older
        # ones are late deliveries for waits that already ended (timed out).
        if wake.seq is not None and wake.seq == self._executions:
            self._wakes.setdefault(wake.seq, wake)

    @workflow.signal(name=RESCHEDULE_SIGNAL)
    def _on_reschedule(self, start_at: datetime) -> None:
        self._start_at = start_at

    @workflow.query(name=STATE_QUERY)
    def _state(self) -> RunState:
        return RunState(
            automation=self._name, step=self._step, phase=self._phase,  # type: ignore[arg-type]
            waiting_for=self._waiting_for, deadline=self._deadline,
            context=self._context, executions=self._executions,
        )

    @workflow.update(name=DIRECT_SIGNAL_UPDATE)
    async def _direct_signal(self, signal: str, payload: dict[str, Any] | None) -> bool:
        seq = self._wait_seq
        assert seq is not None  # the validator admitted the update
        self._wakes.setdefault(seq, WakeWire(channel=signal, seq=seq, payload=payload))
        # The hub still lists this wait; take it off so engine.signal does not count it.
        await _unregister(signal, Waiter(run_id=workflow.info().workflow_id, seq=seq,
                                         automation=self._name))
        return True

    @_direct_signal.validator
    def _validate_direct_signal(self, signal: str, payload: dict[str, Any] | None) -> None:
        if self._phase != "waiting" or self._waiting_for != signal:
            raise ApplicationError(
                f"Run {workflow.info().workflow_id} is not waiting for {signal!r}"
                + (f" (it waits for {self._waiting_for!r})" if self._waiting_for else ""),
                type="NotWaiting",
            )
        if self._definition is not None:
            try:
                merge_payload(self._definition.context_cls, self._context, payload)
            except ValidationError as exc:
                raise ApplicationError(
                    "Signal payload rejected: " + describe_errors(f"{self._name}.Context", exc),
                    type="InvalidPayload",
                ) from None

    def _publish(self, details: str) -> None:
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

    # ── main ──────────────────────────────────────────────────────────────────────

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        if not args:
            raise ApplicationError(f"{self._name} was started without its input",
                                   non_retryable=True)
        if self._name in registry.agents:  # long-running agents: see _agent_program
            return await run_agent(args)
        start = workflow.payload_converter().from_payload(args[0].payload, StartInput)
        if self._name in registry.handlers:
            return await self._run_handler(registry.handlers[self._name], start)
        definition = registry.workflows.get(self._name)
        if definition is None:
            raise ApplicationError(
                f"No automation named {self._name!r} is registered on this worker; import "
                "the module that defines it in the worker (AUTOMATION_MODULES)",
                type="UnknownAutomation", non_retryable=True,
            )
        self._definition = definition
        return await self._run_steps(definition, start)

    async def _gate(self, start_at: datetime | None, label: str) -> None:
        """Hold the run until ``start_at``; a reschedule signal moves the time."""
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
            self._publish(f"Scheduled for {target.isoformat()} ({label})")
            try:
                await workflow.wait_condition(
                    lambda: self._start_at != target, timeout=remaining,
                    timeout_summary=f"{label} at {target.isoformat(timespec='seconds')}",
                )
            except TimeoutError:
                break
        self._deadline = None

    async def _run_handler(self, handler: HandlerDefinition, start: StartInput) -> Any:
        await self._gate(start.start_at, f"{handler.event_name}")
        self._phase, self._step = "running", "handle"
        self._publish(f"Running {handler.name} for {handler.event_name}")
        self._executions = 1
        retry = handler.retry.to_policy() if handler.retry else None
        await self._execute(
            handler.name, "handle", retry, handler.timeout,
            StepInput(automation=handler.name, step="handle", run_id=workflow.info().workflow_id,
                      context={}, execution=1, visit=1, event=start.event),
        )
        return {}

    async def _run_steps(self, definition: WorkflowDefinition, start: StartInput) -> Any:
        self._context = dict(start.context)
        self._executions = start.executions
        for wake in start.wakes:
            if wake.seq is not None:
                self._wakes[wake.seq] = wake
        offset_label = definition.event_name or definition.name
        if definition.offset:
            offset_label = f"{offset_label} {format_duration(definition.offset)}"
        await self._gate(start.start_at, offset_label)

        step = start.step or definition.start_step
        wake = start.resume_wake
        visits: Counter[str] = Counter(start.visits)
        while True:
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    StartInput(context=self._context, event=start.event, step=step,
                               executions=self._executions, visits=dict(visits), resume_wake=wake,
                               wakes=list(self._wakes.values()))
                )
            self._executions += 1
            visits[step] += 1
            self._step, self._phase = step, "running"
            self._waiting_for = self._deadline = None
            self._publish(f"Running step {step}")
            step_def = definition.steps[step]
            retry = definition.retry_for(step)
            outcome = await self._execute(
                definition.name, step, retry.to_policy() if retry else None, step_def.timeout,
                StepInput(automation=definition.name, step=step,
                          run_id=workflow.info().workflow_id, context=self._context,
                          execution=self._executions, visit=visits[step], wake=wake,
                          event=start.event),
            )
            self._context = outcome.context
            command = outcome.command
            wake = None
            match command.kind:
                case "complete":
                    self._phase = "running"
                    self._publish(f"Completed in step {step}")
                    return command.result or {}
                case "fail":
                    raise ApplicationError(command.reason or "failed", type=_FAILED_TYPE,
                                           non_retryable=True)
                case "goto":
                    assert command.step is not None
                    step = command.step
                case "sleep":
                    await self._sleep(step, command)
                    step = command.then or step
                case "wait":
                    wake = await self._wait(definition, step, command)
                    if wake.timed_out:
                        step = command.on_timeout or command.then or step
                    else:
                        step = command.then or step

    async def _execute(
        self,
        name: str,
        step: str,
        retry: RetryPolicy | None,
        timeout: timedelta | None,
        step_input: StepInput,
    ) -> StepOutcome:
        if retry is None:
            retry = RetryPolicy(maximum_attempts=defaults.infrastructure_attempts)
        try:
            return await workflow.execute_activity(
                f"{name}.{step}",
                step_input,
                result_type=StepOutcome,
                start_to_close_timeout=timeout or defaults.step_timeout,
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

    async def _sleep(self, step: str, command: CommandWire) -> None:
        assert command.duration is not None
        self._phase = "sleeping"
        self._deadline = workflow.now() + command.duration
        label = f"sleep {format_duration(command.duration)}"
        self._publish(f"Step {step}: {label}, until {self._deadline.isoformat(timespec='seconds')}")
        await workflow.sleep(command.duration, summary=f"{step}: {label}")

    async def _wait(
        self, definition: WorkflowDefinition, step: str, command: CommandWire
    ) -> WakeWire:
        assert command.signal is not None
        seq = self._executions
        channel = command.signal
        self._phase, self._waiting_for, self._wait_seq = "waiting", channel, seq
        self._deadline = workflow.now() + command.duration if command.duration else None
        until = f", until {self._deadline.isoformat(timespec='seconds')}" if self._deadline else ""
        self._publish(f"Step {step}: waiting for {channel}{until}")
        try:
            await workflow.wait_condition(
                lambda: seq in self._wakes, timeout=command.duration,
                timeout_summary=f"{step}: wait {channel} timeout" if command.duration else None,
            )
        except TimeoutError:
            await _unregister(channel, Waiter(run_id=workflow.info().workflow_id, seq=seq,
                                              automation=definition.name))
            # A wake may have raced the timeout inside the same workflow task.
            if seq not in self._wakes:
                return WakeWire(channel=channel, seq=seq, timed_out=True)
        finally:
            self._wait_seq = None
        wake = self._wakes.pop(seq)
        try:
            self._context = merge_payload(definition.context_cls, self._context, wake.payload)
        except ValidationError as exc:
            # The hub validates payloads before delivering, so this only happens when
            # the Context class changed in between. Never fail the workflow task here:
            # that would retry forever. Keep the Context, log, and resume.
            workflow.logger.warning("Ignoring payload for %s that does not fit its Context: %s",
                                    self._name, exc)
        return wake


async def _unregister(channel: str, waiter: Waiter) -> None:
    """Tell the channel's hub this run no longer waits (best effort)."""
    try:
        hub = hub_id(workflow.info().task_queue, channel)
        await workflow.get_external_workflow_handle(hub).signal(
            "unregister", waiter
        )
    except Exception:  # noqa: BLE001 - a hub that ended has nobody to forget
        workflow.logger.debug("Signal hub for %s is gone; nothing to unregister", channel)

