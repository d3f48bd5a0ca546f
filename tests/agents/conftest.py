"""Fixtures for agent tests: an in-memory entity store standing in for Django's ORM."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from durable_automation._core import hooks
from durable_automation.events import set_entity_resolver


class World:
    """Entities by ``(entity_type, id)``; the installed resolver loads them for ``event.entity``."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Any] = {}

    def add(self, entity_type: str, **fields: Any) -> SimpleNamespace:
        obj = SimpleNamespace(**fields)
        obj.pk = fields["id"]
        obj.entity_type = entity_type
        self.objects[(entity_type, str(fields["id"]))] = obj
        return obj

    def resolve(self, entity_type: str, entity_id: str) -> Any:
        return self.objects[(entity_type, str(entity_id))]


@pytest.fixture
def world() -> Iterator[World]:
    """Install a resolver over an in-memory store (restoring whatever was installed before)."""
    store = World()
    previous = hooks.entity_resolver()
    set_entity_resolver(store.resolve)
    try:
        yield store
    finally:
        set_entity_resolver(previous)
