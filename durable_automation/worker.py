"""The worker: one Temporal worker that runs every registered automation.

This module puts the pieces together: it imports every built-in concept package
(``workflows``, ``events``, ``agents``, ``timers``, ``scheduler``), whose programs
and components the worker assembly (``_worker``) then serves.

``durable-automation worker`` and ``python -m worker`` call :func:`run_worker`;
``time_machine()`` and the dev stack use :class:`AutomationWorker` directly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable

from temporalio.client import Client

# Every built-in concept package registers its programs and worker components when
# imported, so a worker built here runs them all, whatever the user's code imports.
from . import agents, events, scheduler, timers, workflows  # noqa: F401
from ._client.connect import connect
from ._core.registry import import_automation_modules, registry
from ._core.settings import Settings, get_settings
from ._worker.assembly import AutomationWorker, replayer, sandbox_runner, workflow_classes

__all__ = ["AutomationWorker", "replayer", "run_worker", "sandbox_runner", "workflow_classes"]

log = logging.getLogger("durable_automation.worker")


async def run_worker(
    modules: Iterable[str] = (),
    *,
    settings: Settings | None = None,
    stop: asyncio.Event | None = None,
    client: Client | None = None,
) -> None:
    """Connect, import automation modules, and run a worker until SIGINT/SIGTERM.

    Args:
        modules: Modules to import (added to the ``AUTOMATION_MODULES`` setting).
        settings: Settings to use (default: the current ones).
        stop: Set it to stop the worker (default: set on SIGINT/SIGTERM).
        client: An existing client (default: connect as the settings say).
    """
    settings = settings or get_settings()
    imported = import_automation_modules([*settings.automation_modules, *modules])
    client = client or await connect(settings)
    stop = stop or _stop_on_signals()
    names = registry.names()
    log.info(
        "Worker on %s, namespace %s, task queue %s; %d automation(s): %s (modules: %s)",
        settings.address, settings.namespace, settings.task_queue, len(names),
        ", ".join(names) or "none", ", ".join(imported) or "none",
    )
    await AutomationWorker(client, settings.task_queue, settings=settings).run_until(stop)
    log.info("Worker stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
