"""Custom search attributes: filter runs in the Temporal UI by automation, kind, entity,
current step and what they wait for (e.g. ``DaEntity = "hotel.reservation:42"``).

Only set when the ``SEARCH_ATTRIBUTES`` setting is on: the server must have them
registered (the dev stack registers them; on a real cluster run
``temporal operator search-attribute create --name DaAutomation --type Keyword`` for each).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

__all__ = ["AUTOMATION", "ENTITY", "KIND", "STEP", "WAITING_FOR", "for_start"]

AUTOMATION = SearchAttributeKey.for_keyword("DaAutomation")
KIND = SearchAttributeKey.for_keyword("DaKind")
ENTITY = SearchAttributeKey.for_keyword("DaEntity")
STEP = SearchAttributeKey.for_keyword("DaStep")
WAITING_FOR = SearchAttributeKey.for_keyword("DaWaitingFor")


def for_start(automation: str, kind: str, entity: str | None = None) -> TypedSearchAttributes:
    """The attributes a run starts with."""
    pairs = [SearchAttributePair(AUTOMATION, automation), SearchAttributePair(KIND, kind)]
    if entity and entity != "-":
        pairs.append(SearchAttributePair(ENTITY, entity))
    return TypedSearchAttributes(pairs)
