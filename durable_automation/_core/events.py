"""Events as the core sees them, independent of Django.

An event has a name, an id, optionally an entity (``app_label.model`` + pk) and data.
``event.entity`` resolves the entity through the resolver installed in ``hooks``: the Django
integration installs one that loads the model instance via its ContentType.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..exceptions import DurableAutomationError
from .hooks import entity_resolver
from .wire import EventWire

__all__ = ["Event", "to_event_wire"]


@dataclass
class Event:
    """An event occurrence outside Django (``engine.emit``), or as a handler receives it.

    Attributes:
        name: Event name.
        id: Unique id of this occurrence.
        entity_type: ``app_label.model`` of the entity, if any.
        entity_id: The entity's primary key, as a string.
        data: Extra data; keys merge into the Context of runs waiting for this event.
        at: When it occurred (or is due).
    """

    name: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    entity_type: str | None = None
    entity_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    scheduled: bool = False
    _entity: Any = field(default=None, repr=False, compare=False)

    @property
    def entity(self) -> Any:
        """The entity this event is about, loaded on first access.

        Raises:
            DurableAutomationError: The event has no entity, or it cannot be resolved.
        """
        if self._entity is None:
            if self.entity_type is None or self.entity_id is None:
                raise DurableAutomationError(f"Event {self.name!r} ({self.id}) has no entity")
            resolver = entity_resolver()
            if resolver is None:
                raise DurableAutomationError(
                    f"Cannot load entity {self.entity_type}:{self.entity_id}: no entity "
                    "resolver is installed (add 'django_integration' to INSTALLED_APPS, or "
                    "pass entity= to engine.emit)"
                )
            self._entity = resolver(self.entity_type, self.entity_id)
        return self._entity

    @property
    def entity_ref(self) -> str:
        """``app_label.model:pk``, or ``-`` without an entity."""
        return self.wire().entity_ref

    def wire(self) -> EventWire:
        """The event's wire form."""
        return EventWire(
            id=str(self.id), name=self.name, entity_type=self.entity_type,
            entity_id=None if self.entity_id is None else str(self.entity_id),
            data=dict(self.data), at=self.at, scheduled=self.scheduled,
        )

    @classmethod
    def from_wire(cls, wire: EventWire) -> Event:
        """Rebuild an event from its wire form (the entity is loaded lazily)."""
        return cls(
            name=wire.name, id=wire.id, entity_type=wire.entity_type,
            entity_id=wire.entity_id, data=dict(wire.data), at=wire.at,
            scheduled=wire.scheduled,
        )


def to_event_wire(event: Any) -> EventWire:
    """Wire form of any event-like object (core ``Event`` or the Django ``Event`` model)."""
    if isinstance(event, EventWire):
        return event
    wire = getattr(event, "wire", None)
    if callable(wire):
        result = wire()
        if isinstance(result, EventWire):
            return result
    raise TypeError(f"{event!r} is not an event (it has no wire() method)")
