"""Client calls for scheduled events' durable timers: start, move, cancel.

A scheduled event (a Django model's ``date_field`` event) waits in a workflow of its
own, ``durable_automation.scheduled_event``, with id
``event:<name>:<entity_ref>:<event_id>``. That workflow and the activity it runs when
the event is due belong to the Django integration (``django_integration/_timer.py``
and ``_fire.py``), which registers them as its worker component: the path of a
scheduled event goes one way, Django calling the core. What lives here is what the
integration asks the engine to do with a timer: start it, move it (the ``move``
signal) and cancel it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.wire import EventWire, StartInput

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "MOVE_SIGNAL",
    "SCHEDULED_EVENT_WORKFLOW",
    "acancel_timer",
    "amove_timer",
    "astart_timer",
    "timer_id",
]

SCHEDULED_EVENT_WORKFLOW = "durable_automation.scheduled_event"
MOVE_SIGNAL = "move"


def timer_id(wire: EventWire) -> str:
    """Workflow id of a scheduled event's timer: ``event:<name>:<entity_ref>:<event_id>``."""
    return f"event:{wire.name}:{wire.entity_ref}:{wire.id}"


# ── called by the Django integration's delivery ─────────────────────────────────────


async def astart_timer(engine: Engine, wire: EventWire) -> bool:
    """Start the timer of a scheduled event; return False when it already exists/existed."""
    summary = f"Scheduled event {wire.name} ({wire.entity_ref})"
    return await engine._on_loop(
        engine._start, SCHEDULED_EVENT_WORKFLOW, timer_id(wire),
        StartInput(event=wire, start_at=wire.at), summary, idempotent=True,
    )


async def amove_timer(engine: Engine, wire: EventWire) -> None:
    """Move a scheduled event's timer to ``wire.at`` (starting it if it does not exist)."""
    from temporalio.service import RPCError, RPCStatusCode

    assert wire.at is not None
    client = await engine._aclient()
    handle = client.get_workflow_handle(timer_id(wire))
    try:
        await engine._on_loop(handle.signal, MOVE_SIGNAL, wire.at.isoformat())
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        await astart_timer(engine, wire)  # no timer yet (or it already fired: a no-op)


async def acancel_timer(engine: Engine, wire: EventWire) -> None:
    """Cancel a scheduled event's timer (nothing happens if it already ended)."""
    from temporalio.service import RPCError, RPCStatusCode

    client = await engine._aclient()
    handle = client.get_workflow_handle(timer_id(wire))
    try:
        await engine._on_loop(handle.cancel)
    except RPCError as err:
        if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
