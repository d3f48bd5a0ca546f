"""Recording scenario (``record.py --dev``) that needs the dev server: a run a Temporal
Schedule started for a ``Scheduler`` task (the time-skipping server has no schedules)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHistory

from durable_automation import engine
from tests.replay import automations
from tests.replay.automations import record_call
from tests.replay.files import dump

__all__ = ["schedule_run"]


def schedule_run(out: Path, force: bool) -> None:
    """One run a Temporal Schedule started for a ``Scheduler`` task (dev server: the
    time-skipping server has no schedules)."""
    from temporalio.testing import WorkflowEnvironment

    from durable_automation._binaries import dev_server_path
    from durable_automation._client.connect import data_converter
    from durable_automation._core.runtime import LoopThread
    from durable_automation.scheduler import Scheduler
    from durable_automation.worker import AutomationWorker

    worker_loop = LoopThread("replay-dev-worker")
    task_queue = "replay-dev"

    async def start() -> tuple[WorkflowEnvironment, AutomationWorker]:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=dev_server_path(), data_converter=data_converter(),
            ui=False)
        worker = AutomationWorker(env.client, task_queue, bind_engine=False,
                                  graceful_shutdown=timedelta(seconds=2))
        return env, await worker.__aenter__()

    async def stop(env: WorkflowEnvironment, worker: AutomationWorker) -> None:
        try:
            await worker.__aexit__(None, None, None)
        finally:
            await env.shutdown()

    env, worker = worker_loop.run(start(), timeout=120)
    previous = engine.bind(env.client, task_queue, worker_loop.loop)
    scheduler_loop = LoopThread("replay-scheduler")
    scheduler = Scheduler(name="replay")
    try:
        scheduler.add_task("nightly", record_call, interval_seconds=2)
        running = scheduler_loop.submit(scheduler.start())
        deadline = time.monotonic() + 60
        while ("call", "") not in automations.SEEN:
            assert time.monotonic() < deadline, "the schedule never ran its task"
            time.sleep(0.2)

        async def first_run() -> WorkflowHistory:
            schedule = env.client.get_schedule_handle(scheduler.schedule_id("nightly"))
            action = (await schedule.describe()).info.recent_actions[0].action
            handle = env.client.get_workflow_handle(action.workflow_id)  # type: ignore[attr-defined]
            await handle.result()
            return await handle.fetch_history()

        history = worker_loop.run(first_run(), timeout=60)
        path = out / "schedule_started_task_run.json"
        if path.exists() and not force:
            print(f"{path.name}: kept (recorded by older code; --force replaces it)")
        else:
            path.write_text(dump(history))
            print(f"{path.name}: {history.workflow_id}")
        scheduler.stop()
        running.result(timeout=30)
        scheduler.remove_task("nightly")
    finally:
        scheduler_loop.stop()
        engine.restore(previous)
        try:
            worker_loop.run(stop(env, worker), timeout=60)
        finally:
            worker_loop.stop()
