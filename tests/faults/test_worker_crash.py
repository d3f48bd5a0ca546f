"""A worker killed with SIGKILL in the middle of a step: the step runs again elsewhere
(at-least-once, same idempotency key) and the run completes."""

from __future__ import annotations

import uuid

from durable_automation import engine
from tests.faults import automations  # noqa: F401 - registers the automations
from tests.helpers.polling import eventually
from tests.helpers.processes import worker_to_kill


def test_worker_sigkill_mid_step_step_reruns_and_run_completes(temporal_dev_server, tmp_path):
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    with worker_to_kill("tests.faults.automations", temporal_dev_server.address, queue,
                        ready="fault_slow_step") as kill_and_replace:
        run = engine.start("fault_slow_step", marker_dir=str(tmp_path))
        eventually(lambda: (tmp_path / "started-1").exists(), timeout=30)
        kill_and_replace()
        result = run.result(timeout=90)

    assert result["attempt"] == 2
    # The retried attempt saw the same idempotency key as the one that was killed.
    assert result["key"] == (tmp_path / "started-1").read_text() == f"{run.id}/work/1"
