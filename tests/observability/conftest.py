"""A worker of our own per test (connected through the SDK's ``connect()``, so the
settings' metrics runtime and tracing interceptor apply), on the session dev server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from durable_automation._client.connect import connect
from durable_automation._core.settings import overridden
from durable_automation.worker import AutomationWorker
from tests.observability import automations  # noqa: F401 - registers the automation

WorkerFactory = Callable[..., AbstractAsyncContextManager[AutomationWorker]]


@pytest.fixture
def observed_worker(temporal_dev_server: Any) -> WorkerFactory:
    """``async with observed_worker(METRICS_PORT=..., TRACING=True) as worker:``."""

    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[AutomationWorker]:
        with overridden(address=temporal_dev_server.address, **settings):
            client = await connect()
            async with AutomationWorker(client, f"obs-{uuid.uuid4().hex[:8]}",
                                        graceful_shutdown=timedelta(seconds=2)) as worker:
                yield worker

    return start
