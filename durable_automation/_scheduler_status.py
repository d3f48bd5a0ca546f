"""Status of a Scheduler's tasks, read from their Temporal Schedules (seed 004's dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio.client import ScheduleActionStartWorkflow, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from ._engine import engine

if TYPE_CHECKING:
    from ._scheduler import ScheduledTask

__all__ = ["SchedulerStatus", "last_run", "status_dict"]


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


def status_dict(name: str, description: ScheduleDescription, now: datetime) -> dict[str, Any]:
    """Seed 004's status dict, exactly its keys, from a schedule description."""
    enabled = not description.schedule.state.paused
    recent = description.info.recent_actions
    last = recent[-1].started_at if recent else None
    upcoming = description.info.next_action_times
    next_run = upcoming[0] if enabled and upcoming else None
    return {
        "name": name,
        "enabled": enabled,
        "interval_seconds": _interval_seconds(description),
        "last_run": last.isoformat() if last else None,
        "next_run": next_run.isoformat() if next_run else None,
        "seconds_until_next": (next_run - now).total_seconds() if next_run else None,
    }


class SchedulerStatus:
    """The status half of :class:`~durable_automation.scheduler.Scheduler`."""

    name: str
    tasks: dict[str, ScheduledTask]

    def schedule_id(self, task_name: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    async def aget_task_status(self, name: str) -> dict[str, Any] | None:
        """Seed 004's status dict for ``name`` (``None``: no such task).

        ``next_run`` is the schedule's own next action time; times are ISO 8601 UTC.
        """
        return await engine._on_loop(self._status, name)

    def get_task_status(self, name: str) -> dict[str, Any] | None:
        """Sync twin of :meth:`aget_task_status`."""
        return engine._sync(self.aget_task_status, name, name="Scheduler.get_task_status")

    async def _status(self, name: str) -> dict[str, Any] | None:
        handle = engine._ensure().client.get_schedule_handle(self.schedule_id(name))
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return status_dict(name, description, await engine.anow())

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
        return engine._sync(self.aget_all_tasks_status, name="Scheduler.get_all_tasks_status")

    async def aload(self) -> list[str]:
        """Pick up this scheduler's tasks from Temporal (after a restart); return their names.

        Uses the server's schedule listing (visibility), which may lag a fresh change
        by a moment.
        """
        from ._scheduler import ScheduledTask

        prefix = self.schedule_id("")

        async def scan() -> list[str]:
            found = []
            async for entry in await engine._ensure().client.list_schedules():
                if not entry.id.startswith(prefix):
                    continue
                name = entry.id.removeprefix(prefix)
                description = await engine._ensure().client.get_schedule_handle(
                    entry.id).describe()
                action = description.schedule.action
                memo: dict[str, Any] = {}
                if isinstance(action, ScheduleActionStartWorkflow) and action.memo:
                    memo = {k: _decode(v) for k, v in action.memo.items()}
                call = action.args[0] if isinstance(action, ScheduleActionStartWorkflow) and \
                    action.args else None
                self.tasks[name] = ScheduledTask(
                    name, _decode(call).get("task", "") if call is not None else "",
                    _interval_seconds(description), not description.schedule.state.paused,
                    memo.get("cron"),
                )
                found.append(name)
            return found

        return await engine._on_loop(scan)

    def load(self) -> list[str]:
        """Sync twin of :meth:`aload`."""
        return engine._sync(self.aload, name="Scheduler.load")


def _decode(value: Any) -> Any:
    """Schedule descriptions hand back raw payloads; decode JSON ones."""
    data = getattr(value, "data", None)
    if isinstance(data, bytes):
        import json

        try:
            return json.loads(data)
        except ValueError:
            return {}
    return value
