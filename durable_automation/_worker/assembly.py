"""Assembling a Temporal worker from what the concept packages registered.

The router workflow and the router activity, plus every worker component
(``_core.hooks``), in the SDK's workflow sandbox, bound to the engine while it runs.
``durable_automation.worker`` imports every built-in concept package first, so its
workers run them all; the in-process worker of a script (``timers._local_worker``) runs what
the script imported.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from types import TracebackType
from typing import Any

from temporalio.client import Client
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from .._client.connect import data_converter
from .._client.engine import engine
from .._client.observability import (
    install_log_context,
    metrics_runtime,
    uses_runtime,
    worker_interceptors,
)
from .._core.defaults import defaults
from .._core.hooks import worker_components
from .._core.settings import Settings, get_settings
from .activities import StepRunner
from .router import AutomationWorkflow

__all__ = ["AutomationWorker", "replayer", "sandbox_runner", "workflow_classes"]

log = logging.getLogger("durable_automation.worker")


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with the SDK and pydantic passed through.

    The interpreter reads definitions from the registry, which must be the worker's
    own (already imported) registry, not a fresh copy the sandbox would re-import.
    User modules are never imported inside the sandbox: user code runs in activities.
    The packages of worker components' workflows (the Django app's scheduled-event
    timer, say) pass through too: they are workflow code the worker imported already,
    and re-importing them in a fresh sandbox for every run made each timer's first
    workflow task slow enough to fire it seconds late under load.
    """
    components = {cls.__module__.partition(".")[0] for cls in workflow_classes()}
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "durable_automation", "pydantic", "pydantic_core", "annotated_types",
            *sorted(components - {"durable_automation"}),
        )
    )


def workflow_classes() -> list[type]:
    """Every Temporal workflow class a worker registers (a replay test registers the same).

    The router workflow (dynamic: every automation) and the workflows of the worker
    components registered so far (``durable_automation.worker`` imports every
    built-in concept package, so they are all there).
    """
    workflows: list[type] = [AutomationWorkflow]
    for component in worker_components():
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
        defaults.step_timeout = settings.step_timeout
        defaults.heartbeat_timeout = settings.heartbeat_timeout
        self.client = client
        self.task_queue = task_queue
        self._bind = bind_engine
        self._previous_binding: Any = None
        self._steps = StepRunner(max_concurrent_steps)
        workflows = workflow_classes()
        activities: list[Any] = [self._steps.activity]
        for component in worker_components():
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
