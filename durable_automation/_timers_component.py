"""Registers the timer subsystem's Temporal workflows and activities on every worker.

Listed in ``durable_automation.worker.BUILTIN_COMPONENT_MODULES``, so any worker can
run timers, delayed and debounced tasks and scheduled tasks, whether or not the
process that created them imported :mod:`durable_automation.timers`.
"""

from __future__ import annotations

from ._debounce_workflow import DebounceWorkflow
from ._registry import WorkerComponent, add_worker_component
from ._tasks import run_task_activity
from ._timer_activities import cron_next_activity, emit_timer_event_activity
from ._timer_workflows import DelayedTaskWorkflow, ScheduledTaskWorkflow, TimerWorkflow

__all__ = ["COMPONENT"]

COMPONENT = WorkerComponent(
    "durable_automation.timers",
    workflows=(TimerWorkflow, DelayedTaskWorkflow, DebounceWorkflow, ScheduledTaskWorkflow),
    activities=(run_task_activity, emit_timer_event_activity, cron_next_activity),
)
add_worker_component(COMPONENT)
