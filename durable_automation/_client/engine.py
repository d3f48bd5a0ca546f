"""The engine: the client-side entry point that starts runs, sends signals and routes events.

There is one module-level ``engine``. It connects lazily with the settings the first
time it is used, or is bound to a given client (the worker and ``time_machine`` do
that). Every method that talks to Temporal has an ``a``-prefixed async twin.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .._core import search
from .._core.channels import check_payload_size, hub_id
from .._core.definitions import WorkflowDefinition
from .._core.flow import FlowControl, flow_of, flow_starter, priority_fields
from .._core.hooks import program_queues
from .._core.process_exit import django_configured, install_exit_handler
from .._core.registry import registry
from .._core.runtime import LoopThread, call_async, call_sync
from .._core.settings import get_settings
from .._core.wire import DeliverRequest, StartInput
from ..exceptions import ConfigurationError, SignalPayloadError
from .connect import connect
from .event_routing import EventRouting, _dump, _user_code
from .run import Run

__all__ = ["Engine", "engine"]

T = TypeVar("T")


@dataclass
class _Binding:
    client: Client
    task_queue: str
    loop: asyncio.AbstractEventLoop
    owner: LoopThread | None = None
    clock: Callable[[], Awaitable[datetime]] | None = None
    # Ids of runs started through this binding; time_machine waits on them to settle.
    tracked: set[str] | None = None
    started: list[str] = field(default_factory=list)
    # Awaited before a run's result is read: time_machine moves virtual time until the
    # run (a workflow id) has ended, or raises when nothing but a signal could end it.
    drive: Callable[[str], Awaitable[None]] | None = None


def _scalar_slug(kwargs: dict[str, Any]) -> str:
    parts = [
        f"{k}={v}" for k, v in kwargs.items() if isinstance(v, (str, int, float, bool))
    ]
    return ",".join(parts)[:60]


class Engine(EventRouting):
    """Starts runs, sends signals and turns events into runs and wake-ups."""

    def __init__(self) -> None:
        self._binding: _Binding | None = None
        self._lock = threading.Lock()

    # ── connection ───────────────────────────────────────────────────────────────

    def bind(
        self,
        client: Client,
        task_queue: str,
        loop: asyncio.AbstractEventLoop,
        *,
        clock: Callable[[], Awaitable[datetime]] | None = None,
        track: bool = False,
        drive: Callable[[str], Awaitable[None]] | None = None,
    ) -> _Binding | None:
        """Use ``client`` (living on ``loop``) from now on; return the previous binding.

        Args:
            client: A connected client using the SDK's data converter.
            task_queue: Where runs are started.
            loop: The loop the client's calls must run on.
            clock: Returns the server's notion of now (the time-skipping server's).
            track: Remember started runs (``time_machine`` waits for them to settle).
            drive: Called with a run's id before its result is awaited
                (``time_machine`` advances virtual time until the run ends).
        """
        with self._lock:
            previous = self._binding
            self._binding = _Binding(client, task_queue, loop, clock=clock,
                                     tracked=set() if track else None, drive=drive)
            return previous

    def restore(self, previous: _Binding | None) -> None:
        """Put back a binding returned by :meth:`bind`."""
        with self._lock:
            self._binding = previous

    def _ensure(self) -> _Binding:
        with self._lock:
            if self._binding is None:
                settings = get_settings()
                runner = LoopThread()
                try:
                    client = runner.run(connect(settings))
                except BaseException:
                    runner.stop()
                    raise
                self._binding = _Binding(client, settings.task_queue, runner.loop, owner=runner)
                # temporalio's core is loaded now, and can crash at interpreter shutdown
                # (sdk-python #300): a script must still end with its own status.
                install_exit_handler(hard_exit=not django_configured())
            return self._binding

    def close(self) -> None:
        """Drop the connection the engine opened itself (bound clients are left alone)."""
        with self._lock:
            binding, self._binding = self._binding, None
        if binding is not None and binding.owner is not None:
            binding.owner.stop()

    async def _aclient(self) -> Client:
        return self._ensure().client

    @property
    def task_queue(self) -> str:
        """The task queue runs are started on."""
        return self._ensure().task_queue

    def _blocking(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        *args: Any,
        name: str,
        kwargs: dict[str, Any] | None = None,
    ) -> T:
        """Run the async twin ``fn`` from sync code; ``name`` is the sync method's name."""
        owner, _, method = name.rpartition(".")
        async_name = f"{owner}.a{method}" if owner else f"a{method}"

        async def call() -> T:
            return await fn(*args, **(kwargs or {}))

        return call_sync(self._ensure().loop, call, sync_name=name, async_name=async_name)

    async def _on_loop(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return await call_async(self._ensure().loop, fn, *args, **kwargs)

    async def _queue_for(self, name: str) -> str:
        """The task queue runs of automation ``name`` start on; on the engine's loop.

        The engine's, unless the engine runs on its own (no worker bound it) and only
        this program can run ``name`` (a script's handler): then the program's own
        queue, served by its in-process worker (``timers._local_worker``).
        """
        binding = self._ensure()
        queues = program_queues()
        if binding.owner is None or queues is None:
            return binding.task_queue
        return await queues.for_start(name) or binding.task_queue

    def _track(self, run_id: str) -> None:
        binding = self._binding
        if binding is not None and binding.tracked is not None:
            binding.tracked.add(run_id)

    # ── time ─────────────────────────────────────────────────────────────────────

    async def anow(self) -> datetime:
        """Now, as the server sees it (virtual time under ``time_machine``)."""
        binding = self._ensure()
        if binding.clock is not None:
            return await call_async(binding.loop, binding.clock)
        return datetime.now(UTC)

    def now(self) -> datetime:
        """Sync twin of :meth:`anow`."""
        return self._blocking(self.anow, name="engine.now")

    # ── runs ─────────────────────────────────────────────────────────────────────

    def get_run(self, run_id: str) -> Run:
        """A handle on an existing run (no server call is made)."""
        return Run(self, run_id)

    async def astart(self, name: str, /, **kwargs: Any) -> Run:
        """Start the workflow ``name``; ``kwargs`` go to its ``create_context``.

        Raises:
            UnknownAutomationError: No workflow of that name is registered here.
        """
        definition = registry.get_workflow(name)
        # create_context is user code (it may use the ORM): never run it on a loop thread.
        context = await _user_code(definition.create_context, **kwargs)
        return await self._on_loop(self._start_manual, definition, kwargs, context)

    def start(self, name: str, /, **kwargs: Any) -> Run:
        """Sync twin of :meth:`astart`."""
        definition = registry.get_workflow(name)
        context = definition.create_context(**kwargs)
        return self._blocking(self._start_manual, definition, kwargs, context, name="engine.start")

    async def _start_manual(
        self, definition: WorkflowDefinition, kwargs: dict[str, Any], context: BaseModel
    ) -> Run:
        slug = _scalar_slug(kwargs)
        run_id = f"{definition.name}:{slug + ':' if slug else ''}{uuid.uuid4().hex[:8]}"
        summary = f"Started by engine.start({definition.name!r}{', ' + slug if slug else ''})"
        await self._start(definition.name, run_id, StartInput(context=_dump(context)), summary)
        return Run(self, run_id, definition.name)

    async def _start(
        self, name: str, run_id: str, start: StartInput, summary: str, *, idempotent: bool = False
    ) -> bool:
        """Start a run; with ``idempotent``, an id already used is not an error (returns False)."""
        binding = self._ensure()
        flow = flow_of(name)
        if flow is not None and flow.limiter is not None:  # through its key's limiter
            try:
                return await _start_limited(self, name, run_id, start, summary, idempotent)
            finally:
                self._track(run_id)
        attributes = None
        if get_settings().search_attributes:
            kind = registry.workflows[name].kind if name in registry.workflows else "handler"
            entity_ref = start.event.entity_ref if start.event else None
            attributes = search.for_start(name, kind, entity_ref)
        try:
            await binding.client.start_workflow(
                name, start, id=run_id, task_queue=await self._queue_for(name),
                static_summary=summary, search_attributes=attributes,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE if idempotent
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING if idempotent
                else WorkflowIDConflictPolicy.FAIL,
                priority=_priority(name, flow, start),
            )
        except WorkflowAlreadyStartedError:
            if not idempotent:
                raise
            return False
        finally:
            self._track(run_id)
        return True

    # ── signals ──────────────────────────────────────────────────────────────────

    async def asignal(self, signal: str, payload: dict[str, Any] | None = None) -> int:
        """Wake every run waiting for ``signal``; return how many were woken.

        Payload keys merge into each woken run's Context where the field exists.

        Raises:
            SignalPayloadError: The payload does not validate against the Context of a
                waiting run; nothing was delivered and every run keeps waiting.
        """
        if payload is not None and not isinstance(payload, dict):
            raise SignalPayloadError(
                f"A signal payload must be a dict, got {type(payload).__name__}")
        return await self._on_loop(self._deliver, signal, payload)

    def signal(self, signal: str, payload: dict[str, Any] | None = None) -> int:
        """Sync twin of :meth:`asignal`."""
        return self._blocking(self.asignal, signal, payload, name="engine.signal")

    async def _deliver(self, signal: str, payload: dict[str, Any] | None) -> int:
        binding = self._ensure()
        await check_payload_size(binding.client.data_converter, payload)
        # Runs wait at the hub of the queue they run on: a script's own workflows wait
        # on its in-process worker's queue (see _queue_for).
        queues = program_queues()
        own = queues.running() if queues is not None and binding.owner is not None else None
        woken = await self._deliver_to(binding.task_queue, signal, payload)
        if own is not None and own != binding.task_queue:
            woken += await self._deliver_to(own, signal, payload)
        return woken

    async def _deliver_to(self, task_queue: str, signal: str,
                          payload: dict[str, Any] | None) -> int:
        handle = self._ensure().client.get_workflow_handle(hub_id(task_queue, signal))
        try:
            return int(await handle.execute_update("deliver", DeliverRequest(payload=payload),
                                                   result_type=int))
        except WorkflowUpdateFailedError as err:
            if getattr(err.cause, "type", None) == "InvalidPayload":
                raise SignalPayloadError(getattr(err.cause, "message", str(err.cause))) from None
            raise
        except RPCError as err:
            # No hub, or a hub that ended: nobody waits on this channel.
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                return 0
            raise


async def _start_limited(eng: Engine, name: str, run_id: str, start: StartInput, summary: str,
                         idempotent: bool) -> bool:
    starter = flow_starter()
    if starter is None:
        raise ConfigurationError(
            f"{name} has a concurrency, throttle or rate limit, but durable_automation.flow "
            "is not imported in this process; import it (or durable_automation.worker)")
    return await starter(eng, name, run_id, start, summary, idempotent)


def _priority(name: str, flow: FlowControl | None, start: StartInput) -> Priority:
    try:
        fields = priority_fields(flow, start)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: fairness_key {exc}") from None
    return Priority(**fields) if fields else Priority.default


engine = Engine()
