"""HEALTH_PORT: the worker's liveness and readiness over HTTP, against a real worker on
the dev server (what the compose healthcheck and the Kubernetes probes call)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from durable_automation._core.settings import overridden
from durable_automation._worker.health import WorkerHealth
from durable_automation.devserver import free_port
from durable_automation.worker import run_worker


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def _until_ready(port: int, within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    status, body = 0, {}
    while time.monotonic() < deadline:
        try:
            status, body = await asyncio.to_thread(_get, port, "/readyz")
        except urllib.error.URLError:  # not listening yet
            status, body = 0, {}
        if status == 200:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz never answered 200: {status} {body}")


async def test_run_worker_serves_liveness_and_readiness(temporal_dev_server):
    port = free_port()
    task_queue = f"health-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    started = asyncio.Event()

    async def on_started() -> None:
        started.set()

    with overridden(address=temporal_dev_server.address, task_queue=task_queue,
                    health_port=port, drain_timeout=2):
        run = asyncio.create_task(run_worker(stop=stop, on_started=on_started))
        try:
            body = await _until_ready(port)
            assert body["status"] == "ready" and body["task_queue"] == task_queue
            assert started.is_set()
            status, live = await asyncio.to_thread(_get, port, "/livez")
            assert (status, live["status"], live["draining"]) == (200, "alive", False)
            assert (await asyncio.to_thread(_get, port, "/nope"))[0] == 404
        finally:
            stop.set()
            await asyncio.wait_for(run, 60)
    # The process is done with it: the port is closed.
    try:
        await asyncio.to_thread(_get, port, "/livez")
    except urllib.error.URLError:
        pass
    else:
        raise AssertionError("the health endpoint outlived the worker")


async def test_readiness_follows_the_worker(observed_worker):
    async with WorkerHealth(0, "127.0.0.1") as health:
        status, body = await asyncio.to_thread(_get, health.port, "/readyz")
        assert (status, body["detail"]) == (503, "starting: connecting to Temporal")
        async with observed_worker() as worker:
            health.watch(worker)
            body = await _until_ready(health.port)
            assert body["identity"] == worker.client.identity
            health.drain()
            # Draining: not ready at once (no cached answer), still alive.
            status, body = await asyncio.to_thread(_get, health.port, "/readyz")
            assert status == 503 and body["detail"].startswith("draining")
            status, body = await asyncio.to_thread(_get, health.port, "/livez")
            assert (status, body["draining"]) == (200, True)

