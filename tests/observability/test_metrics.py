"""METRICS_PORT: the worker serves temporalio's Prometheus metrics, labelled by automation."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request

from durable_automation.devserver import free_port
from tests.observability.automations import ORDER, run_paid_order


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _sample(text: str, metric: str, **labels: str) -> float | None:
    """The value of ``metric`` (``_total`` suffix optional) whose labels include ``labels``."""
    total = None
    for line in text.splitlines():
        match = re.match(rf"^{metric}(?:_total)?\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total = (total or 0.0) + float(match.group(2))
    return total


async def test_worker_serves_workflow_and_step_metrics(observed_worker):
    port = free_port()
    async with observed_worker(METRICS_PORT=port) as worker:
        await run_paid_order()

        # Core exports on its own schedule: poll until the counters show this run.
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = await asyncio.to_thread(_scrape, port)
            completed = _sample(text, "temporal_workflow_completed", workflow_type=ORDER,
                                task_queue=worker.task_queue)
            steps = _sample(text, "temporal_activity_execution_latency_count",
                            activity_type=f"{ORDER}.ship", task_queue=worker.task_queue)
            if completed and steps:
                break
            await asyncio.sleep(0.2)
        assert completed == 1, text[-3000:]
        # Every step is an activity named <automation>.<step>: one execution each.
        for name in ("reserve_stock", "ship"):
            assert _sample(text, "temporal_activity_execution_latency_count",
                           activity_type=f"{ORDER}.{name}") == 1, text[-3000:]
        assert (_sample(text, "temporal_activity_execution_latency_count",
                        activity_type=f"{ORDER}.await_payment") or 0) == 2
