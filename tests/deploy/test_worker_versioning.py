"""BUILD_ID: the worker joins a Temporal Worker Deployment; runs go to it once an operator
makes its build current with the CLI command docs/operations.md gives (dev server)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import pytest
from pydantic import BaseModel

from durable_automation import complete, engine, step, workflow
from durable_automation._binaries import dev_server_path
from durable_automation._core.settings import Settings, overridden
from durable_automation.devserver import free_port
from durable_automation.exceptions import ConfigurationError
from durable_automation.worker import run_worker, versioning_options
from tests.helpers.http import http_status

VERSIONED = "ops_versioned_hello"


@workflow(VERSIONED)
class VersionedHello:
    class Context(BaseModel):
        pass

    @step(start=True)
    def hello(self):
        return complete(said="hello")


def test_deployment_name_alone_is_a_configuration_error():
    assert versioning_options(Settings()) == {}
    with pytest.raises(ConfigurationError, match="DEPLOYMENT_NAME is set but BUILD_ID is not"):
        versioning_options(Settings(deployment_name="shop"))
    config = versioning_options(Settings(build_id="b7", task_queue="q"))["deployment_config"]
    assert (config.version.deployment_name, config.version.build_id) == ("q", "b7")


def _cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([dev_server_path(), *args, "--address", address],
                          capture_output=True, text=True, timeout=60)


async def test_runs_reach_a_build_once_it_is_current(temporal_dev_server):
    address = temporal_dev_server.address
    deployment = f"da-ops-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    health = free_port()
    with overridden(address=address, task_queue=f"{deployment}-q", build_id="build-1",
                    deployment_name=deployment, drain_timeout=2, health_port=health):
        worker = asyncio.create_task(run_worker(stop=stop))
        try:
            # The command from docs/operations.md; the version exists once the worker polls.
            deadline = time.monotonic() + 30
            while True:
                made = await asyncio.to_thread(
                    _cli, address, "worker", "deployment", "set-current-version",
                    "--deployment-name", deployment, "--build-id", "build-1", "--yes")
                if made.returncode == 0:
                    break
                assert time.monotonic() < deadline, made.stderr
                await asyncio.sleep(0.5)
            # Readiness sees a versioned worker's pollers too (a rollout waits on it).
            while await asyncio.to_thread(http_status, f"http://127.0.0.1:{health}/readyz") != 200:
                assert time.monotonic() < deadline, "a versioned worker never became ready"
                await asyncio.sleep(0.3)
            run = await engine.astart(VERSIONED)
            assert await run.aresult(timeout=60) == {"said": "hello"}
            described = await asyncio.to_thread(
                _cli, address, "workflow", "describe", "--workflow-id", run.id, "-o", "json")
            assert described.returncode == 0, described.stderr
            assert "build-1" in described.stdout and deployment in described.stdout
            assert "AUTO_UPGRADE" in described.stdout.upper()
        finally:
            stop.set()
            await asyncio.wait_for(worker, 60)
