"""Make a signal's workflow task run while the timer it wakes the workflow from fires.

Temporal's time-skipping test server refuses a workflow task whose completion cancels
a timer that fired while the task ran (``INVALID_ARGUMENT``, "invalid history builder
state for action", from its ``processCancelTimer``), after marking it complete: the
task stays started and keeps virtual time locked, so the next ``advance`` hangs until
its RPC deadline (``durable_automation/_worker/alarm.py`` is the workflows' way out).

The race is made certain here: the worker's interceptor holds the workflow task of one
chosen signal (or update) for :data:`HOLD` seconds of real time (the server's clock
runs in real time while a task holds the time-skipping lock), and the test sends it
:data:`LEAD` before the timer is due, so the timer fires on the server while that task
runs. :func:`advance_bounded` fails after :data:`BOUND` seconds instead of hanging.
Used by ``tests/faults/test_wake_as_timer_fires.py`` and the Django app's
``tests/django_integration/test_move_as_timer_fires.py``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import (
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from durable_automation.testing import TimeMachine

__all__ = ["BOUND", "HELD", "HOLD", "LEAD", "HoldingTimeMachine", "advance_bounded",
           "sleep_until_just_before", "timer_events"]

HOLD = 1.0  # under the SDK's 2 s deadlock detector
LEAD = timedelta(seconds=0.5)
BOUND = 20.0

# Signal (or update) names whose next delivery is held (one-shot: a replay of the task
# after an eviction runs at full speed).
HELD: list[str] = []


class _HoldOneSignal(Interceptor):
    def workflow_interceptor_class(
            self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _HoldingInbound


class _HoldingInbound(WorkflowInboundInterceptor):
    async def handle_signal(self, input: HandleSignalInput) -> None:
        if input.signal in HELD:
            HELD.remove(input.signal)
            time.sleep(HOLD)  # noqa: ASYNC251 - the point: a slow workflow task
        await super().handle_signal(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        if input.update in HELD:
            HELD.remove(input.update)
            time.sleep(HOLD)  # noqa: ASYNC251
        return await super().handle_update_handler(input)


class HoldingTimeMachine(TimeMachine):
    """A time machine whose worker holds the task of the signals named in :data:`HELD`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(interceptors=[_HoldOneSignal()], **options)


def sleep_until_just_before(tm: TimeMachine, due: datetime) -> None:
    """Settle, then move virtual time to :data:`LEAD` before ``due`` (a timer fires at
    its due time or later; nothing settles after: the signal that follows must reach the
    worker before the timer fires)."""
    tm.settle()
    assert tm.env is not None
    # Under load the moment may have passed: then the race is missed and the test proves
    # less, but it cannot fail the fixed code.
    tm._run(tm.env.sleep(max(due - LEAD - tm.now(), timedelta(0))))


def advance_bounded(tm: TimeMachine, **kwargs: float) -> None:
    """``tm.advance``, failing after :data:`BOUND` s of real time rather than hanging."""
    try:
        tm._run(asyncio.wait_for(tm._aadvance(timedelta(**kwargs)), BOUND))
    except TimeoutError:
        pytest.fail(f"advance() hung for {BOUND} s: virtual time is locked")


def timer_events(tm: TimeMachine, workflow_id: str) -> list[EventType.ValueType]:
    """The timer events (started, fired, cancelled) of ``workflow_id``'s latest run."""
    assert tm.env is not None
    history = tm._run(tm.env.client.get_workflow_handle(workflow_id).fetch_history())
    return [e.event_type for e in history.events if e.event_type in (
        EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_TIMER_FIRED,
        EventType.EVENT_TYPE_TIMER_CANCELED)]
