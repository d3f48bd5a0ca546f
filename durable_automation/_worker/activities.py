"""The router activity: the one dynamic activity that runs user code for every program kind.

Registered as Temporal's dynamic activity, so each step shows in the UI under its
own activity type, ``<automation>.<step>``. Sync user code runs on a thread pool
(Django's ORM is sync) while this coroutine heartbeats, so a worker that dies
mid-step is noticed within the heartbeat timeout and the step is retried.

Which code runs depends on the automation's kind (the activity type's prefix): the
step activity (``workflows/_step_activity.py``), the handler activity
(``events/_handler_activity.py``) or the agent handler activity
(``agents/_activity.py``), each registered through ``_core.hooks``.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from .._core.hooks import activity_program, call_wrapped, wrapped
from .._core.registry import registry
from .._core.wire import StepOutcome

__all__ = ["StepRunner"]


class StepRunner:
    """Holds the thread pool user code runs on; ``activity`` is what the worker registers."""

    def __init__(self, max_threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="da-step")

        @activity.defn(dynamic=True)
        async def run_user_code(args: Sequence[RawValue]) -> StepOutcome:
            return await self._run(args)

        self.activity = run_user_code

    def shutdown(self) -> None:
        """Stop the thread pool once the worker has drained."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, args: Sequence[RawValue]) -> Any:
        activity_type = activity.info().activity_type
        kind = registry.kind_of(activity_type.rpartition(".")[0])
        program = activity_program(kind) if kind is not None else None
        if program is None:
            raise ApplicationError(
                f"{activity_type} is not registered on this worker",
                type="UnknownAutomation", non_retryable=True,
            )
        return await program(self, args)

    async def call(
        self, fn: Callable[..., Any], *args: Any, checkpoint: Callable[[], Any] | None = None
    ) -> Any:
        """Run user code, heartbeating while it runs; sync code goes to the pool.

        ``checkpoint`` returns what to record as heartbeat details: the step's Context,
        so that the next attempt after a failure starts from the changes this one made.
        """
        heartbeat = asyncio.create_task(_heartbeat_forever(checkpoint))
        try:
            if inspect.iscoroutinefunction(fn):
                with wrapped():
                    return await fn(*args)
            ctx = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, ctx.run, call_wrapped, fn, args)
        except Exception:
            # A local activity cannot heartbeat: its caller hands the Context on instead.
            if checkpoint is not None and not activity.info().is_local:
                activity.heartbeat(checkpoint())
            raise
        finally:
            heartbeat.cancel()

    async def guarded(
        self,
        retryable: bool,
        where: str,
        fn: Callable[..., Any],
        *args: Any,
        checkpoint: Callable[[], Any] | None = None,
    ) -> Any:
        """Call user code; without a Retry its exception fails the run at once."""
        try:
            return await self.call(fn, *args, checkpoint=checkpoint)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if retryable:
                raise
            raise ApplicationError(
                f"{type(exc).__name__}: {exc}", type=type(exc).__name__, non_retryable=True
            ) from exc


async def _heartbeat_forever(checkpoint: Callable[[], Any] | None) -> None:
    info = activity.info()
    if info.is_local:
        return  # local activities cannot heartbeat (the workflow task covers them)
    interval = (info.heartbeat_timeout.total_seconds() / 3) if info.heartbeat_timeout else 10.0
    # Re-send the attempt's starting details: an empty heartbeat would erase them.
    details = info.heartbeat_details
    while True:
        # The first beat waits one interval: temporalio sends an attempt's first
        # heartbeat to the server at once, and a step shorter than the interval (most
        # are) would pay a server call for nothing. The server's heartbeat timeout runs
        # from the attempt's start, so a dead worker is noticed just as soon.
        await asyncio.sleep(max(interval, 0.2))
        activity.heartbeat(*details)
