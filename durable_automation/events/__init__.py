"""Single-step event automations: ``@on_event``, ``@on_event_created``, ``@on_event_cancelled``.

A handler is a function that receives the event (``event.entity`` is the model
instance under Django). Each invocation is its own Temporal run, named after the
handler, with an id derived from the event, so a repeated delivery runs it once.

A debounced handler (``@on_event(name, debounce_window=..., debounce_key=...)``)
runs once per quiet window and key instead, and receives the window's events as an
:class:`EventBatch` (a ``list[Event]`` with a ``batch_id``).
"""

from __future__ import annotations

from .._core.batch import Batch
from .._core.definitions import HandlerDefinition
from .._core.events import Event
from .._core.hooks import set_entity_resolver
from . import _install  # noqa: F401 - plugs event handlers into the core
from ._debounce import EventBatch
from ._decorators import on_event, on_event_cancelled, on_event_created

__all__ = [
    "Batch",
    "Event",
    "EventBatch",
    "HandlerDefinition",
    "on_event",
    "on_event_cancelled",
    "on_event_created",
    "set_entity_resolver",
]

# Event claims live with agents (who hold them); re-exported here as the seed imports them.
from ..agents import claims

__all__ += ["claims"]
