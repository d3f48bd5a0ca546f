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

from durable_automation.devserver import DevServer, free_port
from durable_automation.worker import worker_on_thread

__all__ = ["own_server_with_worker"]


@contextmanager
def own_server_with_worker(state: Path, name: str) -> Iterator[DevServer]:
    """Start a dev server keeping its state in ``state``, and a worker on a fresh task
    queue (``<name>-<hex>``) bound to ``engine``; undo all of it on exit."""
    server = DevServer(db_file=state / "temporal.sqlite3", port=free_port(), ui=False,
                       log_file=state / "server.log")
    server.start()
    try:
        with worker_on_thread(server, f"{name}-{uuid.uuid4().hex[:8]}",
                              thread_name=f"{name}-worker",
                              graceful_shutdown=timedelta(seconds=1)):
            yield server
    finally:
        server.stop()
