"""``EventDefinition``: what a model declares in its ``events`` list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from durable_automation.exceptions import DefinitionError

__all__ = ["Evaluation", "EventDefinition"]


@dataclass(frozen=True)
class Evaluation:
    """The result of checking an event definition against one model instance.

    Attributes:
        holds: The condition is true (and, for scheduled events, the date is set).
        at: For scheduled events: when it is due (``None`` = no date, no event).
        data: The event's data.
        error: Why the condition (or ``data``) could not be evaluated; ``holds`` is False.
    """

    holds: bool
    at: Any = None
    data: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, init=False)
class EventDefinition:
    """An event a model declares: immediate (``condition``) or scheduled (``date_field``).

    Args:
        name: Event name (``@on_event(name)``, ``@event_workflow(name)`` listen to it).
        condition: ``instance -> bool``. Immediate events occur after the commit that
            makes it true (once per instance); scheduled events are only scheduled while
            it is true, and it is checked again when they are due. Default: always true.
        date_field: Name of a ``DateTimeField``: makes this a scheduled event, due then.
            A null date means no event.
        data: ``instance -> dict``: extra data carried by the event; keys merge into the
            Context of runs woken by ``wait_for_event(name)`` where the field exists.
    """

    name: str
    condition: Callable[[Any], Any] | None
    date_field: str | None
    data: Callable[[Any], dict[str, Any]] | None

    def __init__(
        self,
        name: str,
        *,
        condition: Callable[[Any], Any] | None = None,
        date_field: str | None = None,
        data: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        problems = []
        if not isinstance(name, str) or not name.strip():
            problems.append(f"the event name must be a non-empty string, got {name!r}")
        if condition is not None and not callable(condition):
            problems.append(f"condition must be a callable taking the instance, got {condition!r}")
        if date_field is not None and (not isinstance(date_field, str) or not date_field):
            problems.append(f"date_field must be a field name, got {date_field!r}")
        if data is not None and not callable(data):
            problems.append(f"data must be a callable returning a dict, got {data!r}")
        if problems:
            raise DefinitionError(f"EventDefinition({name!r})", problems)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "condition", condition)
        object.__setattr__(self, "date_field", date_field)
        object.__setattr__(self, "data", data)

    @property
    def scheduled(self) -> bool:
        """Whether this is a scheduled (``date_field``) event."""
        return self.date_field is not None

    def evaluate(self, instance: Any) -> Evaluation:
        """Check the condition (and read the date) on ``instance``; never raises."""
        try:
            holds = True if self.condition is None else bool(self.condition(instance))
        except Exception as exc:  # noqa: BLE001 - a user's condition must not break save()
            return Evaluation(False, error=f"condition raised {type(exc).__name__}: {exc}")
        at = None
        if self.date_field is not None:
            at = getattr(instance, self.date_field, None)
            holds = holds and at is not None
        data: dict[str, Any] | None = None
        if holds and self.data is not None:
            try:
                data = dict(self.data(instance))
            except Exception as exc:  # noqa: BLE001
                return Evaluation(False, at=at, error=f"data raised {type(exc).__name__}: {exc}")
        return Evaluation(holds, at=at, data=data)

    def __repr__(self) -> str:
        extra = f", date_field={self.date_field!r}" if self.date_field else ""
        return f"EventDefinition({self.name!r}{extra})"
