"""How timers plug into the core: their Temporal workflows and activities on every worker.

Imported by ``durable_automation.timers`` (which ``durable_automation.worker``
imports), so any worker can run timers, delayed and debounced tasks and scheduled
tasks, whether or not the process that created them imported
:mod:`durable_automation.timers`.
"""

from __future__ import annotations

from .._core.hooks import WorkerComponent, add_worker_component
from ._activities import cron_next_activity, emit_timer_event_activity
from ._debounce_workflow import DebounceWorkflow
from ._tasks import run_task_activity
from ._workflows import DelayedTaskWorkflow, ScheduledTaskWorkflow, TimerWorkflow

__all__ = ["COMPONENT"]

COMPONENT = WorkerComponent(
    "durable_automation.timers",
    workflows=(TimerWorkflow, DelayedTaskWorkflow, DebounceWorkflow, ScheduledTaskWorkflow),
    activities=(run_task_activity, emit_timer_event_activity, cron_next_activity),
)
add_worker_component(COMPONENT)
