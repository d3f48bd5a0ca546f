"""Timers: durable delays, debounces, repeating timers and event-emitting timers.

::

    from datetime import timedelta
    from durable_automation.timers import Timer, SchedulePolicy, schedule_task, debounce_task, task

    @task
    def send_digest(user_id: int) -> None: ...

    handle = schedule_task(send_digest, args=[42], delay=timedelta(hours=1))
    handle.cancel()

    @task
    def reindex(listing_ids: list[int]) -> None: ...

    debounce_task(reindex, debounce_key="listing:7", debounce_window=timedelta(seconds=30),
                  collect=7)

    Timer(timedelta(minutes=5), poll_inbox, schedule_policy=SchedulePolicy.FIXED).start()

Everything here is a Temporal workflow with a readable id (``delayed:<task>:<id>``,
``debounce:<task>:<key>``, ``timer:<name>``) sleeping on Temporal timers, so it
survives worker and server restarts and shows in the Temporal UI. Task code runs in
the worker (activity ``durable_automation.run_task``), looked up by its registered
name. See ``docs/timers.md``.
"""

from __future__ import annotations

from . import _install  # noqa: F401 - plugs timers into the core
from ._client import (
    DebounceHandle,
    TaskHandle,
    adebounce_task,
    aschedule_task,
    debounce_task,
    schedule_task,
)
from ._manager import CronConfig, IntervalConfig, OneShotConfig, TimerConfig, TimerManager
from ._tasks import TaskDefinition, TaskInfo, resolve_task, task, task_info, unregister_task
from ._timer import SchedulePolicy, Timer
from ._wire import DebounceStatus, TimerStatus

__all__ = [
    "CronConfig",
    "DebounceHandle",
    "DebounceStatus",
    "IntervalConfig",
    "OneShotConfig",
    "SchedulePolicy",
    "TaskDefinition",
    "TaskHandle",
    "TaskInfo",
    "Timer",
    "TimerConfig",
    "TimerManager",
    "TimerStatus",
    "adebounce_task",
    "aschedule_task",
    "debounce_task",
    "resolve_task",
    "schedule_task",
    "task",
    "task_info",
    "unregister_task",
]
