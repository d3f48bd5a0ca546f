"""The step program: what the router workflow runs for a step workflow.

Each step is an activity (``<automation>.<step>``, see ``_step_activity.py``) that
returns a command; this program turns commands into timers, signal waits, the next
step, or the end of the run. User code never runs here, so editing a step's body
never breaks the replay of runs in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from .._core.channels import merge_payload
    from .._core.defaults import format_duration
    from .._core.definitions import WorkflowDefinition
    from .._core.registry import registry
    from .._core.wire import CommandWire, StartInput, StepInput, Waiter, WakeWire
    from .._worker.alarm import Alarm
    from .._worker.flow_gate import wait_for_slot
    from .._worker.program import RunProgram, unregister_waiter
    from ._cancel_on import run_guarded
    from ._local_steps import LOCAL_PATCH, run_local_step
    from ._park_memo import initial_step, record_park
    from ._renames import resolve_step

__all__ = ["StepProgram"]

_FAILED_TYPE = "AutomationFailed"


class StepProgram(RunProgram):
    """Runs a ``@workflow`` / ``@event_workflow`` class's steps."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        # A wake does not cancel its wait's timeout timer: the time-skipping test server
        # refused a task cancelling a timer that fired while it ran (_worker/alarm.py).
        self._alarm = Alarm("da-step-wait-alarm")

    async def run(self, args: Sequence[RawValue]) -> Any:
        """Run the steps from the start input (or a continue-as-new's state)."""
        start = workflow.payload_converter().from_payload(args[0].payload, StartInput)
        definition = registry.workflows.get(self._name)
        if definition is None:
            return await super().run(args)
        self._context_cls = definition.context_cls
        return await run_guarded(self, definition, start, self._run_steps(definition, start))

    async def _run_steps(self, definition: WorkflowDefinition, start: StartInput) -> Any:
        self._context = dict(start.context)
        self._executions = start.executions
        for recorded in start.wakes:
            if recorded.seq is not None:
                self._wakes[recorded.seq] = recorded
        offset_label = definition.event_name or definition.name
        if definition.offset:
            offset_label = f"{offset_label} {format_duration(definition.offset)}"
        step = start.step or initial_step(definition)
        if start.start_at is not None and start.start_at > workflow.now():
            record_park(step, "gate", [], self._context)
        await self.gate(start.start_at, offset_label)
        if start.executions == 0 and (dropped := await wait_for_slot(self, start)) is not None:
            return dropped  # a rate limit dropped it (a continued run already holds its slot)

        wake: WakeWire | None = start.resume_wake
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
            self.publish(f"Running step {step}")
            # A renamed step keeps its recorded activity name; the new step's code runs.
            current = resolve_step(definition, step)
            step_def = definition.steps[current]
            retry = definition.retry_for(current)
            step_input = StepInput(automation=definition.name, step=current,
                                   run_id=workflow.info().workflow_id, context=self._context,
                                   execution=self._executions, visit=visits[step], wake=wake,
                                   event=start.event)
            if step_def.local and workflow.patched(LOCAL_PATCH):  # @step(local=True)
                outcome = await run_local_step(self, definition.name, step, retry,
                                               step_def.timeout, step_input)
            else:
                outcome = await self.execute(definition.name, step,
                                             retry.to_policy() if retry else None,
                                             step_def.timeout, step_input)
            self._context = outcome.context
            command = outcome.command
            wake = None
            match command.kind:
                case "complete":
                    self._phase = "running"
                    self.publish(f"Completed in step {step}")
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

    async def _sleep(self, step: str, command: CommandWire) -> None:
        assert command.duration is not None
        self._phase = "sleeping"
        self._deadline = workflow.now() + command.duration
        label = f"sleep {format_duration(command.duration)}"
        record_park(step, "sleep", [command.then], self._context)
        self.publish(f"Step {step}: {label}, until {self._deadline.isoformat(timespec='seconds')}")
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
        self.publish(f"Step {step}: waiting for {channel}{until}")
        record_park(step, "wait", [command.then, command.on_timeout], self._context)
        try:
            await self._alarm.wait_condition(
                lambda: seq in self._wakes, timeout=command.duration,
                timeout_summary=f"{step}: wait {channel} timeout" if command.duration else None,
            )
        except TimeoutError:
            await unregister_waiter(channel, Waiter(run_id=workflow.info().workflow_id, seq=seq,
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
