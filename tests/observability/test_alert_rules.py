"""deploy/prometheus/alerts.yml names metrics that really exist: the temporal_* ones are
checked on a real worker's /metrics page after a run completed and a run failed; the
outbox ones are the gauges django_integration.metrics publishes (served by the Django
worker in test_outbox_metrics.py)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from django_integration.metrics import OUTBOX_METRICS
from durable_automation import engine, fail, step, workflow
from durable_automation.devserver import free_port
from durable_automation.exceptions import RunFailedError
from tests.observability.automations import run_paid_order
from tests.observability.test_metrics import _scrape

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
FAILING = "obs_alert_always_fails"


@workflow(FAILING)
class AlwaysFails:
    class Context(BaseModel):
        pass

    @step(start=True)
    def begin(self):
        return fail("the alert test wants a failed run")


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]]


def _metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\b(?:temporal|durable_automation)_[a-z_]+\b", expr))


def test_rules_are_well_formed_and_cover_the_issue():
    rules = _rules()
    names = {rule["alert"] for rule in rules}
    assert len(names) == len(rules)
    for rule in rules:
        assert rule["expr"] and rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert _metrics_in(rule["expr"]), rule["alert"]
    used = set().union(*(_metrics_in(rule["expr"]) for rule in rules))
    # The alerts the issue asks for: schedule-to-start latency, failed runs, outbox age,
    # dead rows.
    assert {"temporal_workflow_task_schedule_to_start_latency_bucket",
            "temporal_workflow_failed", "durable_automation_outbox_oldest_age_seconds",
            "durable_automation_outbox_dead"} <= used


async def test_rule_metrics_exist_on_a_real_worker(observed_worker):
    wanted = set().union(*(_metrics_in(rule["expr"]) for rule in _rules()))
    outbox = {name for name, _, _ in OUTBOX_METRICS.values()}
    # Our own metrics in the rules are exactly ones the Django worker publishes.
    assert {m for m in wanted if m.startswith("durable_automation_")} <= outbox
    temporal = {m for m in wanted if m.startswith("temporal_")}
    port = free_port()
    async with observed_worker(METRICS_PORT=port):
        await run_paid_order()
        run = await engine.astart(FAILING)
        with pytest.raises(RunFailedError):
            await run.aresult(timeout=60)
        deadline = time.monotonic() + 30
        missing = temporal
        while missing and time.monotonic() < deadline:
            text = await asyncio.to_thread(_scrape, port)
            missing = {m for m in temporal if not re.search(rf"^{m}[{{ ]", text, re.M)}
            await asyncio.sleep(0.3)
        assert not missing, f"alerts.yml names metrics the worker does not serve: {missing}"
