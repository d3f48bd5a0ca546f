"""The engine: the client-side entry point that starts runs, sends signals and routes events.

There is one module-level ``engine``. It connects lazily with the settings the first
time it is used, or is bound to a given client (the worker and ``time_machine`` do
that). Every method that talks to Temporal has an ``a``-prefixed async twin.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .._core import search
from .._core.channels import hub_id
from .._core.definitions import HandlerDefinition, WorkflowDefinition
from .._core.events import Event, to_event_wire
from .._core.hooks import EventStage, call_wrapped, claim_filter, debounce_collector, event_hooks
from .._core.registry import registry
from .._core.runtime import LoopThread, call_async, call_sync
from .._core.settings import get_settings
from .._core.wire import RESCHEDULE_SIGNAL, DeliverRequest, EventWire, StartInput
from ..exceptions import EventDeliveryError, InvalidContextError, SignalPayloadError
from .connect import connect
from .run import Run

__all__ = ["Engine", "engine"]

T = TypeVar("T")

async def _run_hooks(stage: EventStage, eng: Engine, wire: EventWire, event: Any,
                     claimed_by: str | None = None) -> list[Run]:
    runs: list[Run] = []
    for hook in event_hooks(stage):
        runs.extend(await hook(eng, wire, event, claimed_by))
    return runs


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


class Engine:
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
        attributes = None
        if get_settings().search_attributes:
            kind = registry.workflows[name].kind if name in registry.workflows else "handler"
            attributes = search.for_start(name, kind, start.event.entity_ref if start.event else None)
        try:
            await binding.client.start_workflow(
                name, start, id=run_id, task_queue=binding.task_queue,
                static_summary=summary, search_attributes=attributes,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE if idempotent
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING if idempotent
                else WorkflowIDConflictPolicy.FAIL,
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
            raise SignalPayloadError(f"A signal payload must be a dict, got {type(payload).__name__}")
        return await self._on_loop(self._deliver, signal, payload)

    def signal(self, signal: str, payload: dict[str, Any] | None = None) -> int:
        """Sync twin of :meth:`asignal`."""
        return self._blocking(self.asignal, signal, payload, name="engine.signal")

    async def _deliver(self, signal: str, payload: dict[str, Any] | None) -> int:
        binding = self._ensure()
        handle = binding.client.get_workflow_handle(hub_id(binding.task_queue, signal))
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

    # ── events ───────────────────────────────────────────────────────────────────

    async def aemit(
        self,
        name: str,
        *,
        entity: Any = None,
        entity_type: str | None = None,
        entity_id: Any = None,
        data: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> list[Run]:
        """Emit an event from code outside Django and handle it as occurred now.

        Args:
            name: Event name.
            entity: The object the event is about (``event.entity`` returns it).
            entity_type: ``app_label.model`` of the entity (for readable run ids).
            entity_id: The entity's id.
            data: Extra data; merges into waiting Contexts where fields exist.
            id: Occurrence id; emitting the same id twice starts nothing twice.

        Returns:
            The runs the event started.
        """
        if entity is not None and entity_id is None:
            entity_id = getattr(entity, "pk", getattr(entity, "id", None))
        if entity is not None and entity_type is None:
            meta = getattr(entity, "_meta", None)
            entity_type = meta.label_lower if meta is not None else type(entity).__name__.lower()
        event = Event(
            name=name, id=id or uuid.uuid4().hex, entity_type=entity_type,
            entity_id=None if entity_id is None else str(entity_id), data=dict(data or {}),
            at=await self.anow(), _entity=entity,
        )
        return await self.ahandle_event_occurred(event)

    def emit(self, name: str, **kwargs: Any) -> list[Run]:
        """Sync twin of :meth:`aemit`."""
        return self._blocking(self.aemit, name, name="engine.emit", kwargs=kwargs)

    async def ahandle_event_occurred(self, event: Any) -> list[Run]:
        """An event occurred: start its event workflows and handlers, wake its waiters.

        Safe to call more than once for the same event: run ids are derived from the
        event, so a repeated delivery starts nothing twice.

        Raises:
            EventDeliveryError: Some targets could not be reached; every other target was.
        """
        wire = to_event_wire(event)
        claims = claim_filter()
        claimed_by = await claims(self, wire, event) if claims is not None else None
        targets = _Targets(wire.name)
        if claimed_by is None:
            for definition in registry.event_workflows(wire.name):
                if definition.offset < timedelta(0) and wire.scheduled:
                    continue  # started, waiting, when the event was scheduled
                await targets.run(definition.name,
                                  self._start_event_workflow(definition, event, wire))
        for handler in registry.event_handlers(wire.name, "occurred"):
            if claimed_by is None or handler.ignores_claims:
                await targets.run(handler.name, self._start_handler(handler, wire, event))
        await targets.runs_of("agents", _run_hooks("occurred", self, wire, event, claimed_by))
        if claimed_by is None:
            await targets.reach("waiters", self.asignal(f"event:{wire.name}", dict(wire.data)))
        return targets.done()

    def handle_event_occurred(self, event: Any) -> list[Run]:
        """Sync twin of :meth:`ahandle_event_occurred`."""
        return self._blocking(self.ahandle_event_occurred, event, name="engine.handle_event_occurred")

    async def ahandle_event_scheduled(self, event: Any, *, announce_only: bool = False
                                      ) -> list[Run]:
        """A scheduled event was created (or re-created): run ``@on_event_created`` handlers
        and start event workflows with negative offsets, waiting until ``at + offset``.

        Args:
            event: The event.
            announce_only: Run only the ``@on_event_created`` handlers (the event was
                cancelled before it was ever forwarded: nothing must wait for it).
        """
        wire = to_event_wire(event)
        targets = _Targets(wire.name)
        for handler in registry.event_handlers(wire.name, "created"):
            await targets.run(handler.name, self._start_handler(handler, wire))
        if announce_only:
            return targets.done()
        for definition in registry.event_workflows(wire.name):
            if definition.offset < timedelta(0):
                await targets.run(definition.name,
                                  self._start_event_workflow(definition, event, wire))
        await targets.runs_of("agents", _run_hooks("scheduled", self, wire, event))
        return targets.done()

    def handle_event_scheduled(self, event: Any) -> list[Run]:
        """Sync twin of :meth:`ahandle_event_scheduled`."""
        return self._blocking(self.ahandle_event_scheduled, event, name="engine.handle_event_scheduled")

    async def ahandle_event_rescheduled(self, event: Any) -> int:
        """A scheduled event's time moved: move every run waiting for ``at + offset``.

        Returns:
            How many waiting runs were moved.
        """
        wire = to_event_wire(event)
        targets = _Targets(wire.name)
        for definition in registry.event_workflows(wire.name):
            if definition.offset < timedelta(0) and wire.at is not None:
                run_id = _event_run_id(definition.name, wire)
                await targets.reach(definition.name, self._on_loop(
                    self._signal_if_exists, run_id, RESCHEDULE_SIGNAL, wire.at + definition.offset))
        await targets.runs_of("agents", _run_hooks("rescheduled", self, wire, event))
        return targets.reached + len(targets.done())

    def handle_event_rescheduled(self, event: Any) -> int:
        """Sync twin of :meth:`ahandle_event_rescheduled`."""
        return self._blocking(self.ahandle_event_rescheduled, event, name="engine.handle_event_rescheduled")

    async def ahandle_event_cancelled(self, event: Any) -> list[Run]:
        """A scheduled event was cancelled: cancel runs waiting for it, run cancel handlers.

        Raises:
            EventDeliveryError: Some targets could not be reached (a waiting run whose
                cancellation failed, say, because Temporal is unreachable); every other
                target was. A run that never started, or already ended, is not an error.
        """
        wire = to_event_wire(event)
        targets = _Targets(wire.name)
        for definition in registry.event_workflows(wire.name):
            if definition.offset < timedelta(0):
                await targets.reach(definition.name, self._on_loop(
                    self._cancel_if_running, _event_run_id(definition.name, wire)))
        for handler in registry.event_handlers(wire.name, "cancelled"):
            await targets.run(handler.name, self._start_handler(handler, wire))
        await targets.runs_of("agents", _run_hooks("cancelled", self, wire, event))
        return targets.done()

    async def _signal_if_exists(self, run_id: str, signal: str, arg: Any) -> bool:
        """Signal a run; ``False`` when it does not exist (it never started)."""
        try:
            await self._ensure().client.get_workflow_handle(run_id).signal(signal, arg)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return False
        return True

    async def _cancel_if_running(self, run_id: str) -> bool:
        """Cancel a run; one that never started or already ended needs nothing (False)."""
        try:
            await self._ensure().client.get_workflow_handle(run_id).cancel()
        except RPCError as err:
            if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            return False
        return True

    def handle_event_cancelled(self, event: Any) -> list[Run]:
        """Sync twin of :meth:`ahandle_event_cancelled`."""
        return self._blocking(self.ahandle_event_cancelled, event, name="engine.handle_event_cancelled")

    async def _start_event_workflow(
        self, definition: WorkflowDefinition, event: Any, wire: EventWire
    ) -> Run:
        run_id = _event_run_id(definition.name, wire)
        # User code (event.entity hits the ORM): off the loop thread.
        context = await _user_code(definition.create_context, event=event)
        start_at = None
        if definition.offset:
            start_at = (wire.at or await self.anow()) + definition.offset
        start = StartInput(context=_dump(context), start_at=start_at, event=wire)
        summary = f"Started by event {wire.name} ({wire.entity_ref})"
        await self._on_loop(self._start, definition.name, run_id, start, summary, idempotent=True)
        return Run(self, run_id, definition.name)

    async def _start_handler(
        self, handler: HandlerDefinition, wire: EventWire, event: Any = None
    ) -> Run:
        if handler.debounce_window is not None:  # into its key's window: events/_debounce
            collect = debounce_collector()
            if collect is None:
                raise RuntimeError("Debounced handlers need durable_automation.events imported")
            return await collect(self, handler, event, wire)
        run_id = _event_run_id(handler.name, wire)
        summary = f"Handles event {wire.name} ({wire.entity_ref})"
        await self._on_loop(self._start, handler.name, run_id, StartInput(event=wire), summary,
                            idempotent=True)
        return Run(self, run_id, handler.name)


class _Targets:
    """Reaches every target of one event stage; a target that fails never keeps the
    others from the event. ``done()`` raises :class:`EventDeliveryError` naming the
    failed ones (a repeated delivery starts nothing twice at the targets reached)."""

    def __init__(self, event_name: str) -> None:
        self.event_name = event_name
        self.runs: list[Run] = []
        self.failures: dict[str, BaseException] = {}
        self.delivered = 0
        self.reached = 0  # by reach(): signalled, cancelled, woken

    async def reach(self, target: str, call: Awaitable[Any]) -> None:
        """Await ``call``; a truthy result (woken, moved, cancelled) counts as reached."""
        try:
            if await call:
                self.delivered += 1
                self.reached += 1
        except Exception as exc:  # noqa: BLE001 - collected, raised together by done()
            self.failures[target] = exc

    async def run(self, target: str, call: Awaitable[Run]) -> None:
        try:
            self.runs.append(await call)
        except Exception as exc:  # noqa: BLE001 - collected, raised together by done()
            self.failures[target] = exc
        else:
            self.delivered += 1

    async def runs_of(self, target: str, call: Awaitable[list[Run]]) -> None:
        try:
            runs = await call
        except Exception as exc:  # noqa: BLE001 - collected, raised together by done()
            self.failures[target] = exc
        else:
            self.runs.extend(runs)
            self.delivered += bool(runs)

    def done(self) -> list[Run]:
        if self.failures:
            raise EventDeliveryError(self.event_name, self.failures, self.delivered)
        return self.runs


async def _user_code(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run user code (``create_context``) on a thread, inside the call wrappers: the Django
    integration's wrapper closes the thread's database connection afterwards, which
    would otherwise stay open in the executor thread (and block dropping a test DB)."""
    return await asyncio.to_thread(call_wrapped, functools.partial(fn, **kwargs), ())


def _event_run_id(automation: str, wire: EventWire) -> str:
    return f"{automation}:{wire.entity_ref}:{wire.id}"


def _dump(context: BaseModel) -> dict[str, Any]:
    try:
        return context.model_dump(mode="json")
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        raise InvalidContextError(type(context).__qualname__, str(exc)) from None


engine = Engine()
