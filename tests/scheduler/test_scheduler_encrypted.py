"""Scheduler.load() with ENCRYPTION_KEYS set: the schedules' payloads (the task call and
the memo) are stored encrypted, and load() decodes them through the data converter."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow

from durable_automation import engine
from durable_automation._client.connect import connect
from durable_automation._core.runtime import LoopThread
from durable_automation._core.settings import overridden
from durable_automation.codec import generate_key
from durable_automation.scheduler import Scheduler
from durable_automation.timers import task
from tests.helpers.polling import eventually

pytestmark = pytest.mark.devserver


@task(name="tests.scheduler.encrypted.secret_job")
def secret_job() -> None:
    """Never runs here: the tasks stay paused."""


def test_load_decodes_encrypted_schedule_payloads(temporal_dev_server: object) -> None:
    address = temporal_dev_server.address  # type: ignore[attr-defined]
    runner = LoopThread("encrypted-scheduler")
    with overridden(address=address, encryption_keys={"2026-11": generate_key()}):
        client = runner.run(connect())
        previous = engine.bind(client, f"enc-{uuid.uuid4().hex[:8]}", runner.loop)
        scheduler = Scheduler(name=f"enc{uuid.uuid4().hex[:8]}")
        try:
            scheduler.add_task("secret", secret_job, 30, enabled=False)
            scheduler.add_task("nightly", secret_job, cron="0 3 * * *")

            plain = runner.run(Client.connect(address))  # no codec: sees what the server stores
            description = runner.run(
                plain.get_schedule_handle(scheduler.schedule_id("secret")).describe())
            action = description.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            stored = [action.args[0], *(action.memo or {}).values()]
            assert all(p.metadata["encoding"] == b"binary/encrypted" for p in stored)
            assert not any(b"secret_job" in p.data for p in stored)

            fresh = Scheduler(name=scheduler.name)
            eventually(lambda: sorted(fresh.load()) == ["nightly", "secret"], timeout=10)
            secret, nightly = fresh.tasks["secret"], fresh.tasks["nightly"]
            assert (secret.func, secret.task, secret.interval_seconds, secret.enabled) == (
                secret_job, "tests.scheduler.encrypted.secret_job", 30, False)
            assert (nightly.cron, nightly.enabled) == ("0 3 * * *", True)
            status = fresh.get_task_status("secret")
            assert status is not None and status["enabled"] is False
        finally:
            for name in list(scheduler.tasks):
                scheduler.remove_task(name)
            engine.restore(previous)
            runner.stop()
