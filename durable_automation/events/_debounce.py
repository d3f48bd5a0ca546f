"""Debounced event handlers: ``@on_event(name, debounce_window=..., debounce_key=...)``.

Built on the durable debounce (:mod:`._debounce_workflow`), not beside it:

* each debounced handler is also a task of the same name, whose function calls the
  handler with the batch (:class:`EventBatch`, a list of events in the order they
  occurred);
* when an event occurs, the client computes the handler's key (user code: off the
  engine's loop thread) and signals-with-start the debounce workflow
  ``debounce:<handler>:<key>`` with the event's wire form as the item and the event id
  as the item id, so a repeated delivery is dropped by the workflow while it runs:
  while the key's window is open, its batch runs, and for ``REMEMBER_IDS`` (or the
  window, if longer) after the key's last batch (the debounce "linger");
* after a quiet ``debounce_window`` (or ``max_wait`` after a window's first event) the
  workflow runs that task through ``durable_automation.run_task``: at least once,
  again if a worker dies, with the handler's ``retry``.

A batch's id (``EventBatch.batch_id``) is the debounce run's id and the window number:
the same on every attempt of one batch, different for every batch.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .._core.events import Event
from .._core.hooks import call_wrapped
from .._core.match import MissingValue, entity_value, key_string
from .._core.registry import registry
from .._core.wire import EventWire
from ..exceptions import DurableAutomationError, UnknownTaskError
from ..timers._tasks import resolve_task, task, task_info, unregister_task
from ..timers._wire import DEBOUNCE_WORKFLOW, DebounceSpec

if TYPE_CHECKING:
    from .._client.engine import Engine
    from .._client.run import Run
    from .._core.definitions import HandlerDefinition

__all__ = [
    "DebounceKey",
    "EventBatch",
    "acollect_event",
    "check_debounce_options",
    "debounce_key_for",
    "register_batch_task",
]

DebounceKey = Callable[[Event], Any] | str

# ``{{ event.data.guest_id }}``: a path on the Event, followed like agent match paths.
_PLACEHOLDER = re.compile(r"\{\{\s*event((?:\.[A-Za-z][A-Za-z0-9_]*)+)\s*\}\}")
_EVENT_FIELDS = frozenset(
    {"name", "id", "entity_type", "entity_id", "entity", "entity_ref", "data", "at", "scheduled"}
)
# Keys become part of a workflow id; a very long one is shortened with a digest.
_KEY_LIMIT = 200
# How long a key's debounce run stays open after its last batch, remembering event ids,
# so that an event delivered again after its batch ran (a relay retrying) is dropped.
REMEMBER_IDS = timedelta(minutes=10)


class EventBatch(list[Event]):
    """The events a debounced handler receives: one quiet window's events, in order.

    The order is the order the events occurred (``event.at``); events of the same
    instant, or without a time, keep the order they arrived in.

    It is a plain ``list[Event]`` with three more attributes.

    Attributes:
        batch_id: The same on every attempt of this batch (a worker that died mid-call
            makes the batch run again) and different for every other batch: use it to
            make the handler's effects idempotent.
        key: The debounce key the events share (``"null"`` when it rendered to ``None``).
        handler: The handler's name.
    """

    def __init__(self, events: Iterable[Event], *, batch_id: str, key: str, handler: str) -> None:
        super().__init__(events)
        self.batch_id = batch_id
        self.key = key
        self.handler = handler

    def __repr__(self) -> str:
        return (f"EventBatch({self.handler!r}, key={self.key!r}, batch_id={self.batch_id!r}, "
                f"events={[event.id for event in self]!r})")


# ── decoration time ──────────────────────────────────────────────────────────────


def _duration(value: Any, what: str, problems: list[str]) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        problems.append(f"{what} must be a timedelta (or seconds), got {value!r}")
        return None
    if value <= timedelta(0):
        problems.append(f"{what} must be positive, got {value}")
        return None
    return value


def _template_problems(template: str, label: str = "debounce_key") -> list[str]:
    paths = [match.group(1)[1:] for match in _PLACEHOLDER.finditer(template)]
    leftover = _PLACEHOLDER.sub("", template)
    if not paths:
        return [(f"{label} template {template!r} has no '{{{{ event.<field> }}}}' "
                 "placeholder (e.g. '{{ event.data.guest_id }}' or '{{ event.entity_id }}'); "
                 f"leave {label.split()[-1]} out to batch all events of the handler together")]
    if "{{" in leftover or "}}" in leftover:
        return [(f"{label} template {template!r} has a placeholder that is not "
                 "'{{ event.<field>[.<field>...] }}'")]
    problems = []
    for path in paths:
        head = path.split(".")[0]
        if head not in _EVENT_FIELDS:
            problems.append(
                f"{label} template {template!r}: event has no field {head!r} "
                f"(fields: {', '.join(sorted(_EVENT_FIELDS))})"
            )
    return problems


def key_problems(key: Any, label: str) -> list[str]:
    """Check a grouping key (debounce or batch): a ``{{ event.<field> }}`` template or a
    plain one-argument function of the event; ``label`` names the option in messages."""
    if isinstance(key, str):
        return _template_problems(key, label)
    if callable(key):
        if inspect.iscoroutinefunction(key):
            return [f"{label} {key!r} must be a plain function, not async: it runs on a "
                    "worker thread, where the ORM may be used"]
        if not _takes_one_argument(key):
            return [f"{label} {key!r} must take one argument, the event"]
        return []
    if key is not None:
        return [f"{label} must be a function of the event or a template like "
                f"'{{{{ event.data.guest_id }}}}', got {key!r}"]
    return []


def _takes_one_argument(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        return False
    except ValueError:
        return True  # no signature to read (some builtins): let the call tell
    return True


def check_debounce_options(
    kind: str,
    fn: Any,
    debounce_window: Any,
    debounce_key: Any,
    max_wait: Any,
    timeout: Any,
) -> tuple[timedelta | None, timedelta | None, list[str]]:
    """Check the debounce options of a handler decorator.

    Returns:
        The window and max_wait as timedeltas, and every problem found.
    """
    problems: list[str] = []
    if debounce_window is None:
        if debounce_key is not None:
            problems.append("debounce_key needs debounce_window (how long the events of a key "
                            "must be quiet before the handler runs)")
        if max_wait is not None:
            problems.append("max_wait needs debounce_window; it bounds how long a debounce "
                            "window may keep growing")
        return None, None, problems
    if kind != "occurred":
        decorator = "@on_event_created" if kind == "created" else "@on_event_cancelled"
        problems.append(f"{decorator} does not debounce; use @on_event(..., debounce_window=...)")
    window = _duration(debounce_window, "debounce_window", problems)
    limit = _duration(max_wait, "max_wait", problems)
    if window is not None and limit is not None and limit < window:
        problems.append(f"max_wait ({limit}) must be at least debounce_window ({window}): "
                        "a window could never be quiet before it is cut")
    problems.extend(key_problems(debounce_key, "debounce_key"))
    if timeout is not None:
        problems.append("timeout= cannot be combined with debounce_window: a batch call runs "
                        "with the STEP_TIMEOUT setting")
    if callable(fn) and not _takes_one_argument(fn):
        problems.append("a debounced handler is called with one argument, the list of events "
                        "of a window (def handler(events: list[Event]))")
    return window, limit, problems


def register_batch_task(handler: HandlerDefinition) -> None:
    """Register the task (named like the handler) that the debounce workflow flushes into.

    Call before the handler itself is registered: re-registering the task forgets the
    name, which the handler then claims again.

    Raises:
        RegistrationError: Another task or automation already has the handler's name.
    """
    register_handler_task(handler, _dispatch, _adispatch)


def register_handler_task(handler: HandlerDefinition, dispatch: Dispatch,
                          adispatch: AsyncDispatch) -> None:
    """Register the task (named like the handler) whose function calls ``dispatch`` (or,
    for an async handler, ``adispatch``) with the handler's name and a call's items."""
    try:
        existing = resolve_task(handler.name)
    except UnknownTaskError:
        existing = None
    if existing is not None and isinstance(existing.fn, functools.partial) and (
            existing.fn.func in (dispatch, adispatch)):
        unregister_task(handler.name)  # this module re-imported, or the handler redefined
    call: Callable[..., Any] = adispatch if inspect.iscoroutinefunction(handler.fn) else dispatch
    task_fn: Any = functools.partial(call, handler.name)
    # Same owner as the handler, so the name stays one automation's in the registry.
    task_fn.__module__ = handler.fn.__module__
    task_fn.__qualname__ = handler.fn.__qualname__
    task(handler.name, retry=handler.retry)(task_fn)


# ── when an event occurs (client side) ───────────────────────────────────────────


def _render(template: str, event: Event) -> str:
    def value(match: re.Match[str]) -> str:
        path = match.group(1)[1:]
        try:
            return key_string(entity_value(event, path.split(".")))
        except MissingValue as exc:
            raise DurableAutomationError(
                f"event {event.name!r} ({event.id}) has no {path!r} ({exc} is missing)"
            ) from None

    return _PLACEHOLDER.sub(value, template)


def _bounded(key: str) -> str:
    if len(key) <= _KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[:_KEY_LIMIT - 17]}~{digest}"


def debounce_key_for(handler: HandlerDefinition, event: Event) -> str:
    """The debounce key of ``event`` for ``handler`` (runs user code; call off the loop).

    Raises:
        DurableAutomationError: The key function raised, or the template names a field
            the event does not have.
    """
    return grouping_key(handler, event, handler.debounce_key, "debounce_key")


def grouping_key(handler: HandlerDefinition, event: Event, key: DebounceKey | None,
                 label: str) -> str:
    """``event``'s key by ``key`` (a template, a function, or ``None``: ``"all"``) for
    ``handler``; ``label`` names the option in the error (runs user code)."""
    try:
        if key is None:
            return "all"
        if isinstance(key, str):
            return _bounded(_render(key, event))
        return _bounded(key_string(key(event)))
    except Exception as exc:
        raise DurableAutomationError(
            f"The {label} of handler {handler.name!r} failed for event {event.name!r} "
            f"({event.id}): {type(exc).__name__}: {exc}"
        ) from exc


async def acollect_event(
    engine: Engine, handler: HandlerDefinition, event: Any, wire: EventWire
) -> Run:
    """Put ``event`` into the open window of its key for ``handler``.

    Returns:
        The debounce run of that key (its result: the key's status once it completed).
    """
    from .._client.run import Run
    from .._core.defaults import format_duration
    from ..timers._debounce_workflow import COLLECT_SIGNAL

    assert handler.debounce_window is not None
    subject = event if isinstance(event, Event) else Event.from_wire(wire)
    # The key function is user code (it may use the ORM; event.entity does): off the loop.
    key = await asyncio.to_thread(
        call_wrapped, functools.partial(debounce_key_for, handler, subject), ()
    )
    window, limit = handler.debounce_window, handler.max_wait
    workflow_id = f"debounce:{handler.name}:{key}"
    message = {"id": wire.id, "item": wire.model_dump(mode="json"),
               "window": window.total_seconds(),
               "max_wait": limit.total_seconds() if limit is not None else None,
               "linger": max(window, REMEMBER_IDS).total_seconds()}
    spec = DebounceSpec(task=handler.name, key=key, window=window, max_wait=limit)

    async def send() -> None:
        binding = engine._ensure()
        try:
            await binding.client.start_workflow(
                DEBOUNCE_WORKFLOW, spec, id=workflow_id,
                task_queue=await engine._queue_for(handler.name),  # a script's: its own
                start_signal=COLLECT_SIGNAL, start_signal_args=[message],
                static_summary=f"Debounce {handler.name} for {key} ({format_duration(window)})",
            )
        finally:
            engine._track(workflow_id)

    await engine._on_loop(send)
    return Run(engine, workflow_id, handler.name)


# ── when a window is flushed (worker side) ───────────────────────────────────────


def handler_batch(handler_name: str, items: list[Any], *, kind: str,
                  collects: Callable[[HandlerDefinition], bool],
                  ) -> tuple[HandlerDefinition, EventBatch]:
    """The handler and the batch a task call's ``items`` make; ``kind`` (``Debounced``,
    ``Batched``) names what ``collects`` tells apart, in the error raised otherwise."""
    handler = registry.handlers.get(handler_name)
    if handler is None or not collects(handler):
        raise ApplicationError(
            f"{kind} handler {handler_name!r} is not registered on this worker; import the "
            "module that defines it in the worker (AUTOMATION_MODULES)",
            type="UnknownAutomation", non_retryable=True,
        )
    try:
        events = [Event.from_wire(EventWire.model_validate(item)) for item in items]
    except ValueError as exc:
        raise ApplicationError(f"{handler_name}: a collected event does not decode: {exc}",
                               type="InvalidEvent", non_retryable=True) from None
    events = _in_occurrence_order(events)
    info = task_info()
    batch_id = f"{activity.info().workflow_run_id}:{info.tick}"
    return handler, EventBatch(events, batch_id=batch_id, key=info.key or "",
                               handler=handler_name)


def _in_occurrence_order(events: list[Event]) -> list[Event]:
    """Events by when they occurred, ties in arrival order.

    Deliveries may overlap (the Django relay delivers concurrently), so arrival order
    alone can swap two events that occurred a moment apart.
    """
    if any(event.at is None for event in events):
        return events
    try:
        return sorted(events, key=lambda event: event.at)  # type: ignore[arg-type,return-value]
    except TypeError:  # naive and aware times mixed: keep arrival order
        return events


Dispatch = Callable[[str, list[Any]], None]
AsyncDispatch = Callable[[str, list[Any]], Awaitable[None]]


def dispatchers(kind: str, collects: Callable[[HandlerDefinition], bool],
                ) -> tuple[Dispatch, AsyncDispatch]:
    """The task functions (for sync and for async handlers) that call a handler of
    ``kind`` with the batch its items make (see :func:`handler_batch`)."""

    def dispatch(handler_name: str, items: list[Any]) -> None:
        handler, batch = handler_batch(handler_name, items, kind=kind, collects=collects)
        handler.fn(batch)

    async def adispatch(handler_name: str, items: list[Any]) -> None:
        handler, batch = handler_batch(handler_name, items, kind=kind, collects=collects)
        await handler.fn(batch)

    return dispatch, adispatch


_dispatch, _adispatch = dispatchers("Debounced", lambda h: h.debounce_window is not None)
