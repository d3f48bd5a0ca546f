"""`manage.py automation_status`, and the TLS / API-key connection settings."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.test import override_settings
from temporalio.service import TLSConfig

from durable_automation import ConfigurationError, Scheduler, engine, task
from durable_automation._client.connect import tls_config
from durable_automation._core.settings import Settings
from durable_automation.status import collect_status
from tests.helpers.polling import eventually
from tests.workflows import test_signals  # noqa: F401 - registers sig_waiter


def test_management_status_lists_waiting_runs(dev_worker):
    channel = f"mgmt:status:{uuid.uuid4().hex[:6]}"
    run = engine.start("sig_waiter", channel=channel)
    eventually(lambda: run.status() == "waiting", timeout=30)
    out = io.StringIO()
    with override_settings(DURABLE_AUTOMATION={"ADDRESS": dev_worker.server.address}):
        eventually(lambda: (call_command("automation_status", stdout=out) or True)
                   and run.id in out.getvalue(), timeout=30, message="run listed")
    assert f"waiting for {channel}" in out.getvalue()
    engine.signal(channel)


def test_tls_settings_build_the_client_config(tmp_path):
    cert, key, ca = (tmp_path / n for n in ("c.pem", "k.pem", "ca.pem"))
    for path in (cert, key, ca):
        path.write_bytes(f"-- {path.name} --".encode())
    config = tls_config(Settings(tls={"client_cert": str(cert), "client_key": str(key),
                                      "server_root_ca_cert": str(ca), "domain": "t.example"}))
    assert isinstance(config, TLSConfig)
    assert config.client_cert == b"-- c.pem --" and config.domain == "t.example"
    assert tls_config(Settings()) is False
    assert tls_config(Settings(api_key="secret")) is True  # hosted Temporal: TLS implied
    with pytest.raises(ConfigurationError, match="TLS client_cert: cannot read"):
        tls_config(Settings(tls={"client_cert": str(tmp_path / "missing.pem")}))



@task(name="tests.cli.status_task")
def status_task() -> None:
    """A task for the schedule the status test lists."""


def test_status_lists_schedules(dev_worker):
    """A Scheduler task shows in the status listing (collect_status crashed on any schedule)."""
    scheduler = Scheduler(f"status-{uuid.uuid4().hex[:6]}")
    scheduler.add_task("nightly", status_task, 3600)
    try:
        listed = engine._blocking(collect_status, engine._ensure().client, 500, name="status")
        row = next(r for r in listed if r.id == scheduler.schedule_id("nightly"))
        # Not started: its schedule waits, paused, with its next run an hour away at most.
        assert row.kind == "schedule" and row.state == "paused", row
    finally:
        scheduler.remove_task("nightly")
