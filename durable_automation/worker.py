"""The worker: one Temporal worker that runs every registered automation.

``durable-automation worker`` and ``python -m worker`` call :func:`run_worker`;
``time_machine()`` and the dev stack use :class:`AutomationWorker` directly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any

from temporalio.client import Client
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from . import _interpreter
from ._activities import StepRunner
from ._connect import connect, data_converter
from ._engine import engine
from ._interpreter import AutomationWorkflow
from ._observability import install_log_context, metrics_runtime, uses_runtime, worker_interceptors
from ._registry import import_automation_modules, registry
from ._settings import Settings, get_settings
from ._signal_hub import SignalHub

__all__ = ["AutomationWorker", "replayer", "run_worker", "sandbox_runner", "workflow_classes"]

log = logging.getLogger("durable_automation.worker")

# Modules of the SDK that contribute worker components (their own Temporal workflows
# and activities) when imported. Imported by every worker, so a user who never
# imports e.g. the timers module still gets a worker that can run timers.
BUILTIN_COMPONENT_MODULES: tuple[str, ...] = (
    "durable_automation.agents", "durable_automation._timers_component",
)


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with the SDK and pydantic passed through.

    The interpreter reads definitions from the registry, which must be the worker's
    own (already imported) registry, not a fresh copy the sandbox would re-import.
    User modules are never imported inside the sandbox: user code runs in activities.
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "durable_automation", "pydantic", "pydantic_core", "annotated_types",
        )
    )


def workflow_classes() -> list[type]:
    """Every Temporal workflow class a worker registers (a replay test registers the same).

    The interpreter (dynamic: every automation), the signal hub, and the workflows of
    the built-in components (imported here, as every worker does).
    """
    import_automation_modules(BUILTIN_COMPONENT_MODULES)
    workflows: list[type] = [AutomationWorkflow, SignalHub]
    for component in registry.components.values():
        workflows.extend(component.workflows)
    return workflows


def replayer(**options: Any) -> Replayer:
    """A temporalio ``Replayer`` with a worker's workflows, sandbox and data converter.

    Replays recorded histories under the current code; automations the histories name
    must be registered (their modules imported) before replaying.
    """
    return Replayer(workflows=workflow_classes(), workflow_runner=sandbox_runner(),
                    data_converter=data_converter(), **options)


class AutomationWorker:
    """A Temporal worker for every registered automation, bound to the engine while it runs.

    Args:
        client: Connected client (using the SDK's data converter).
        task_queue: Task queue to poll.
        max_concurrent_steps: Steps and handlers that may run at once (one thread each
            for sync code).
        settings: Step timeouts come from here (default: the current settings).
        bind_engine: Make ``engine`` use this client while the worker runs, so step
            code can call ``engine.signal`` and friends.
        graceful_shutdown: How long running steps may take to finish on shutdown.
    """

    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        max_concurrent_steps: int = 100,
        settings: Settings | None = None,
        bind_engine: bool = True,
        graceful_shutdown: timedelta = timedelta(seconds=30),
        **worker_options: Any,
    ) -> None:
        settings = settings or get_settings()
        import_automation_modules(BUILTIN_COMPONENT_MODULES)
        _interpreter.defaults.step_timeout = settings.step_timeout
        _interpreter.defaults.heartbeat_timeout = settings.heartbeat_timeout
        self.client = client
        self.task_queue = task_queue
        self._bind = bind_engine
        self._previous_binding: Any = None
        self._steps = StepRunner(max_concurrent_steps)
        workflows = workflow_classes()
        activities: list[Any] = [self._steps.activity]
        for component in registry.components.values():
            activities.extend(component.activities)
        # Observability: step-aware log records, tracing (TRACING), and a warning when
        # METRICS_PORT is set but the client was not connected with the metrics runtime
        # (workers report metrics through their client's runtime).
        install_log_context()
        runtime = metrics_runtime(settings)
        if runtime is not None and not uses_runtime(client, runtime):
            log.warning("METRICS_PORT is set, but this worker's client was not connected by "
                        "durable_automation's connect(): its metrics are not served")
        worker_options["interceptors"] = [
            *worker_interceptors(settings, client), *worker_options.get("interceptors", ()),
        ]
        self.worker = Worker(
            client,
            task_queue=task_queue,
            workflows=workflows,
            activities=activities,
            workflow_runner=sandbox_runner(),
            max_concurrent_activities=max_concurrent_steps,
            graceful_shutdown_timeout=graceful_shutdown,
            **worker_options,
        )

    async def __aenter__(self) -> AutomationWorker:
        if self._bind:
            self._previous_binding = engine.bind(
                self.client, self.task_queue, asyncio.get_running_loop()
            )
        await self.worker.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.worker.__aexit__(exc_type, exc, tb)
        finally:
            self._steps.shutdown()
            if self._bind:
                engine.restore(self._previous_binding)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain: running steps finish, polling stops."""
        async with self:
            await stop.wait()
            log.info("Shutting down: waiting for running steps to finish")


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
