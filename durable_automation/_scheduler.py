"""The Scheduler of seed 004, backed by Temporal Schedules.

Each task is a Temporal Schedule, id ``scheduler:<scheduler>:<task>``, whose action
starts ``durable_automation.scheduled_task`` (one run of the registered task through
``durable_automation.run_task``). Compared with seed 004:

* durable: schedules live in Temporal, so tasks keep running (and keep their phase)
  across process, worker and server restarts, and show in the UI's Schedules page;
* precise: Temporal fires on time (no 1-second polling loop);
* one run at a time per task: overlap policy SKIP;
* disable = pause (the phase is kept), enable = unpause;
* ``update_task_interval`` keeps the phase as the seed describes: the next run is
  ``last_run + new interval`` (or ``now + new interval`` if it never ran).

Status dicts have exactly seed 004's keys; ``next_run`` comes from the schedule's own
next action times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from ._cron import CronExpr, parse_cron
from ._engine import engine
from ._scheduler_status import SchedulerStatus, last_run
from ._tasks import TaskCall, TaskDefinition, resolve_task
from ._timer_wire import SCHEDULED_TASK_WORKFLOW
from .exceptions import InvalidScheduleError

__all__ = ["ScheduledTask", "Scheduler", "cron_calendars"]

# Temporal's smallest catch-up window: after an outage, at most the runs due in the last
# 10 s are made up (one at a time), so a long outage never causes a burst.
_CATCHUP = timedelta(seconds=10)
_FIELD_RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23),
                 "day of month": (1, 31), "month": (1, 12), "day of week": (0, 6)}


@dataclass
class ScheduledTask:
    """What this process knows of a task (seed 004's ``ScheduledTask``; live timing is in
    :meth:`Scheduler.get_task_status`)."""

    name: str
    func: str
    interval_seconds: float | None
    enabled: bool = True
    cron: str | None = None


def _ranges(values: list[int | str], field: str, expression: str) -> list[ScheduleRange]:
    low, high = _FIELD_RANGES[field]
    if values == ["*"]:
        return [ScheduleRange(low, high)]
    ranges = []
    for value in values:
        if not isinstance(value, int):
            raise InvalidScheduleError(
                f"Cron expression {expression!r}: {value!r} in the {field} field is not "
                "supported by the Scheduler; use a TimerManager cron timer instead"
            )
        ranges.append(ScheduleRange(0 if field == "day of week" and value == 7 else value))
    return ranges


def cron_calendars(cron: CronExpr) -> list[ScheduleCalendarSpec]:
    """Temporal calendar specs (UTC) matching ``cron`` exactly.

    Cron strings are never passed to Temporal, whose 6-field form means a trailing
    year. When both day fields are restricted, cron matches either (two calendars).
    """
    fields = cron.expanded()
    ranges = {name: _ranges(values, name, cron.expression) for name, values in fields.items()}

    def calendar(day_of_month: list[ScheduleRange], day_of_week: list[ScheduleRange]) -> Any:
        return ScheduleCalendarSpec(
            second=ranges["second"], minute=ranges["minute"], hour=ranges["hour"],
            day_of_month=day_of_month, month=ranges["month"], day_of_week=day_of_week,
            comment=cron.expression,
        )

    every_day, every_weekday = [ScheduleRange(1, 31)], [ScheduleRange(0, 6)]
    if fields["day of month"] != ["*"] and fields["day of week"] != ["*"]:
        return [calendar(ranges["day of month"], every_weekday),
                calendar(every_day, ranges["day of week"])]
    return [calendar(ranges["day of month"], ranges["day of week"])]


def _interval_spec(every: timedelta, anchor: datetime) -> ScheduleSpec:
    """Every ``every``, on the grid through ``anchor`` (Temporal counts from the epoch)."""
    step = every // timedelta(microseconds=1)
    offset = int(anchor.timestamp() * 1_000_000) // 1_000_000 * 1_000_000 % step
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every,
                                                        offset=timedelta(microseconds=offset))])


def _seconds(value: Any, what: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidScheduleError(f"{what} must be a positive number of seconds, got {value!r}")
    return timedelta(seconds=value)


def _number(seconds: float) -> float | int:
    return int(seconds) if float(seconds).is_integer() else seconds


class Scheduler(SchedulerStatus):
    """Seed 004's Scheduler on Temporal Schedules (see the module docstring).

    Args:
        name: Namespaces the schedule ids (``scheduler:<name>:<task>``), so several
            schedulers (or apps) can share a Temporal namespace.
    """

    def __init__(self, name: str = "default") -> None:
        self.name = name
        self.tasks: dict[str, ScheduledTask] = {}
        self.running = False
        self._stop_event: asyncio.Event | None = None
        self._stop_loop: asyncio.AbstractEventLoop | None = None

    def schedule_id(self, task_name: str) -> str:
        """The Temporal Schedule id of ``task_name``."""
        return f"scheduler:{self.name}:{task_name}"

    def _handle(self, task_name: str) -> ScheduleHandle:
        return engine._ensure().client.get_schedule_handle(self.schedule_id(task_name))

    # ── task management ──────────────────────────────────────────────────────────

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
            func: A registered task, its name, or a function (registered on the spot).
            interval_seconds: Run every so many seconds; the first run is one interval
                from now (seed 004).
            enabled: ``False`` creates it paused.
            cron: Instead of an interval: a cron expression in UTC (5 fields, or 6
                with leading seconds). Local-time crons belong to ``TimerManager``.

        Raises:
            InvalidScheduleError: Neither or both of interval and cron, or a bad value.
            UnknownTaskError: ``func`` names no registered task.
        """
        definition = resolve_task(func)
        if (interval_seconds is None) == (cron is None):
            raise InvalidScheduleError(f"Task {name!r}: give interval_seconds or cron (one)")
        every = _seconds(interval_seconds, "interval_seconds") if cron is None else None
        parsed = parse_cron(cron) if cron is not None else None
        await engine._on_loop(self._add, name, definition, every, parsed, enabled)
        self.tasks[name] = ScheduledTask(name, definition.name, _number(every.total_seconds())
                                         if every else None, enabled, cron)

    def add_task(
        self,
        name: str,
        func: str | Callable[..., Any] | TaskDefinition,
        interval_seconds: float | None = None,
        enabled: bool = True,
        *,
        cron: str | None = None,
    ) -> None:
        """Sync twin of :meth:`aadd_task`."""
        func = resolve_task(func)
        engine._sync(self.aadd_task, name, func, interval_seconds, enabled,
                     name="Scheduler.add_task", kwargs={"cron": cron})

    def _action(self, name: str, definition: TaskDefinition, every: timedelta | None,
                cron: CronExpr | None) -> ScheduleActionStartWorkflow:
        if every is not None:
            how = f"every {_number(every.total_seconds())}s"
        else:
            assert cron is not None
            how = f"cron {cron.expression}"
        return ScheduleActionStartWorkflow(
            SCHEDULED_TASK_WORKFLOW,
            TaskCall(task=definition.name, origin="schedule", key=name),
            id=self.schedule_id(name), task_queue=engine._ensure().task_queue,
            static_summary=f"{definition.name} ({how})",
            # The user's expression, verbatim: schedule descriptions return only the
            # compiled calendars.
            memo={"cron": cron.expression if cron else None,
                  "interval_seconds": every.total_seconds() if every else None},
        )

    async def _add(self, name: str, definition: TaskDefinition, every: timedelta | None,
                   cron: CronExpr | None, enabled: bool) -> None:
        client = engine._ensure().client
        now = await engine.anow()
        if every is not None:
            spec = _interval_spec(every, now)
        else:
            assert cron is not None
            spec = ScheduleSpec(calendars=cron_calendars(cron))
        schedule = Schedule(
            action=self._action(name, definition, every, cron), spec=spec,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=_CATCHUP),
            state=ScheduleState(paused=not enabled,
                                note=None if enabled else "disabled by Scheduler.add_task"),
        )
        try:
            await client.create_schedule(
                self.schedule_id(name), schedule,
                memo={"scheduler": self.name, "task": name, "function": definition.name,
                      "cron": cron.expression if cron else None},
            )
            return
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
            spec = _interval_spec(every, last_run(description) or now)
        action = self._action(name, definition, every, cron)

        def update(input: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = input.description.schedule
            schedule.spec = spec
            schedule.action = action
            return ScheduleUpdate(schedule=schedule)

        await handle.update(update)
        await (handle.unpause() if enabled else handle.pause(note="disabled by Scheduler.add_task"))

    async def aremove_task(self, name: str) -> None:
        """Delete the task's schedule (a run in progress finishes)."""
        self.tasks.pop(name, None)

        async def delete() -> None:
            try:
                await self._handle(name).delete()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise

        await engine._on_loop(delete)

    def remove_task(self, name: str) -> None:
        """Sync twin of :meth:`aremove_task`."""
        engine._sync(self.aremove_task, name, name="Scheduler.remove_task")

    async def aenable_task(self, name: str) -> None:
        """Resume the task (unpause its schedule; its phase is unchanged)."""
        await engine._on_loop(lambda: self._handle(name).unpause(note="enabled by Scheduler"))
        if name in self.tasks:
            self.tasks[name].enabled = True

    def enable_task(self, name: str) -> None:
        """Sync twin of :meth:`aenable_task`."""
        engine._sync(self.aenable_task, name, name="Scheduler.enable_task")

    async def adisable_task(self, name: str) -> None:
        """Pause the task's schedule (nothing runs until it is enabled)."""
        await engine._on_loop(lambda: self._handle(name).pause(note="disabled by Scheduler"))
        if name in self.tasks:
            self.tasks[name].enabled = False

    def disable_task(self, name: str) -> None:
        """Sync twin of :meth:`adisable_task`."""
        engine._sync(self.adisable_task, name, name="Scheduler.disable_task")

    async def aupdate_task_interval(self, name: str, interval_seconds: float) -> None:
        """Change the interval; the next run is ``last_run + interval`` (or ``now + interval``)."""
        every = _seconds(interval_seconds, "interval_seconds")

        async def update_interval() -> None:
            handle = self._handle(name)
            description = await handle.describe()
            anchor = last_run(description) or await engine.anow()
            spec = _interval_spec(every, anchor)
            memo = {"cron": None, "interval_seconds": every.total_seconds()}

            def update(input: ScheduleUpdateInput) -> ScheduleUpdate:
                schedule = input.description.schedule
                schedule.spec = spec
                if isinstance(schedule.action, ScheduleActionStartWorkflow):
                    schedule.action.memo = memo
                return ScheduleUpdate(schedule=schedule)

            await handle.update(update)

        await engine._on_loop(update_interval)
        if name in self.tasks:
            self.tasks[name].interval_seconds = _number(every.total_seconds())
            self.tasks[name].cron = None

    def update_task_interval(self, name: str, interval_seconds: float) -> None:
        """Sync twin of :meth:`aupdate_task_interval`."""
        engine._sync(self.aupdate_task_interval, name, interval_seconds,
                     name="Scheduler.update_task_interval")

    async def arun_task(self, name: str) -> None:
        """Run the task now, once (skipped if a run is in progress)."""
        await engine._on_loop(lambda: self._handle(name).trigger(
            overlap=ScheduleOverlapPolicy.SKIP))

    def run_task(self, name: str) -> None:
        """Sync twin of :meth:`arun_task`."""
        engine._sync(self.arun_task, name, name="Scheduler.run_task")

    # ── running ──────────────────────────────────────────────────────────────────

    async def start(self) -> None:
        """Wait until :meth:`stop` (seed 004's ``await scheduler.start()``).

        The schedules run in Temporal whether or not anything awaits this (a worker
        must be running); ``start`` only marks this scheduler running and keeps the
        caller's task alive, as the seed's main loop did.
        """
        if self.running:
            return
        self.running = True
        self._stop_event = asyncio.Event()
        self._stop_loop = asyncio.get_running_loop()
        try:
            await self._stop_event.wait()
        finally:
            self.running = False

    def stop(self) -> None:
        """End :meth:`start`. Schedules are durable and keep running: pause them with
        :meth:`disable_task` or delete them with :meth:`remove_task`."""
        self.running = False
        if self._stop_event is not None and self._stop_loop is not None:
            if not self._stop_loop.is_closed():
                self._stop_loop.call_soon_threadsafe(self._stop_event.set)

    def is_running(self) -> bool:
        """Whether :meth:`start` is in progress."""
        return self.running

