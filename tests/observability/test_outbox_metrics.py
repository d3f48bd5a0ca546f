"""The Django worker on the dev server: outbox gauges on the same /metrics page as
Temporal's own (METRICS_PORT), its health endpoint (HEALTH_PORT), and the daily Event
cleanup it installs when it starts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from temporalio.service import RPCError

from django_integration._dispatcher import dispatcher
from django_integration.models import Event, EventStatus
from django_integration.retention import CLEANUP_TASK, SCHEDULER_NAME
from django_integration.worker import arun_django_worker
from durable_automation.devserver import free_port
from durable_automation.scheduler import Scheduler
from tests.django_integration.testapp.models import Booking
from tests.helpers.http import http_status
from tests.observability.test_metrics import _sample, _scrape


@pytest.fixture
def paused_dispatcher(transactional_db: None) -> Iterator[None]:
    """Committed events stay in the outbox (the worker's relay is off too)."""
    dispatcher.pause()
    yield
    dispatcher.resume()


def test_outbox_gauges_next_to_temporal_metrics(paused_dispatcher, temporal_dev_server):
    for n in range(3):
        Booking.objects.create(ref=f"M-{n}", paid=True)  # three rows waiting for delivery
    Event.objects.filter(needs_delivery=True).update(
        updated_at=timezone.now() - timedelta(seconds=120))
    Event.objects.create(name="tb_metrics_dead", entity_type="testapp.booking", entity_id="0",
                         status=EventStatus.FAILED, needs_delivery=False,
                         dead_at=timezone.now(), last_delivery_error="boom")
    metrics_port, health_port = free_port(), free_port()
    settings = {"ADDRESS": temporal_dev_server.address, "METRICS_PORT": metrics_port,
                "HEALTH_PORT": health_port, "DRAIN_TIMEOUT": 2,
                "TASK_QUEUE": f"outbox-metrics-{uuid.uuid4().hex[:8]}"}

    async def scenario() -> str:
        stop = asyncio.Event()
        worker = asyncio.create_task(arun_django_worker(relay=False, stop=stop))
        try:
            deadline = time.monotonic() + 30
            text = ""
            while time.monotonic() < deadline:
                try:
                    text = await asyncio.to_thread(_scrape, metrics_port)
                except OSError:
                    text = ""  # not serving yet
                if "durable_automation_outbox_dead" in text and "temporal_" in text:
                    break
                await asyncio.sleep(0.2)
            # Off the loop: the health endpoint is served by this very loop.
            ready = f"http://127.0.0.1:{health_port}/readyz"
            while await asyncio.to_thread(http_status, ready) != 200:
                assert time.monotonic() < deadline, "the Django worker never became ready"
                await asyncio.sleep(0.2)
            # The worker installed the daily Event cleanup itself (a Temporal Schedule).
            client = await temporal_dev_server.connect()
            schedule = client.get_schedule_handle(
                Scheduler(SCHEDULER_NAME).schedule_id(CLEANUP_TASK))
            while True:  # installed right after the worker starts polling
                try:
                    description = await schedule.describe()
                    break
                except RPCError:
                    assert time.monotonic() < deadline, "the cleanup schedule never appeared"
                    await asyncio.sleep(0.2)
            assert not description.schedule.state.paused
            await schedule.delete()
            return text
        finally:
            stop.set()
            await asyncio.wait_for(worker, 60)

    with override_settings(DURABLE_AUTOMATION=settings):
        text = asyncio.run(scenario())
    assert _sample(text, "durable_automation_outbox_waiting") == 3, text[-2000:]
    assert _sample(text, "durable_automation_outbox_dead") == 1
    age = _sample(text, "durable_automation_outbox_oldest_age_seconds")
    assert age is not None and 120 <= age < 400
    # Temporal's own metrics are on the same page (the worker's pollers report there).
    assert "temporal_" in text
