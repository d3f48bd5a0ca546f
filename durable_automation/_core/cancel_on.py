"""``CancelOn``: cancel a run in flight when a matching event occurs (pure data and keys).

A ``CancelOn("reservation_cancelled", match={"id": "{{ ctx.reservation_id }}"})``
reads like an agent's match: each key is a Django-style lookup on the cancelling
event's entity (or its data, when it has no entity), each value a ``{{ ctx.field }}``
template or a literal.

Routing never scans runs. The ``exact`` template items make a *key*: a run, as it
starts, registers in the small index workflow of its key (computed from its Context);
the event computes the same key from its entity and reads that one index. Literal
items only filter events. Everything here is pure and deterministic: the workflow
(index ids at registration), the activity and the client use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .match import (
    MatchItem,
    MissingValue,
    compare,
    ctx_value,
    entity_value,
    key_string,
    parse_match,
)

__all__ = ["CANCEL_INDEX_WORKFLOW", "CancelOn", "cancel_index_id"]

CANCEL_INDEX_WORKFLOW = "durable_automation.cancel_on_index"
_KEY_LIMIT = 200


@dataclass(frozen=True)
class CancelOn:
    """Cancel a run in flight when ``event`` occurs and matches it.

    Args:
        event: The event that cancels.
        match: ``{lookup on the event's entity: "{{ ctx.field }}" or literal}``, the
            agents' match syntax. ``exact`` lookups on templates decide which runs an
            event reaches; literal items (any lookup) decide which events count.
            ``None``: every run of the automation in flight is cancelled.
        on_cancel: Name of a ``@step`` of the class to run once the run is cancelled
            by this event (its returned command is ignored; the run ends cancelled).
    """

    event: str
    match: Mapping[str, Any] | None = None
    on_cancel: str | None = None
    items: tuple[MatchItem, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        items, _ = parse_match(self.match if isinstance(self.match, Mapping) else None)
        object.__setattr__(self, "items", items)

    def problems(self) -> list[str]:
        """Everything wrong with this CancelOn (empty when it is usable)."""
        found: list[str] = []
        if not isinstance(self.event, str) or not self.event:
            found.append(f"CancelOn event must be a non-empty string, got {self.event!r}")
        if self.match is not None:
            found += [f"CancelOn({self.event!r}): {p}" for p in parse_match(self.match)[1]]
        for item in self.items:
            if item.ctx_field is not None and item.lookup != "exact":
                found.append(
                    f"CancelOn({self.event!r}): {item.expr!r} compares a Context template with "
                    f"{item.lookup!r}; only exact lookups can route by template (use a literal "
                    "for other comparisons)"
                )
        if self.on_cancel is not None and not isinstance(self.on_cancel, str):
            found.append(f"CancelOn({self.event!r}): on_cancel must name a step, got "
                         f"{self.on_cancel!r}")
        return found

    @property
    def key_items(self) -> tuple[MatchItem, ...]:
        """The template items: a run's key comes from its Context, an event's from its entity."""
        return tuple(item for item in self.items if item.ctx_field is not None)

    def run_key(self, context: Mapping[str, Any]) -> str | None:
        """The key a run with this Context registers under (``None``: a field is missing)."""
        try:
            values = [ctx_value(context, item.ctx_field or "") for item in self.key_items]
        except MissingValue:
            return None
        return _key(self.key_items, values)

    def event_key(self, entity: Any) -> str | None:
        """The key of the runs an event about ``entity`` cancels, or ``None`` when the
        event does not count (a literal item does not match, or a path is missing)."""
        try:
            for item in self.items:
                if item.ctx_field is None and not compare(
                    item.lookup, entity_value(entity, item.path), item.literal
                ):
                    return None
            values = [entity_value(entity, item.path) for item in self.key_items]
        except MissingValue:
            return None
        return _key(self.key_items, values)


def _key(items: tuple[MatchItem, ...], values: list[Any]) -> str:
    key = "&".join(f"{item.expr}={key_string(v)}" for item, v in zip(items, values, strict=True))
    key = key or "-"
    if len(key) > _KEY_LIMIT:
        key = f"{key[:_KEY_LIMIT - 17]}~{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return key


def cancel_index_id(automation: str, position: int, spec: CancelOn, key: str) -> str:
    """Workflow id of the index holding the runs of ``automation`` under ``key`` for its
    ``position``-th CancelOn."""
    return f"cancel-on:{automation}:{position}:{spec.event}:{key}"
