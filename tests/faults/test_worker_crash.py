"""A worker killed with SIGKILL in the middle of a step: the step runs again elsewhere
(at-least-once, same idempotency key) and the run completes."""

from __future__ import annotations

import signal
import uuid

from durable_automation import engine
from tests.faults import automations  # noqa: F401 - registers the automations
from tests.helpers.polling import eventually
from tests.helpers.processes import CliProcess, engine_on


def test_worker_sigkill_mid_step_step_reruns_and_run_completes(temporal_dev_server, tmp_path):
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    args = ("worker", "tests.faults.automations", "--address", temporal_dev_server.address,
            "--task-queue", queue)
    # A short heartbeat timeout so the server notices the dead worker within seconds.
    env = {"DURABLE_AUTOMATION_HEARTBEAT_TIMEOUT": "2"}
    first = CliProcess(*args, env=env)
    second = None
    try:
        first.wait_for("fault_slow_step")
        with engine_on(temporal_dev_server.address, queue):
            run = engine.start("fault_slow_step", marker_dir=str(tmp_path))
            eventually(lambda: (tmp_path / "started-1").exists(), timeout=30)
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL

            second = CliProcess(*args, env=env)
            result = run.result(timeout=90)
    finally:
        for process in (first, second):
            if process is not None and process.process.poll() is None:
                process.stop(signal.SIGTERM)

    assert result["attempt"] == 2
    # The retried attempt saw the same idempotency key as the one that was killed.
    assert result["key"] == (tmp_path / "started-1").read_text() == f"{run.id}/work/1"
