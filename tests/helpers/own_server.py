"""A dev server of one's own (state in a file, a free port) with a worker bound to the engine.

For fault tests and the storm script, which stop, kill and restart the server: the
session's shared dev server must not be touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from durable_automation import engine
from durable_automation._core.runtime import LoopThread
from durable_automation.devserver import DevServer, free_port
from durable_automation.worker import AutomationWorker

__all__ = ["own_server_with_worker"]


@contextmanager
def own_server_with_worker(state: Path, name: str) -> Iterator[DevServer]:
    """Start a dev server keeping its state in ``state``, and a worker on a fresh task
    queue (``<name>-<hex>``) bound to ``engine``; undo all of it on exit."""
    server = DevServer(db_file=state / "temporal.sqlite3", port=free_port(), ui=False,
                       log_file=state / "server.log")
    server.start()
    runner = LoopThread(f"{name}-worker")
    task_queue = f"{name}-{uuid.uuid4().hex[:8]}"

    async def start() -> AutomationWorker:
        worker = AutomationWorker(await server.connect(), task_queue, bind_engine=False,
                                  graceful_shutdown=timedelta(seconds=1))
        return await worker.__aenter__()

    worker = runner.run(start())
    previous = engine.bind(worker.client, task_queue, runner.loop)
    try:
        yield server
    finally:
        engine.restore(previous)
        try:
            runner.run(worker.__aexit__(None, None, None), timeout=60)
        finally:
            runner.stop()
            server.stop()
