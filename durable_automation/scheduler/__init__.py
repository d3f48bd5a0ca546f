"""Scheduler: seed 004's interval scheduler, durable on Temporal Schedules.

::

    from durable_automation.scheduler import Scheduler, setup_tasks_from_config

    scheduler = Scheduler()
    scheduler.add_task("doc_check", check_docs, interval_seconds=300)
    scheduler.disable_task("doc_check")          # pause: the phase is kept
    scheduler.update_task_interval("doc_check", 600)
    scheduler.get_task_status("doc_check")       # seed 004's dict, from the schedule
    scheduler.tasks["doc_check"]                 # its ScheduledTask, kept current
    await scheduler.run_task(scheduler.tasks["doc_check"])  # one run now
    await scheduler.start()                      # as in the seed: runs until stop()

Tasks are Temporal Schedules (``scheduler:<scheduler>:<task>``): they survive restarts,
run one at a time, and show in the Temporal UI. As in the seed, they run only while
their scheduler is started; ``stop()`` pauses them, keeping their phase. The sync
calls also work inside a running event loop. See ``docs/timers.md``.
"""

from __future__ import annotations

from ._config import setup_tasks_from_config, setup_tasks_from_yaml
from ._scheduler import ScheduledTask, Scheduler

__all__ = ["ScheduledTask", "Scheduler", "setup_tasks_from_config", "setup_tasks_from_yaml"]
