"""The Scheduler of seed 004, backed by Temporal Schedules.

Each task is a Temporal Schedule, id ``scheduler:<scheduler>:<task>``, whose action
starts ``durable_automation.scheduled_task`` (one run of the registered task through
``durable_automation.run_task``). Compared with seed 004:

* durable: schedules live in Temporal, so tasks keep their phase across process,
  worker and server restarts, and show in the UI's Schedules page;
* precise: Temporal fires on time (no 1-second polling loop);
* one run at a time per task: overlap policy SKIP;
* ``update_task_interval`` keeps the phase as the seed describes: the next run is
  ``last_run + new interval`` (or ``now + new interval`` if it never ran).

Lifecycle, as in the seed: tasks run only while their scheduler is started. A task's
schedule is *paused unless the scheduler is running and the task is enabled*; two
switches, because they answer to different calls (``start``/``stop`` for the whole
scheduler, ``enable_task``/``disable_task`` for one task) and a task disabled while
the scheduler was stopped must stay disabled when it starts. The task's own switch is
kept in the schedule's action memo (``enabled``) so :meth:`Scheduler.load` restores
it; the pause note says which switch holds the schedule. Pausing keeps the phase: a
resumed interval task runs on its old grid.

Only explicit calls change the lifecycle: ``stop()`` pauses, ``start()`` resumes, a
cancelled ``start()`` (Ctrl-C under ``asyncio.run``) pauses as ``stop()`` does. A process
that dies or a worker that drains pauses nothing: a durable scheduler outlives them. The "running"
switch is this object's (``is_running()``: ``start()`` is in progress); ``add_task``
on a scheduler that is not started creates the task paused. An interval task due while
it could not run runs once when it can (as seed 004's loop runs an overdue task).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from ..exceptions import InvalidScheduleError
from ..timers._cron import CronExpr, parse_cron
from ..timers._deferred import DEFERRED, CallQueue
from ..timers._local_worker import atask_queue_for
from ..timers._tasks import TaskCall, TaskDefinition, resolve_task
from ..timers._wire import SCHEDULED_TASK_WORKFLOW
from ._running import SchedulerRunning
from ._spec import cron_calendars, interval_spec, number, positive_seconds
from ._status import ScheduledTask, TaskFacts, last_run

__all__ = ["ScheduledTask", "Scheduler", "cron_calendars"]

# Temporal's smallest catch-up window: after an outage no burst, just the last 10 s.
_CATCHUP = timedelta(seconds=10)
logger = logging.getLogger(__name__)
T = TypeVar("T")


class Scheduler(SchedulerRunning):
    """Seed 004's Scheduler on Temporal Schedules (see the module docstring).

    Every method that changes tasks is sync with an ``a``-prefixed async twin. The
    sync ones also work when called inside a running event loop (as seed 004's tests
    do): they update :attr:`tasks` at once, return without blocking the loop, and
    take effect on the server in call order; a failure is raised by the next call on
    this scheduler, by :meth:`stop`, or by the ``start()`` being awaited.

    Args:
        name: Namespaces the schedule ids (``scheduler:<name>:<task>``), so several
            schedulers (or apps) can share a Temporal namespace.

    Attributes:
        tasks: The tasks added here or found by :meth:`load`, by name.
        running: Whether :meth:`start` is in progress (seed 004's attribute).
    """

    def __init__(self, name: str = "default") -> None:
        self.name = name
        self.tasks: dict[str, ScheduledTask] = {}
        self.running = False
        self.logger = logger
        self._calls = CallQueue(f"Scheduler {name!r}")
        self._stop_event: asyncio.Event | None = None
        self._stop_loop: asyncio.AbstractEventLoop | None = None
        self._stops = 0  # stop() calls so far: a start() made before one of them is void
        self._added_at: dict[str, datetime] = {}  # per task: add_task's time, the grid's anchor
        self._changes: dict[str, int] = {}  # per task: calls that updated its entry

    def schedule_id(self, task_name: str) -> str:
        """The Temporal Schedule id of ``task_name``."""
        return f"scheduler:{self.name}:{task_name}"

    def _handle(self, task_name: str) -> ScheduleHandle:
        return engine._ensure().client.get_schedule_handle(self.schedule_id(task_name))

    # ── calls in order ───────────────────────────────────────────────────────────

    def _call(self, sync_name: str, op: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Make the call ``op`` (run on the engine loop) from sync code, in call order:
        blocking outside an event loop, queued (returning at once) inside one."""
        # Through the bridge, which turns temporalio's errors into the SDK's.
        if self._calls.call(lambda: engine._on_loop(op), name=sync_name) is not DEFERRED:
            self._calls.raise_pending()  # a call deferred before this one failed meanwhile

    async def _acall(self, name: str, op: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Await the call ``op`` (run on the engine loop) after every earlier call."""
        result = await self._calls.acall(lambda: engine._on_loop(op), name=name)
        self._calls.raise_pending()  # a call deferred before this one failed meanwhile
        return result

    async def _settled(self) -> None:
        """Wait until calls made earlier (sync calls inside a loop) have taken effect;
        raise the error of one that failed."""
        if self._calls.pending:
            await self._calls.aflush()
        self._calls.raise_pending()

    # ── task management ──────────────────────────────────────────────────────────

    def _validate(
        self, func: str | Callable[..., Any] | TaskDefinition, interval_seconds: float | None,
        cron: str | None, name: str,
    ) -> tuple[TaskDefinition, timedelta | None, CronExpr | None]:
        if (interval_seconds is None) == (cron is None):
            raise InvalidScheduleError(f"Task {name!r}: give interval_seconds or cron (one)")
        every = positive_seconds(interval_seconds, "interval_seconds") if cron is None else None
        parsed = parse_cron(cron) if cron is not None else None
        # Last: it registers a plain callable, which a rejected call should not do.
        return resolve_task(func), every, parsed

    def _prepare_add(
        self, name: str, func: str | Callable[..., Any] | TaskDefinition,
        interval_seconds: float | None, enabled: bool, cron: str | None,
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """Validate, show the task in :attr:`tasks` now, and return the server call."""
        definition, every, parsed = self._validate(func, interval_seconds, cron, name)
        previous = self.tasks.get(name)
        entry = ScheduledTask(
            name, definition.fn, number(every.total_seconds()) if every else None,
            last_run=previous.last_run if previous else None, enabled=enabled,
            cron=parsed.expression if parsed else None, task=definition.name,
        )
        self.tasks[name] = entry
        self._added_at[name] = datetime.now(UTC)

        async def add() -> None:
            try:
                facts = await self._add(name, definition, every, parsed, entry.enabled)
            except BaseException:
                if self.tasks.get(name) is entry:  # it never became a task
                    del self.tasks[name]
                raise
            if facts is not None and self.tasks.get(name) is entry:
                self._remember(name, facts)

        return add

    async def aadd_task(
        self,
        name: str,
        func: str | Callable[..., Any] | TaskDefinition,
        interval_seconds: float | None = None,
        enabled: bool = True,
        *,
        cron: str | None = None,
    ) -> None:
        """Add a task (or update the existing one of that name, keeping its phase).

        Args:
            name: Task name within this scheduler.
            func: A registered task, its name, or a callable (registered on the spot;
                lambdas, closures and bound methods run in this process's own worker).
            interval_seconds: Run every so many seconds; the first run is due at most
                one interval from now (seed 004).
            enabled: ``False`` adds it disabled.
            cron: Instead of an interval: a cron expression in UTC (5 fields, or 6
                with leading seconds). Local-time crons belong to ``TimerManager``.

        The task runs only while the scheduler is started (see :meth:`start`).

        Raises:
            InvalidScheduleError: Neither or both of interval and cron, or a bad value.
            UnknownTaskError: ``func`` names no registered task.
            ConfigurationError: ``func`` can run only in this process, and the
                in-process worker may not start here (``TIMERS_IN_PROCESS``).
        """
        op = self._prepare_add(name, func, interval_seconds, enabled, cron)
        await self._acall("Scheduler.add_task", op)

    def add_task(
        self,
        name: str,
        func: str | Callable[..., Any] | TaskDefinition,
        interval_seconds: float | None = None,
        enabled: bool = True,
        *,
        cron: str | None = None,
    ) -> None:
        """Sync twin of :meth:`aadd_task` (inside a running loop: queued, in order)."""
        self._call("Scheduler.add_task",
                   self._prepare_add(name, func, interval_seconds, enabled, cron))

    def _action(self, name: str, definition: TaskDefinition, every: timedelta | None,
                cron: CronExpr | None, enabled: bool, task_queue: str,
                ) -> ScheduleActionStartWorkflow:
        if every is not None:
            how = f"every {number(every.total_seconds())}s"
        else:
            assert cron is not None
            how = f"cron {cron.expression}"
        return ScheduleActionStartWorkflow(
            SCHEDULED_TASK_WORKFLOW,
            TaskCall(task=definition.name, origin="schedule", key=name),
            id=self.schedule_id(name), task_queue=task_queue,
            static_summary=f"{definition.name} ({how})",
            # The user's expression, verbatim (descriptions return only the compiled
            # calendars), and the task's own switch (see the module docstring).
            memo={"cron": cron.expression if cron else None,
                  "interval_seconds": every.total_seconds() if every else None,
                  "enabled": enabled},
        )

    async def _add(self, name: str, definition: TaskDefinition, every: timedelta | None,
                   cron: CronExpr | None, enabled: bool) -> TaskFacts | None:
        client = engine._ensure().client
        task_queue = await atask_queue_for(definition)
        now = self._added_at.get(name) or await engine.anow()  # the anchor: see __init__
        if every is not None:
            spec = interval_spec(every, now)
        else:
            assert cron is not None
            spec = ScheduleSpec(calendars=cron_calendars(cron))
        paused, note = self._pause_state(enabled)
        action = self._action(name, definition, every, cron, enabled, task_queue)
        schedule = Schedule(
            action=action, spec=spec,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=_CATCHUP),
            state=ScheduleState(paused=paused, note=note),
        )
        try:
            await client.create_schedule(
                self.schedule_id(name), schedule,
                memo={"scheduler": self.name, "task": name, "function": definition.name,
                      "cron": cron.expression if cron else None},
            )
            if not paused and every is not None:
                # A due time may have passed between add_task and now (the call waited
                # in the queue, or this process's worker was starting).
                await self._catch_up(name)
            return await self._describe(name)
        except ScheduleAlreadyRunningError:
            pass
        # Already there (a restarted process re-adding its tasks): update in place,
        # keeping the phase when the interval is unchanged.
        handle = self._handle(name)
        description = await handle.describe()
        current = description.schedule.spec.intervals
        if every is not None and current and current[0].every == every:
            spec = description.schedule.spec
        elif every is not None:
            spec = interval_spec(every, last_run(description) or now)

        def change(schedule: Schedule) -> None:
            schedule.spec = spec
            schedule.action = action

        await self._update(handle, change, enabled)
        return await self._describe(name)

    async def _delete(self, name: str) -> None:
        try:
            await self._handle(name).delete()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise

    async def aremove_task(self, name: str) -> None:
        """Delete the task's schedule (a run in progress finishes)."""
        self.tasks.pop(name, None)
        await self._acall("Scheduler.remove_task", lambda: self._delete(name))

    def remove_task(self, name: str) -> None:
        """Sync twin of :meth:`aremove_task` (inside a running loop: queued, in order)."""
        self.tasks.pop(name, None)
        self._call("Scheduler.remove_task", lambda: self._delete(name))

    def _prepare_switch(self, name: str, enabled: bool) -> Callable[[], Coroutine[Any, Any, None]]:
        if name in self.tasks:
            self.tasks[name].enabled = enabled

        async def switch() -> None:
            facts = await self._switch(name, enabled)
            if facts is not None and name in self.tasks:
                self._remember(name, facts)

        return switch

    async def _switch(self, name: str, enabled: bool) -> TaskFacts | None:
        """Set the task's own switch (memo) and pause/resume to match; on the engine loop."""

        def change(schedule: Schedule) -> None:
            action = schedule.action
            if isinstance(action, ScheduleActionStartWorkflow):
                action.memo = {**(action.memo or {}), "enabled": enabled}

        try:
            await self._update(self._handle(name), change, enabled)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                # The seed ignores unknown names; say so in the log.
                logger.warning("Scheduler %r has no task %r to %s", self.name, name,
                               "enable" if enabled else "disable")
                return None
            raise
        return await self._describe(name)

    async def aenable_task(self, name: str) -> None:
        """Enable the task: it runs while the scheduler is started (phase unchanged)."""
        await self._acall("Scheduler.enable_task", self._prepare_switch(name, True))

    def enable_task(self, name: str) -> None:
        """Sync twin of :meth:`aenable_task` (inside a running loop: queued, in order)."""
        self._call("Scheduler.enable_task", self._prepare_switch(name, True))

    async def adisable_task(self, name: str) -> None:
        """Disable the task: its schedule pauses (nothing runs until it is enabled)."""
        await self._acall("Scheduler.disable_task", self._prepare_switch(name, False))

    def disable_task(self, name: str) -> None:
        """Sync twin of :meth:`adisable_task` (inside a running loop: queued, in order)."""
        self._call("Scheduler.disable_task", self._prepare_switch(name, False))

    def _prepare_interval(self, name: str, interval_seconds: float,
                          ) -> Callable[[], Coroutine[Any, Any, None]]:
        every = positive_seconds(interval_seconds, "interval_seconds")
        if name in self.tasks:
            self.tasks[name].interval_seconds = number(every.total_seconds())
            self.tasks[name].cron = None

        async def change() -> None:
            facts = await self._update_interval(name, every)
            if facts is not None and name in self.tasks:
                self._remember(name, facts)

        return change

    async def _update_interval(self, name: str, every: timedelta) -> TaskFacts | None:
        handle = self._handle(name)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                logger.warning("Scheduler %r has no task %r to update", self.name, name)
                return None
            raise
        anchor = last_run(description) or await engine.anow()
        spec = interval_spec(every, anchor)

        def change(schedule: Schedule) -> None:
            schedule.spec = spec
            if isinstance(schedule.action, ScheduleActionStartWorkflow):
                schedule.action.memo = {**(schedule.action.memo or {}), "cron": None,
                                        "interval_seconds": every.total_seconds()}

        await self._update(handle, change)
        return await self._describe(name)

    async def aupdate_task_interval(self, name: str, interval_seconds: float) -> None:
        """Change the interval; the next run is ``last_run + interval`` (or ``now + interval``)."""
        await self._acall("Scheduler.update_task_interval",
                          self._prepare_interval(name, interval_seconds))

    def update_task_interval(self, name: str, interval_seconds: float) -> None:
        """Sync twin of :meth:`aupdate_task_interval` (inside a running loop: queued)."""
        self._call("Scheduler.update_task_interval",
                   self._prepare_interval(name, interval_seconds))
