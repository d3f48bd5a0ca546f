"""The signal hub: one small workflow per signal channel that knows who waits on it.

``engine.signal(name)`` must wake every run that began waiting before it was sent,
each once, and say how many, on the time-skipping server too, which has no
visibility queries. So waits are indexed in Temporal itself:

* a step that returns ``wait(name)`` registers ``(run, seq)`` with the hub for
  ``name`` (signal-with-start, from the step's activity, before the activity
  completes), so the wait is recorded before the run is seen as waiting;
* ``engine.signal`` is an *update* on the hub: its validator checks the payload
  against every waiting Context (a bad payload is rejected and nothing is
  delivered), then the handler takes the current waiters, signals each run once
  (``__da_wake`` with its ``seq``) and returns how many were delivered;
* a run that stops waiting (timeout, direct signal) unregisters.

A hub with no waiters completes after :data:`IDLE_TIMEOUT` and is started again by
the next registration; it continues-as-new when its history grows. A registration as
the idle timer fires does not cancel it (patch ``da-hub-alarm``, ``_worker/alarm.py``):
the time-skipping test server refused a task cancelling a timer that fired while it
ran, and kept virtual time locked.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from .._core.channels import (
        HUB_WORKFLOW,
        IDLE_TIMEOUT,
        describe_errors,
        hub_id,
        validate_partial,
    )
    from .._core.registry import registry
    from .._core.wire import WAKE_SIGNAL, DeliverRequest, Waiter, WakeWire
    from .._worker.alarm import Alarm

__all__ = [
    "HUB_WORKFLOW", "IDLE_TIMEOUT", "SignalHub", "describe_errors", "hub_id", "validate_partial",
]

@workflow.defn(name=HUB_WORKFLOW)
class SignalHub:
    """Keeps the waiters of one signal channel and fans signals out to them."""

    def __init__(self) -> None:
        self._waiters: dict[tuple[str, int], Waiter] = {}
        self._alarm = Alarm("da-hub-alarm")

    @workflow.run
    async def run(self, waiters: list[Waiter]) -> None:
        for waiter in waiters:
            self._waiters[(waiter.run_id, waiter.seq)] = waiter
        while True:
            try:
                await workflow.wait_condition(
                    lambda: not self._waiters or workflow.info().is_continue_as_new_suggested(),
                )
                if not self._waiters:
                    await self._alarm.wait_condition(
                        lambda: bool(self._waiters), timeout=IDLE_TIMEOUT,
                        timeout_summary="idle",
                    )
            except TimeoutError:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._waiters:
                    return
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(list(self._waiters.values()))

    @workflow.signal
    def register(self, waiter: Waiter) -> None:
        """Add a waiting run (idempotent: a retried step registers the same key)."""
        self._waiters[(waiter.run_id, waiter.seq)] = waiter

    @workflow.signal
    def unregister(self, waiter: Waiter) -> None:
        """Forget a run that stopped waiting."""
        self._waiters.pop((waiter.run_id, waiter.seq), None)

    @workflow.query
    def waiting(self) -> list[Waiter]:
        """The runs currently waiting on this channel."""
        return list(self._waiters.values())

    @workflow.update
    async def deliver(self, request: DeliverRequest) -> int:
        """Wake every registered run once; return how many were woken."""
        waiters = list(self._waiters.values())
        self._waiters.clear()
        prefix = f"signal-hub:{workflow.info().task_queue}:"
        channel = workflow.info().workflow_id.removeprefix(prefix)
        results = await asyncio.gather(
            *(
                workflow.get_external_workflow_handle(w.run_id).signal(
                    WAKE_SIGNAL, WakeWire(channel=channel, seq=w.seq, payload=request.payload)
                )
                for w in waiters
            ),
            return_exceptions=True,
        )
        # A run that ended meanwhile (cancelled, terminated) cannot be signalled: it
        # was not woken, so it is not counted.
        return sum(1 for r in results if not isinstance(r, BaseException))

    @deliver.validator
    def _validate(self, request: DeliverRequest) -> None:
        problems = []
        for automation in sorted({w.automation for w in self._waiters.values()}):
            definition = registry.workflows.get(automation)
            if definition is None:
                continue
            try:
                validate_partial(definition.context_cls, request.payload)
            except ValidationError as exc:
                problems.append(describe_errors(f"{automation}.Context", exc))
        if problems:
            raise ApplicationError(
                "Signal payload rejected, nothing was delivered: " + "; ".join(problems),
                type="InvalidPayload",
            )
