"""How the engine turns events into runs and wake-ups (the ``Engine``'s event methods).

An event occurs, is scheduled, rescheduled or cancelled: each stage starts or moves
the event workflows and handlers listening to it, wakes ``wait_for_event`` waiters,
and calls the event hooks of other subsystems (agents), every target reached even
when another fails (:class:`_Targets`). The claim filter's answer (who holds a claim
on the event) is asked once and passed to the hooks.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError
from temporalio.service import RPCError, RPCStatusCode

from .._core.definitions import HandlerDefinition, WorkflowDefinition
from .._core.events import Event, to_event_wire
from .._core.hooks import EventStage, call_wrapped, claim_filter, debounce_collector, event_hooks
from .._core.registry import registry
from .._core.wire import RESCHEDULE_SIGNAL, EventWire, StartInput
from ..exceptions import EventDeliveryError, InvalidContextError
from .run import Run

if TYPE_CHECKING:
    from .engine import Engine, _Binding

__all__ = ["EventRouting"]

T = TypeVar("T")


async def _run_hooks(stage: EventStage, eng: EventRouting, wire: EventWire, event: Any,
                     claimed_by: str | None = None) -> list[Run]:
    runs: list[Run] = []
    for hook in event_hooks(stage):
        runs.extend(await hook(eng, wire, event, claimed_by))
    return runs


class EventRouting:
    """The event half of :class:`~durable_automation._client.engine.Engine`."""

    if TYPE_CHECKING:  # provided by Engine
        def _ensure(self) -> _Binding: ...
        def _blocking(self, fn: Callable[..., Any], *args: Any, name: str,
                      kwargs: dict[str, Any] | None = None) -> Any: ...
        async def _on_loop(self, fn: Callable[..., Awaitable[T]], *args: Any,
                           **kwargs: Any) -> T: ...
        async def _start(self, name: str, run_id: str, start: StartInput, summary: str, *,
                         idempotent: bool = False) -> bool: ...
        async def anow(self) -> datetime: ...
        async def asignal(self, signal: str, payload: dict[str, Any] | None = None) -> int: ...

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
        return self._blocking(self.ahandle_event_occurred, event,
                              name="engine.handle_event_occurred")

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
        return self._blocking(self.ahandle_event_scheduled, event,
                              name="engine.handle_event_scheduled")

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
        return self._blocking(self.ahandle_event_rescheduled, event,
                              name="engine.handle_event_rescheduled")

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
        return self._blocking(self.ahandle_event_cancelled, event,
                              name="engine.handle_event_cancelled")

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
        return Run(cast("Engine", self), run_id, definition.name)

    async def _start_handler(
        self, handler: HandlerDefinition, wire: EventWire, event: Any = None
    ) -> Run:
        if handler.debounce_window is not None or handler.batch is not None:
            # into its key's window or batch: events/_debounce, events/_batch
            collect = debounce_collector()
            if collect is None:
                raise RuntimeError("Debounced handlers need durable_automation.events imported")
            return await collect(self, handler, event, wire)
        run_id = _event_run_id(handler.name, wire)
        summary = f"Handles event {wire.name} ({wire.entity_ref})"
        await self._on_loop(self._start, handler.name, run_id, StartInput(event=wire), summary,
                            idempotent=True)
        return Run(cast("Engine", self), run_id, handler.name)


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
