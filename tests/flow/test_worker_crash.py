"""No slot leaks when a worker dies: the worker running the slot holder's step is
killed (SIGKILL), the step runs again on another worker, the holder ends, and only then
does the next run of the key get the slot (dev server, worker subprocesses)."""

from __future__ import annotations

import signal
import uuid

from durable_automation import engine
from tests.flow import crash_automations  # noqa: F401 - registers the automation here too
from tests.helpers.polling import eventually
from tests.helpers.processes import CliProcess, engine_on


def test_a_killed_worker_holds_no_slot(temporal_dev_server, tmp_path):
    queue = f"flow-crash-{uuid.uuid4().hex[:8]}"
    args = ("worker", "tests.flow.crash_automations", "--address",
            temporal_dev_server.address, "--task-queue", queue)
    env = {"DURABLE_AUTOMATION_HEARTBEAT_TIMEOUT": "2"}  # the death is noticed in seconds
    first = CliProcess(*args, env=env)
    second = None
    try:
        first.wait_for("flow_crash_visit")
        with engine_on(temporal_dev_server.address, queue):
            holder = engine.start("flow_crash_visit", guest="g", label="hang",
                                  marker_dir=str(tmp_path))
            waiting = engine.start("flow_crash_visit", guest="g", label="next",
                                   marker_dir=str(tmp_path))
            eventually(lambda: (tmp_path / "hang-1").exists(), timeout=30)
            assert waiting.state().waiting_for == "slot"
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL

            second = CliProcess(*args, env=env)
            assert holder.result(timeout=90) == {"label": "hang", "attempt": 2}
            assert waiting.result(timeout=60) == {"label": "next", "attempt": 1}
    finally:
        for process in (first, second):
            if process is not None and process.process.poll() is None:
                process.stop(signal.SIGTERM)
    # The next run began only after the holder's retried step had run.
    assert float((tmp_path / "next-1").read_text()) >= float((tmp_path / "hang-2").read_text())
