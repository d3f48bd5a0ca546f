"""Seed 004's ``ScheduledTask`` and status dicts, read from a task's Temporal Schedule.

What a task *is* (its registered function, interval or cron, and whether it is
enabled) is kept in the schedule's action (its argument and memo), so :meth:`load`
rebuilds the same ``ScheduledTask`` in another process. Both are payloads, decoded
through the client's data converter, so they read back when ``ENCRYPTION_KEYS``
encrypts them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from ..timers._tasks import TaskCall, _tasks

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")

__all__ = ["ScheduledTask", "SchedulerStatus", "TaskFacts", "last_run", "read_facts"]


@dataclass
class ScheduledTask:
    """One task of a :class:`~durable_automation.scheduler.Scheduler` (seed 004's fields).

    Attributes:
        name: The task's name within its scheduler.
        func: The function it runs; ``None`` after :meth:`Scheduler.load` when this
            process has not registered (imported) the task's function.
        interval_seconds: Seconds between runs (``None`` for a cron task).
        last_run: When the latest run started (UTC), as far as this process has seen.
        next_run: When the next run is due (UTC); ``None`` while it will not run (the
            task is disabled or its scheduler is not started).
        enabled: The task's own switch (``enable_task``/``disable_task``); it runs when
            enabled *and* its scheduler is started.
        cron: The UTC cron expression of a cron task.
        task: The registered task name the schedule stores.

    ``last_run``/``next_run`` are refreshed from the schedule by every call that
    touches the task, by ``get_task_status``/``get_all_tasks_status``/``load``, by
    ``run_task``, and, while ``start()`` runs, shortly after each due time.
    """

    name: str
    func: Callable[..., Any] | None
    interval_seconds: float | int | None
    last_run: datetime | None = None
    next_run: datetime | None = None
    enabled: bool = True
    cron: str | None = None
    task: str = ""


@dataclass(frozen=True)
class TaskFacts:
    """A task as its schedule describes it."""

    task: str
    interval_seconds: float | int | None
    cron: str | None
    enabled: bool
    paused: bool
    last_run: datetime | None
    next_run: datetime | None


def last_run(description: ScheduleDescription) -> datetime | None:
    """When the schedule's latest action was due (``None``: it never ran)."""
    recent = description.info.recent_actions
    return recent[-1].scheduled_at if recent else None


def _interval_seconds(description: ScheduleDescription) -> float | int | None:
    intervals = description.schedule.spec.intervals
    if not intervals:
        return None
    seconds = intervals[0].every.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


async def _decode(client: Client, value: Any, type_hint: type | None = None) -> Any:
    """A schedule description's raw payload, decoded as the client encoded it."""
    if not isinstance(value, Payload):
        return value
    [decoded] = await client.data_converter.decode([value], [type_hint] if type_hint else None)
    return decoded


async def read_facts(client: Client, description: ScheduleDescription) -> TaskFacts:
    """What ``description`` says about its task (payloads through the data converter)."""
    action = description.schedule.action
    memo: Mapping[str, Any] = {}
    task_name = ""
    if isinstance(action, ScheduleActionStartWorkflow):
        memo = {key: await _decode(client, value) for key, value in (action.memo or {}).items()}
        if action.args:
            call = await _decode(client, action.args[0], TaskCall)
            task_name = call.task if isinstance(call, TaskCall) else str(call.get("task", ""))
    paused = description.schedule.state.paused
    # Schedules made before the "enabled" memo existed: paused meant disabled.
    enabled = bool(memo.get("enabled", not paused))
    recent = description.info.recent_actions
    upcoming = description.info.next_action_times
    return TaskFacts(
        task=task_name, interval_seconds=_interval_seconds(description),
        cron=memo.get("cron"), enabled=enabled, paused=paused,
        last_run=recent[-1].started_at if recent else None,
        next_run=upcoming[0] if not paused and upcoming else None,
    )


def status_dict(name: str, facts: TaskFacts, now: datetime) -> dict[str, Any]:
    """Seed 004's status dict, exactly its keys."""
    next_run = facts.next_run
    return {
        "name": name,
        "enabled": facts.enabled,
        "interval_seconds": facts.interval_seconds,
        "last_run": facts.last_run.isoformat() if facts.last_run else None,
        "next_run": next_run.isoformat() if next_run else None,
        "seconds_until_next": (next_run - now).total_seconds() if next_run else None,
    }


class SchedulerStatus:
    """The status half of :class:`~durable_automation.scheduler.Scheduler`."""

    name: str
    tasks: dict[str, ScheduledTask]

    def schedule_id(self, task_name: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _acall(self, name: str, op: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``op`` on the engine loop after every earlier call (overridden)."""
        raise NotImplementedError  # pragma: no cover

    running: bool

    async def _apply_all(self, names: list[str] | None = None) -> None:  # pragma: no cover
        """Pause or resume tasks as the switches say (overridden)."""
        raise NotImplementedError

    _changes: dict[str, int]

    def _remember(self, name: str, facts: TaskFacts, *,
                  background: bool = False) -> ScheduledTask:
        """Bring ``self.tasks[name]`` up to date with ``facts`` (creating it if needed).

        Args:
            background: The facts come from a background read, not from a call: it
                leaves the calls' count alone (see :meth:`_refresh`).
        """
        if not background:
            self._changes[name] = self._changes.get(name, 0) + 1
        entry = self.tasks.get(name)
        if entry is None:
            definition = _tasks.get(facts.task)
            entry = ScheduledTask(name, definition.fn if definition else None,
                                  facts.interval_seconds, task=facts.task)
            self.tasks[name] = entry
        entry.interval_seconds = facts.interval_seconds
        entry.cron = facts.cron
        entry.enabled = facts.enabled
        entry.task = facts.task or entry.task
        # run_task runs outside the schedule, so its start may be newer than the schedule's.
        newer = entry.last_run is None or (
            facts.last_run is not None and facts.last_run > entry.last_run)
        if facts.last_run is not None and newer:
            entry.last_run = facts.last_run
        entry.next_run = facts.next_run
        return entry

    async def _describe(self, name: str) -> TaskFacts | None:
        """The task's facts from the server (``None``: no such schedule); on the engine loop."""
        client = engine._ensure().client
        try:
            description = await client.get_schedule_handle(self.schedule_id(name)).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return await read_facts(client, description)

    async def _refresh(self, name: str, *, forget: bool = True,
                       background: bool = False) -> TaskFacts | None:
        """Describe ``name`` and update its entry; on the engine loop.

        Args:
            forget: Drop the entry if the schedule is gone. Only calls that run in call
                order may: a background read could run before the call creating it.
            background: A read of :meth:`start`'s loop, not a call: its facts are
                dropped if a call updated the task while it was on its way.
        """
        calls = self._changes.get(name, 0)
        facts = await self._describe(name)
        if facts is None:
            if forget:
                self.tasks.pop(name, None)
        elif name in self.tasks:
            if not background:
                self._remember(name, facts)
            elif self._changes.get(name, 0) == calls:
                self._remember(name, facts, background=True)
            # else: a call (disable, a new interval) changed the task while this
            # background read was on its way: its facts are older than the call's.
        return facts

    async def aget_task_status(self, name: str) -> dict[str, Any] | None:
        """Seed 004's status dict for ``name`` (``None``: no such task).

        ``next_run`` is the schedule's own next action time (``None`` while the task
        will not run); times are ISO 8601 UTC. Also refreshes ``tasks[name]``.
        """
        facts = await self._acall("Scheduler.get_task_status", lambda: self._refresh(name))
        if facts is None:
            return None
        return status_dict(name, facts, await engine.anow())

    def get_task_status(self, name: str) -> dict[str, Any] | None:
        """Sync twin of :meth:`aget_task_status`."""
        return engine._blocking(self.aget_task_status, name, name="Scheduler.get_task_status")

    async def aget_all_tasks_status(self) -> dict[str, dict[str, Any]]:
        """Status of every task this scheduler knows (added here, or found by :meth:`load`)."""
        statuses = {}
        for name in list(self.tasks):
            status = await self.aget_task_status(name)
            if status is not None:
                statuses[name] = status
        return statuses

    def get_all_tasks_status(self) -> dict[str, dict[str, Any]]:
        """Sync twin of :meth:`aget_all_tasks_status`."""
        return engine._blocking(self.aget_all_tasks_status, name="Scheduler.get_all_tasks_status")

    async def aload(self) -> list[str]:
        """Pick up this scheduler's tasks from Temporal (after a restart); return their names.

        Uses the server's schedule listing (visibility), which may lag a fresh change
        by a moment. On a scheduler that is not started, loading changes nothing on the
        server; on a started one, the loaded tasks that are enabled run (as every task
        of a started scheduler does).
        """
        prefix = self.schedule_id("")

        async def scan() -> dict[str, TaskFacts]:
            client = engine._ensure().client
            found: dict[str, TaskFacts] = {}
            async for entry in await client.list_schedules():
                if not entry.id.startswith(prefix):
                    continue
                try:
                    description = await client.get_schedule_handle(entry.id).describe()
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        continue  # deleted since it was listed
                    raise
                found[entry.id.removeprefix(prefix)] = await read_facts(client, description)
            return found

        found = await self._acall("Scheduler.load", scan)
        for name, facts in found.items():
            self._remember(name, facts)
        if found and self.running:
            await self._acall("Scheduler.load", lambda: self._apply_all(list(found)))
        return list(found)

    def load(self) -> list[str]:
        """Sync twin of :meth:`aload`."""
        return engine._blocking(self.aload, name="Scheduler.load")
