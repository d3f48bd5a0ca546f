"""The CLI as users run it: real subprocesses, real servers, real signals."""

from __future__ import annotations

import signal
import urllib.request
import uuid

from durable_automation import engine
from durable_automation.cli import build_parser, run
from durable_automation.devserver import free_port
from tests.helpers.polling import eventually
from tests.helpers.processes import CliProcess, engine_on
from tests.workflows import seed_automations, test_signals  # noqa: F401 - register automations

SEEDS = "tests.workflows.seed_automations"
WAITERS = "tests.workflows.test_signals"


def test_help_lists_the_commands(capsys):
    assert {"worker", "dev", "status"} <= set(build_parser()._subparsers._group_actions[0].choices)


def test_unknown_module_is_a_clear_error(capsys):
    from durable_automation._core.settings import overridden

    with overridden():  # run() applies --address to the settings: keep that to this test
        code = run(["worker", "no_such_module_xyz", "--address", "127.0.0.1:1"])
    assert code == 1
    assert "Cannot import automation module 'no_such_module_xyz'" in capsys.readouterr().err


def test_worker_runs_automations_and_drains_on_sigterm(temporal_dev_server):
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    worker = CliProcess("worker", SEEDS, "--address", temporal_dev_server.address,
                        "--task-queue", queue)
    try:
        worker.wait_for("reindex_listing")
        with engine_on(temporal_dev_server.address, queue):
            assert engine.start("reindex_listing", listing_id=1).result(timeout=30) == {}
    finally:
        code = worker.stop(signal.SIGTERM)
    assert code == 0, worker.output
    assert "Worker stopped" in worker.output


def test_status_prints_runs_and_what_they_wait_for(dev_worker):
    channel = f"cli:status:{uuid.uuid4().hex[:6]}"
    run_handle = engine.start("sig_waiter", channel=channel)
    eventually(lambda: run_handle.status() == "waiting", timeout=30)
    status = CliProcess("status", "--address", dev_worker.server.address)
    assert status.process.wait(60) == 0, status.output
    status._reader.join(5)
    assert "sig_waiter" in status.output
    assert f"waiting for {channel}" in status.output
    engine.signal(channel)


def test_dev_stack_serves_ui_keeps_state_across_restart_and_stops_cleanly(tmp_path):
    db_file = str(tmp_path / "dev.sqlite3")
    port, ui_port = free_port(), free_port()
    args = ("dev", WAITERS, "--db-file", db_file, "--port", str(port), "--ui-port", str(ui_port))
    channel = f"cli:dev:{uuid.uuid4().hex[:6]}"

    first = CliProcess(*args)
    try:
        first.wait_for("Press Ctrl-C to stop.")
        assert f"http://127.0.0.1:{ui_port}" in first.output
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=30) as response:
            assert response.status == 200
        with engine_on(f"127.0.0.1:{port}", "durable-automation"):
            waiting = engine.start("sig_waiter", channel=channel)
            eventually(lambda: waiting.status() == "waiting", timeout=30)
    finally:
        assert first.stop(signal.SIGINT) == 0, first.output
    assert "Stopped." in first.output

    second = CliProcess(*args)
    try:
        second.wait_for("Press Ctrl-C to stop.")
        with engine_on(f"127.0.0.1:{port}", "durable-automation"):
            assert waiting.status() == "waiting"  # survived the restart
            assert engine.signal(channel, {"count": 1}) == 1
            assert waiting.result(timeout=30) == {"count": 1, "wakes": 1}
    finally:
        assert second.stop(signal.SIGINT) == 0, second.output


def test_dev_stack_stops_with_background_work_running(tmp_path):
    from tests.helpers.processes import ROOT

    port, ui_port = free_port(), free_port()
    script = (
        "import asyncio, sys; from durable_automation.devstack import run_dev_stack\n"
        "async def forever():\n    while True: await asyncio.sleep(0.1)\n"
        f"sys.exit(run_dev_stack(db_file={str(tmp_path / 'd.sqlite3')!r}, port={port}, "
        f"ui_port={ui_port}, background=[forever]))\n"
    )
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "Press Ctrl-C" not in seen and time.monotonic() < deadline:
            seen += process.stdout.readline()  # type: ignore[union-attr]
        assert "Press Ctrl-C" in seen
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
