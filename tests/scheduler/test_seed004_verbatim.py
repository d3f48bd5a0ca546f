"""Seed 004's own "Testing" section passes as written (only the import changed), run by
pytest in a fresh directory with no conftest and no fixture of ours, against a dev
server the "user" started, as it would run in a user's project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from durable_automation._core.runtime import LoopThread

pytestmark = pytest.mark.devserver

SECTION = Path(__file__).with_name("seed004_testing_section.py")


async def _paused(address: str, schedule_ids: list[str]) -> dict[str, bool]:
    client = await Client.connect(address)
    return {sid: (await client.get_schedule_handle(sid).describe()).schedule.state.paused
            for sid in schedule_ids}


def test_seed_004_testing_section_passes_verbatim(
    temporal_dev_server: object, tmp_path: Path
) -> None:
    project = tmp_path / "user_project"
    project.mkdir()
    shutil.copy(SECTION, project / "test_scheduler_seed.py")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DURABLE_AUTOMATION", "PYTEST", "DJANGO"))}
    env["DURABLE_AUTOMATION_ADDRESS"] = temporal_dev_server.address  # type: ignore[attr-defined]
    # A queue of its own, so nothing of this suite's workers serves its tasks.
    env["DURABLE_AUTOMATION_TASK_QUEUE"] = f"seed004-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],  # as a user would run it
        check=False, cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "5 passed" in output, output

    # stop() paused the tasks the two execution tests started (they must not run on).
    runner = LoopThread("seed004-check")
    try:
        paused = runner.run(_paused(temporal_dev_server.address,  # type: ignore[attr-defined]
                                    ["scheduler:default:test", "scheduler:default:async_test"]))
    finally:
        runner.stop()
    assert paused == {"scheduler:default:test": True, "scheduler:default:async_test": True}
