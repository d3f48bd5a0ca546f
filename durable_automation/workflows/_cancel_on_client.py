"""Cancel-on, outside the workflow: routing events to runs, and registering runs.

* :func:`on_event_occurred` is the engine's ``occurred`` event hook. For every
  ``CancelOn`` listening to the event it computes the key from the event's entity
  (or its data) and signals-with-start that key's index, which cancels its matching
  runs. One signal per event and CancelOn, whatever the number of runs in flight:
  routing costs the same with a hundred or ten thousand of them.
* :func:`register_cancel_on` is the (local) activity a run executes as it starts: it
  signals-with-start the index of each of its keys with the run and its start time.

A cancellation carries the reason ``cancel_on:<position>:<event id>``, so the run
knows which ``CancelOn`` (and ``on_cancel`` step) it was.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from temporalio import activity

from .._core.cancel_on import CANCEL_INDEX_WORKFLOW, cancel_index_id
from .._core.events import Event
from .._core.hooks import call_wrapped
from .._core.registry import registry
from .._core.wire import EventWire

if TYPE_CHECKING:
    from .._client.engine import Engine
    from .._client.run import Run

__all__ = ["REGISTER_ACTIVITY", "on_event_occurred", "register_cancel_on", "started_at_iso"]

REGISTER_ACTIVITY = "durable_automation.cancel_on_register"


# ── routing (client side) ────────────────────────────────────────────────────────


def _entity_of(wire: EventWire, event: Any) -> Any:
    """The event's entity, else its data (core events without a resolver match on data)."""
    try:
        return (event if event is not None else Event.from_wire(wire)).entity
    except Exception:  # noqa: BLE001 - no entity, or no resolver: match on the data
        return dict(wire.data)


def _keys(wire: EventWire, event: Any, targets: list[tuple[str, int, Any]]
          ) -> list[tuple[str, int, str]]:
    # Loading the entity and following match paths may hit the ORM: off the loop.
    entity = _entity_of(wire, event)
    found = []
    for automation, position, spec in targets:
        key = spec.event_key(entity)
        if key is not None:
            found.append((automation, position, cancel_index_id(automation, position, spec, key)))
    return found


async def on_event_occurred(eng: Engine, wire: EventWire, event: Any,
                            _claimed_by: str | None) -> list[Run]:
    """The ``occurred`` hook: tell each matching key's index, which cancels its runs in
    flight (claims do not matter). Returns no runs: the cancelling happens in the index."""
    targets = [(d.name, i, spec) for d in registry.workflows.values()
               for i, spec in enumerate(d.cancel_on) if spec.event == wire.name]
    if not targets:
        return []
    keys = await asyncio.to_thread(call_wrapped, functools.partial(_keys, wire, event, targets),
                                   ())
    if not keys:
        return []
    at = wire.at or await eng.anow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    client = await eng._aclient()

    async def route(automation: str, position: int, index: str) -> None:
        # One signal-with-start, durable once it returns: the index cancels the runs. It
        # runs where the automation's runs do (a script's own queue for a script's).
        await client.start_workflow(
            CANCEL_INDEX_WORKFLOW, {}, id=index, task_queue=await eng._queue_for(automation),
            start_signal="occurred",
            start_signal_args=[{"id": wire.id, "at": at.isoformat(), "position": position}],
            static_summary="Runs to cancel on an event",
        )

    await asyncio.gather(*(eng._on_loop(route, a, p, i) for a, p, i in keys))
    return []  # the runs are cancelled by their index, moments later


# ── registration (activity) ──────────────────────────────────────────────────────


@activity.defn(name=REGISTER_ACTIVITY)
async def register_cancel_on(request: dict[str, Any]) -> None:
    """Register a starting run in its indexes (``{"run_id", "started_at", "indexes":
    [{"id", "position"}]}``): one signal-with-start each, durable once it returns. An
    index that already saw a matching event that occurred after the run started cancels
    the run itself."""
    client = activity.client()
    task_queue = activity.info().task_queue
    for index in request.get("indexes", []):
        await client.start_workflow(
            CANCEL_INDEX_WORKFLOW, {}, id=str(index["id"]), task_queue=task_queue,
            start_signal="register",
            start_signal_args=[{"run_id": request["run_id"], "started_at": request["started_at"],
                                "position": index["position"]}],
            static_summary="Runs to cancel on an event",
        )


def started_at_iso(when: datetime) -> str:
    """A run's start time as the index compares it (aware, ISO)."""
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).isoformat()
