"""The embedded dev stack: a Temporal dev server (with UI) plus a worker, in one command.

``durable-automation dev`` (and the Django ``dev`` management command) call
:func:`run_dev_stack`. State is kept in a local SQLite file, so runs, timers and
schedules survive restarting the command. Ctrl-C stops the worker (running steps
finish) and then the server.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path

from ._client.connect import connect
from ._core.registry import import_automation_modules, registry
from ._core.settings import configure, get_settings
from .devserver import FAIRNESS_CONFIG, DevServer
from .exceptions import DurableAutomationError
from .worker import AutomationWorker

__all__ = ["BackgroundTask", "run_dev_stack"]

log = logging.getLogger("durable_automation.dev")

# A coroutine factory run next to the worker (e.g. the Django outbox relay, a demo driver).
BackgroundTask = Callable[[], Awaitable[None]]


def run_dev_stack(
    modules: Iterable[str] = (),
    *,
    db_file: str | Path = ".durable-automation/dev.sqlite3",
    port: int = 7233,
    ui_port: int = 8233,
    background: Iterable[BackgroundTask] = (),
    banner: str | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Start the dev server and a worker, run until Ctrl-C (or ``stop``), return an exit code.

    Args:
        modules: Automation modules to import (added to ``AUTOMATION_MODULES``).
        db_file: SQLite file the server keeps its state in.
        port: gRPC port of the server (clients connect to ``127.0.0.1:<port>``).
        ui_port: Port of the web UI.
        background: Coroutine factories run alongside the worker; when one ends with
            an error the stack stops and the error is reported.
        banner: Extra text printed once everything is up.
        stop: Set it to stop the stack (tests); default: SIGINT/SIGTERM.
    """
    try:
        import_automation_modules([*get_settings().automation_modules, *modules])
    except DurableAutomationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = DevServer(db_file=db_file, port=port, ui_port=ui_port, ui=True,
                       dynamic_config=dict(FAIRNESS_CONFIG),
                       log_file=Path(db_file).with_suffix(".log"))
    print(f"Starting Temporal dev server on {server.address} (state in {db_file}) ...", flush=True)
    try:
        server.start()
    except DurableAutomationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    settings = configure(address=server.address, ui_url=server.ui_url, search_attributes=True)
    try:
        return asyncio.run(_serve(server, settings.task_queue, list(background), banner, stop))
    except KeyboardInterrupt:
        return 130
    finally:
        print("Stopping Temporal dev server ...", flush=True)
        server.stop()
        print("Stopped.", flush=True)


async def _serve(
    server: DevServer,
    task_queue: str,
    background: list[BackgroundTask],
    banner: str | None,
    stop: asyncio.Event | None,
) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Through connect(): the settings' METRICS_PORT / TRACING apply to the dev stack too.
    settings = replace(get_settings(), address=server.address)
    client = await connect(settings)
    names = registry.names()
    async with AutomationWorker(client, task_queue, settings=settings):
        print(
            f"\n  Temporal UI:   {server.ui_url}/namespaces/default/workflows\n"
            f"  Server:        {server.address}\n"
            f"  Task queue:    {task_queue}\n"
            f"  Automations:   {', '.join(names) or '(none registered)'}\n"
            + (f"\n{banner}\n" if banner else "")
            + "\n  Press Ctrl-C to stop.\n",
            flush=True,
        )
        tasks = [asyncio.create_task(_guard(factory)) for factory in background]
        stopper = asyncio.create_task(stop.wait())
        pending: set[asyncio.Task[object]] = {stopper, *tasks}  # type: ignore[arg-type]
        failed: list[asyncio.Task[object]] = []
        # Serve until Ctrl-C, or until a background task fails; a background task that
        # simply finishes leaves the stack running.
        while not stopper.done() and not failed:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception()]
        for task in [stopper, *tasks]:
            task.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
        print("\nStopping worker (running steps finish first) ...", flush=True)
    if failed:
        exc = failed[0].exception()
        print(f"error: background task failed: {exc!r}", file=sys.stderr)
        return 1
    return 0


async def _guard(factory: BackgroundTask) -> None:
    try:
        await factory()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("Background task %r failed", factory)
        raise
