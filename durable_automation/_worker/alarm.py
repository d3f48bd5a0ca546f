"""Workflow side: wait for "something happens, or a due time comes" and never cancel a timer.

``workflow.wait_condition(cond, timeout=...)`` cancels its timer when ``cond`` comes
true first. When that timer fires on the server while the workflow task that cancels
it runs (a signal or update a few ms before the due time), Temporal's time-skipping
test server refuses the task's completion (``INVALID_ARGUMENT`` from its
``processCancelTimer``) after marking it complete: the task stays started and keeps
virtual time locked, so every ``sleep``/``advance`` of a test hangs until its RPC
deadline. An :class:`Alarm` lets its timers fire instead: it starts a timer only when
none that fires by the due time is pending, and a timer that fires early (the due
time moved later meanwhile) just wakes the waiter, which arms the next one. A timer
still pending when the wait is over costs one more workflow task when it fires.

Which commands a workflow emits changes with this, so each workflow uses it behind
its own patch: ``Alarm("da-...")``, whose :meth:`Alarm.wait_condition` is plain
``workflow.wait_condition`` in runs from before the patch (the flow limiter keeps
its own window timer, ``flow/_limiter.py``, which this generalises).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

__all__ = ["Alarm"]

# A due time already reached by the clock but whose timer has not fired yet.
_MIN_DELAY = timedelta(milliseconds=1)


class Alarm:
    """Durable timers for one workflow's waits, none ever cancelled."""

    def __init__(self, patch: str | None = None) -> None:
        self._patch = patch
        self._patched: bool | None = None if patch else True  # decided at the first timeout
        self._pending: list[datetime] = []  # due times of the timers not fired yet
        self._rings = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def patched(self) -> bool:
        """Whether this run uses the alarm (its patch; always, for an alarm without one)."""
        if self._patched is None:
            assert self._patch is not None
            self._patched = workflow.patched(self._patch)
        return self._patched

    def arm(self, due: datetime, summary: str | None = None) -> None:
        """Make sure a timer fires at ``due`` or before (one pending by then will do)."""
        if any(pending <= due for pending in self._pending):
            return
        delay = max(due - workflow.now(), _MIN_DELAY)
        self._pending.append(due)

        async def ring() -> None:
            await workflow.sleep(delay, summary=summary)
            self._pending.remove(due)
            self._rings += 1

        task = asyncio.create_task(ring())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, condition: Callable[[], bool],
                   due: datetime | Callable[[], datetime | None] | None,
                   summary: str | None = None) -> bool:
        """Wait until ``condition()`` holds (``True``) or the due time has come (``False``).

        Args:
            condition: Checked first, like ``workflow.wait_condition``'s function.
            due: When to stop waiting; a function when the due time moves while waiting
                (re-read at every wake), ``None`` for no due time.
            summary: The timer's summary (shown in the UI).
        """
        due_of = due if callable(due) else (lambda: due)
        while True:
            if condition():
                return True
            when = due_of()
            if when is not None:
                if workflow.now() >= when:
                    return False
                self.arm(when, summary)
            rings = self._rings
            await workflow.wait_condition(
                lambda: condition() or self._rings != rings or due_of() != when,  # noqa: B023
            )

    async def wait_condition(
            self, fn: Callable[[], bool], *,
            timeout: timedelta | None = None,  # noqa: ASYNC109 - as workflow.wait_condition
            timeout_summary: str | None = None) -> None:
        """``workflow.wait_condition`` whose timer a wake never cancels.

        ``workflow.wait_condition`` itself without a timeout, and in runs from before the
        alarm's patch (decided at the first call with a timeout).

        Raises:
            TimeoutError: ``timeout`` passed before ``fn()`` held.
        """
        if timeout is None or not self.patched():
            await workflow.wait_condition(fn, timeout=timeout, timeout_summary=timeout_summary)
            return
        due = workflow.now() + timeout
        if not await self.wait(fn, due, timeout_summary):
            raise TimeoutError
