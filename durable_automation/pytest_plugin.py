"""pytest plugin (entry point ``durable_automation``): fixtures for testing automations.

Fixtures:
    time_machine: a running :class:`~durable_automation.testing.TimeMachine` (sync or
        async tests alike) with ``engine`` bound to it; stopped after the test.
    temporal_dev_server: one Temporal dev server for the session (schedules and
        visibility, which the time-skipping server lacks).
    dev_worker: a worker for every registered automation on ``temporal_dev_server``,
        on a fresh task queue, with ``engine`` bound to it for the test.

Shutdown: temporalio's Rust core has crashed while the interpreter shuts down
(a segfault or a ``PyGILState_Release`` abort after every environment was closed;
upstream sdk-python issue #300). A crash there would replace pytest's verdict with
a signal exit code. So once pytest has finished and reported, this plugin ends the
process with ``os._exit(<pytest's exit status>)``, after flushing output, and says
so on the terminal. Disable with ``-o durable_automation_hard_exit=false``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from .testing import TimeMachine

__all__ = ["DevWorker"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "durable_automation_hard_exit",
        "End the test process with os._exit(status) after pytest reports, to sidestep "
        "temporalio's interpreter-shutdown crash (sdk-python#300)",
        type="bool",
        default=True,
    )


_exit_status: int | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status is None or not config.getini("durable_automation_hard_exit"):
        return
    if "temporalio.bridge.temporal_sdk_bridge" not in sys.modules:
        return  # temporalio's core was never loaded: a normal exit is safe
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    message = (
        f"durable-automation: exiting with os._exit({_exit_status}) so temporalio's "
        "interpreter-shutdown crash (sdk-python#300) cannot change the result"
    )
    if reporter is not None:
        reporter.write_line(message)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)


@pytest.fixture
def time_machine() -> Iterator[TimeMachine]:
    """A time-skipping server + worker for every registered automation, ``engine`` bound to it."""
    with TimeMachine() as tm:
        yield tm


class DevWorker:
    """A worker on the session's dev server, on its own task queue, bound to ``engine``."""

    def __init__(self, server: object, task_queue: str) -> None:
        self.server = server
        self.task_queue = task_queue
        self.client = None


@pytest.fixture(scope="session")
def temporal_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One ``temporal server start-dev`` (headless, search attributes registered) per session."""
    from .devserver import DevServer

    log = tmp_path_factory.mktemp("temporal-dev") / "server.log"
    server = DevServer(ui=False, log_file=log,
                       dynamic_config={"limit.historyCount.suggestContinueAsNew": 200})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dev_worker(temporal_dev_server: object) -> Iterator[DevWorker]:
    """A worker for all registered automations on the dev server; ``engine`` uses it."""
    from ._engine import engine
    from ._runtime import LoopThread
    from .worker import AutomationWorker

    server = temporal_dev_server
    task_queue = f"test-{uuid.uuid4().hex[:8]}"
    runner = LoopThread("durable-automation-dev-worker")

    async def start() -> AutomationWorker:
        client = await server.connect()  # type: ignore[attr-defined]
        worker = AutomationWorker(client, task_queue, bind_engine=False,
                                  graceful_shutdown=timedelta(seconds=2))
        return await worker.__aenter__()

    worker = runner.run(start())
    client = worker.client
    previous = engine.bind(client, task_queue, runner.loop)
    handle = DevWorker(server, task_queue)
    handle.client = client  # type: ignore[assignment]
    try:
        yield handle
    finally:
        engine.restore(previous)
        try:
            runner.run(worker.__aexit__(None, None, None), timeout=60)
        finally:
            runner.stop()
