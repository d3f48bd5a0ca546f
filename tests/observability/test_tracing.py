"""TRACING: runs and their step activities become OpenTelemetry spans (temporalio's contrib)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

otel_trace = pytest.importorskip("opentelemetry.trace", reason="needs opentelemetry-api")
pytest.importorskip("opentelemetry.sdk.trace",
                    reason="needs opentelemetry-sdk (pip install -e '.[test]')")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from durable_automation._core.settings import overridden
from durable_automation.worker import AutomationWorker
from tests.observability.automations import ORDER, run_paid_order


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """An in-memory exporter on the process's tracer provider (set once per process)."""
    provider = otel_trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        otel_trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()  # stops this exporter; the provider keeps any others


async def test_runs_and_steps_are_traced(observed_worker, spans):
    async with observed_worker(TRACING=True):
        _, run = await run_paid_order()

    mine = [s for s in spans.get_finished_spans()
            if (s.attributes or {}).get("temporalWorkflowID") == run.id]
    names = [s.name for s in mine]
    assert f"StartWorkflow:{ORDER}" in names, names
    assert f"RunWorkflow:{ORDER}" in names, names
    for step in ("reserve_stock", "await_payment", "ship"):
        assert f"RunActivity:{ORDER}.{step}" in names, names
    # One trace: the run's spans hang under the span of the client call that started it.
    assert len({s.context.trace_id for s in mine}) == 1, names


async def test_worker_traces_runs_started_by_untraced_clients(temporal_dev_server, spans):
    # A Django process or the CLI may start runs without tracing: the worker still
    # creates the run's spans (always_create_workflow_spans) and its steps' spans.
    client = await temporal_dev_server.connect()  # no tracing interceptor
    with overridden(tracing=True):
        worker = AutomationWorker(client, f"obs-{uuid.uuid4().hex[:8]}",
                                  graceful_shutdown=timedelta(seconds=2))
    async with worker:
        _, run = await run_paid_order()

    names = [s.name for s in spans.get_finished_spans()
             if (s.attributes or {}).get("temporalWorkflowID") == run.id]
    assert f"StartWorkflow:{ORDER}" not in names, names
    assert f"RunWorkflow:{ORDER}" in names, names
    assert f"RunActivity:{ORDER}.ship" in names, names
