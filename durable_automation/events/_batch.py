"""Batched event handlers: ``@on_event(name, batch=Batch(max_size, timeout, key=...))``.

Built like the debounced handlers (``_debounce.py``), on a workflow of their own
(``_batch_workflow.py``):

* each batched handler is also a task of the same name, whose function calls the
  handler with the batch (an :class:`~._debounce.EventBatch`: the events in the order
  they occurred, with ``batch_id``, ``key`` and ``handler``);
* when an event occurs, the client computes its key (user code: off the engine's
  loop thread) and signals-with-start ``batch:<handler>:<key>`` with the event's wire
  form, its id making a repeated delivery a no-op;
* the workflow calls the task through ``durable_automation.run_task`` when a batch
  is full or its first event has waited ``timeout``: at least once, again if a worker
  dies, with the handler's ``retry``.

A batch's id is the batch workflow's run id and the batch's number: the same on
every attempt of one batch, different for every batch.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._core.batch import Batch
from .._core.events import Event
from .._core.hooks import call_wrapped
from .._core.wire import EventWire
from ._batch_workflow import BATCH_WORKFLOW, COLLECT_SIGNAL
from ._debounce import (
    REMEMBER_IDS,
    _takes_one_argument,
    dispatchers,
    grouping_key,
    key_problems,
    register_handler_task,
)

if TYPE_CHECKING:
    from .._client.engine import Engine
    from .._client.run import Run
    from .._core.definitions import HandlerDefinition

__all__ = ["MAX_BATCH_SIZE", "acollect_batch", "check_batch", "register_batched_task"]

MAX_BATCH_SIZE = 1000


# ── decoration time ──────────────────────────────────────────────────────────────


def check_batch(kind: str, fn: Any, batch: Any, *, debounced: bool, timeout: Any,
                on_failure: Any) -> list[str]:
    """Every problem with a handler's ``batch=`` (empty without one)."""
    if batch is None:
        return []
    if not isinstance(batch, Batch):
        return [f"batch must be a Batch(max_size, timeout, key=...), got {batch!r}"]
    problems: list[str] = []
    if kind != "occurred":
        decorator = "@on_event_created" if kind == "created" else "@on_event_cancelled"
        problems.append(f"{decorator} does not batch; use @on_event(..., batch=Batch(...))")
    if debounced:
        problems.append("batch= cannot be combined with debounce_window on one @on_event: "
                        "choose one (a batch is cut by size or time, a debounce by quiet)")
    size = batch.max_size
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_BATCH_SIZE:
        problems.append(f"Batch max_size must be an int from 1 to {MAX_BATCH_SIZE}, got {size!r}")
    if _timeout(batch) is None:
        problems.append(f"Batch timeout must be a positive timedelta (or seconds), got "
                        f"{batch.timeout!r}")
    problems.extend(key_problems(batch.key, "Batch key"))
    if timeout is not None:
        problems.append("timeout= cannot be combined with batch=: a batch call runs with the "
                        "STEP_TIMEOUT setting")
    if on_failure is not None:
        problems.append("on_failure= cannot be combined with batch=: a failed batch is "
                        "recorded on its batch workflow; handle errors inside the handler")
    if callable(fn) and not _takes_one_argument(fn):
        problems.append("a batched handler is called with one argument, the list of events "
                        "of a batch (def handler(events: list[Event]))")
    return problems


def _timeout(batch: Batch) -> timedelta | None:
    value = batch.timeout
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    return None


def register_batched_task(handler: HandlerDefinition) -> None:
    """Register the task (named like the handler) that the batch workflow calls.

    Call before the handler itself is registered: re-registering the task forgets the
    name, which the handler then claims again.
    """
    register_handler_task(handler, _dispatch, _adispatch)


# ── when an event occurs (client side) ───────────────────────────────────────────


def batch_key_for(handler: HandlerDefinition, event: Event) -> str:
    """The batch key of ``event`` for ``handler`` (user code; call off the loop).

    Raises:
        DurableAutomationError: The key function raised, or the template names a field
            the event does not have.
    """
    assert handler.batch is not None
    return grouping_key(handler, event, handler.batch.key, "Batch key")


async def acollect_batch(engine: Engine, handler: HandlerDefinition, event: Any,
                         wire: EventWire) -> Run:
    """Put ``event`` into the open batch of its key for ``handler``.

    Returns:
        The batch workflow of that key.
    """
    from .._client.run import Run

    assert handler.batch is not None
    timeout = _timeout(handler.batch)
    assert timeout is not None
    subject = event if isinstance(event, Event) else Event.from_wire(wire)
    key = await asyncio.to_thread(
        call_wrapped, functools.partial(batch_key_for, handler, subject), ())
    workflow_id = f"batch:{handler.name}:{key}"
    message = {"id": wire.id, "item": wire.model_dump(mode="json"),
               "max_size": handler.batch.max_size, "timeout": timeout.total_seconds(),
               "linger": max(timeout, REMEMBER_IDS).total_seconds()}
    spec = {"task": handler.name, "key": key, "max_size": handler.batch.max_size,
            "timeout": timeout.total_seconds()}

    async def send() -> None:
        binding = engine._ensure()
        try:
            await binding.client.start_workflow(
                BATCH_WORKFLOW, spec, id=workflow_id,
                task_queue=await engine._queue_for(handler.name),  # a script's: its own
                start_signal=COLLECT_SIGNAL, start_signal_args=[message],
                static_summary=f"Batches of {handler.name} for {key} "
                               f"(up to {handler.batch.max_size if handler.batch else '?'})",
            )
        finally:
            engine._track(workflow_id)

    await engine._on_loop(send)
    return Run(engine, workflow_id, handler.name)


def collector(debounced: Callable[..., Any]) -> Callable[..., Any]:
    """The engine's collector: batched handlers here, debounced ones to ``debounced``."""

    async def collect(engine: Engine, handler: HandlerDefinition, event: Any,
                      wire: EventWire) -> Run:
        if handler.batch is not None:
            return await acollect_batch(engine, handler, event, wire)
        result: Run = await debounced(engine, handler, event, wire)
        return result

    return collect


# ── when a batch is called (worker side) ─────────────────────────────────────────

_dispatch, _adispatch = dispatchers("Batched", lambda h: h.batch is not None)
