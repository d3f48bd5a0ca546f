"""The worker: one Temporal worker that runs every registered automation.

This module puts the pieces together: it imports every built-in concept package
(``workflows``, ``events``, ``agents``, ``timers``, ``scheduler``), whose programs
and components the worker assembly (``_worker``) then serves.

``durable-automation worker`` and ``python -m worker`` call :func:`run_worker`;
``time_machine()`` and the dev stack use :class:`AutomationWorker` directly; the
``dev_worker`` pytest fixture and tests' own servers use :func:`worker_on_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

# Every built-in concept package registers its programs and worker components when
# imported, so a worker built here runs them all, whatever the user's code imports.
from . import agents, events, flow, scheduler, timers, workflows  # noqa: F401
from ._client.connect import connect
from ._client.engine import engine
from ._core.registry import import_automation_modules, registry
from ._core.runtime import LoopThread
from ._core.settings import Settings, get_settings
from ._worker.assembly import AutomationWorker, replayer, sandbox_runner, workflow_classes
from ._worker.health import WorkerHealth
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .devserver import DevServer

__all__ = ["AutomationWorker", "replayer", "run_worker", "sandbox_runner", "workflow_classes"]

log = logging.getLogger("durable_automation.worker")


async def run_worker(
    modules: Iterable[str] = (),
    *,
    settings: Settings | None = None,
    stop: asyncio.Event | None = None,
    client: Client | None = None,
    on_started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Connect, import automation modules, and run a worker until SIGINT/SIGTERM.

    With ``HEALTH_PORT`` set, liveness and readiness are served over HTTP from the
    start (see ``_worker/health.py``); on stop the worker drains for up to
    ``DRAIN_TIMEOUT`` (running steps finish, no new work is taken).

    Args:
        modules: Modules to import (added to the ``AUTOMATION_MODULES`` setting).
        settings: Settings to use (default: the current ones).
        stop: Set it to stop the worker (default: set on SIGINT/SIGTERM).
        client: An existing client (default: connect as the settings say).
        on_started: Awaited once the worker polls and the engine is bound to it
            (integrations start their background jobs there).
    """
    settings = settings or get_settings()
    async with contextlib.AsyncExitStack() as stack:
        health = None
        if settings.health_port is not None:
            health = await stack.enter_async_context(WorkerHealth(settings.health_port))
        await _run(modules, settings, stop, client, on_started, health)


async def _run(modules: Iterable[str], settings: Settings, stop: asyncio.Event | None,
               client: Client | None, on_started: Callable[[], Awaitable[None]] | None,
               health: WorkerHealth | None) -> None:
    imported = import_automation_modules([*settings.automation_modules, *modules])
    client = client or await connect(settings)
    stop = stop or _stop_on_signals()
    names = registry.names()
    log.info(
        "Worker on %s, namespace %s, task queue %s; %d automation(s): %s (modules: %s)",
        settings.address, settings.namespace, settings.task_queue, len(names),
        ", ".join(names) or "none", ", ".join(imported) or "none",
    )
    worker = AutomationWorker(client, settings.task_queue, settings=settings,
                              graceful_shutdown=settings.drain_timeout,
                              **versioning_options(settings))
    if health is not None:
        health.watch(worker)
    async with worker:
        if on_started is not None:
            await on_started()
        await stop.wait()
        if health is not None:
            health.drain()
        log.info("Shutting down: waiting up to %.0fs for running steps to finish",
                 settings.drain_timeout.total_seconds())
    log.info("Worker stopped")


@contextlib.contextmanager
def worker_on_thread(server: DevServer, task_queue: str, *, thread_name: str,
                     graceful_shutdown: timedelta) -> Iterator[AutomationWorker]:
    """A worker for every registered automation on ``server``'s ``task_queue``, on a loop
    thread of its own, with ``engine`` bound to it; all undone on exit.

    For sync code that needs a live worker beside it (the ``dev_worker`` pytest fixture,
    tests with a dev server of their own): the worker's loop is not the caller's.
    """
    runner = LoopThread(thread_name)

    async def start() -> AutomationWorker:
        worker = AutomationWorker(await server.connect(), task_queue, bind_engine=False,
                                  graceful_shutdown=graceful_shutdown)
        return await worker.__aenter__()

    worker = runner.run(start())
    previous = engine.bind(worker.client, task_queue, runner.loop)
    try:
        yield worker
    finally:
        engine.restore(previous)
        try:
            runner.run(worker.__aexit__(None, None, None), timeout=60)
        finally:
            runner.stop()


def versioning_options(settings: Settings) -> dict[str, Any]:
    """Worker options for Temporal's Worker Versioning (``BUILD_ID``), or none.

    Every run may move to a newer build (auto-upgrade): the workflow code is the SDK's
    interpreter, whose changes are patched, so only the steps' code differs between
    builds; see docs/operations.md for when that is safe.

    Raises:
        ConfigurationError: ``DEPLOYMENT_NAME`` is set without ``BUILD_ID``.
    """
    if settings.build_id is None:
        if settings.deployment_name is not None:
            raise ConfigurationError(
                "DEPLOYMENT_NAME is set but BUILD_ID is not: Worker Versioning needs "
                "both (BUILD_ID names this worker's build, e.g. its image tag); unset "
                "DEPLOYMENT_NAME to run unversioned")
        return {}
    version = WorkerDeploymentVersion(deployment_name=settings.deployment_name
                                      or settings.task_queue, build_id=settings.build_id)
    return {"deployment_config": WorkerDeploymentConfig(
        version=version, use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE)}


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
