"""Who holds a claim on an event: the client side of claims (see ``_claims.py``).

The engine asks its claim filter (installed by ``_router.install``) before it routes
an occurred event, and passes the answer on to the agents' event hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._core.events import Event
from .._core.hooks import call_wrapped
from ._claims import book_id, event_keys
from ._store import directory_query

if TYPE_CHECKING:
    from .._client.engine import Engine
    from .._core.wire import EventWire

__all__ = ["claimant", "entity_of", "off_loop"]

T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run user-side code (the ORM, following a match path) on a thread, inside the call
    wrappers: the Django integration's wrapper closes the thread's database connection,
    which would otherwise stay open in the executor thread."""
    return await asyncio.to_thread(call_wrapped, fn, args)


_UNSET: Any = object()


async def claimant(eng: Engine, wire: EventWire, entity: Any = _UNSET, event: Any = None
                   ) -> str | None:
    """The holder of a claim covering this event, or ``None``.

    The entity is loaded (from ``event``) only when the event's claims book has claims.
    """
    client = (await eng._aclient())
    shapes = await eng._on_loop(directory_query, client, book_id(wire.name), "shapes")
    if not shapes:
        return None
    if entity is _UNSET:
        entity = await off_loop(entity_of, wire, event)
    keys = await off_loop(event_keys, shapes, entity)
    if not keys:
        return None
    found = await eng._on_loop(directory_query, client, book_id(wire.name), "get", keys)
    return next((found[k] for k in keys if found and k in found), None)


def entity_of(wire: EventWire, event: Any = None) -> Any:
    """The event's entity, else its data (so core events without a resolver still match)."""
    try:
        if event is not None:
            return event.entity
        return Event.from_wire(wire).entity
    except Exception:  # noqa: BLE001 - no entity, or no resolver: match on the data
        return dict(wire.data)
