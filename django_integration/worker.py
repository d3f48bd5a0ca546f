"""Running the worker of a Django project: the automation worker plus the outbox relay.

``manage.py automation_worker`` calls :func:`run_django_worker`. The relay forwards
events that could not be forwarded when they were committed (Temporal was down, the
web process died); everything else is the core worker (``durable_automation.worker``).
Once the worker polls, it also installs the daily Event cleanup (``retention``) and,
with ``METRICS_PORT``, publishes the outbox gauges (``metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable

from durable_automation.worker import run_worker

from .metrics import areport_outbox_forever
from .outbox import arelay_forever
from .retention import ainstall_cleanup_schedule

log = logging.getLogger("django_integration.worker")

__all__ = ["arun_django_worker", "run_django_worker"]


async def arun_django_worker(modules: Iterable[str] = (), *, relay: bool = True,
                             stop: asyncio.Event | None = None) -> None:
    """Run the worker (and the relay) until ``stop`` is set or SIGINT/SIGTERM arrives."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    relay_task = asyncio.create_task(arelay_forever(stop)) if relay else None
    background: list[asyncio.Task[None]] = []

    async def on_started() -> None:
        background.append(asyncio.create_task(areport_outbox_forever(stop)))
        try:
            # Bounded: a slow Temporal must not hold the worker from reacting to SIGTERM.
            await asyncio.wait_for(ainstall_cleanup_schedule(), 60)
        except Exception:  # the worker runs on; the next start installs it again
            log.exception("Could not install the daily Event cleanup schedule")

    try:
        await run_worker(modules, stop=stop, on_started=on_started)
    finally:
        stop.set()
        await asyncio.gather(*background, *([relay_task] if relay_task else []),
                             return_exceptions=True)


def run_django_worker(modules: Iterable[str] = (), *, relay: bool = True) -> None:
    """Sync entry point of :func:`arun_django_worker` (blocks until stopped)."""
    asyncio.run(arun_django_worker(modules, relay=relay))
