"""Debounced @on_event handlers fed by Django model events (the relay's path)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from durable_automation._core.registry import registry
from durable_automation.events import EventBatch, on_event
from durable_automation.timers._tasks import unregister_task
from tests.django_integration.testapp.models import DocUpload
from tests.helpers.polling import eventually

BATCHES: list[tuple[str, list[str]]] = []


@pytest.fixture
def debounced_uploads() -> Iterator[None]:
    """Registered for this test only: other tests' tb_docs_uploaded events stay untouched."""

    # The key reaches the entity through the ORM: it must run off the engine's loop.
    @on_event("tb_docs_uploaded", debounce_window=timedelta(seconds=1),
              debounce_key="{{ event.entity.reservation_id }}")
    def tb_uploads_per_reservation(events: EventBatch) -> None:
        BATCHES.append((events.key, [event.entity_id or "" for event in events]))

    BATCHES.clear()
    try:
        yield
    finally:
        unregister_task("tb_uploads_per_reservation")
        registry.unregister("tb_uploads_per_reservation")


def test_model_events_are_batched_per_key(debounced_uploads, dev_worker, outbox):
    first = [DocUpload.objects.create(reservation_id=1) for _ in range(3)]
    second = [DocUpload.objects.create(reservation_id=2) for _ in range(2)]
    eventually(lambda: len(BATCHES) == 2, timeout=30, message=repr(BATCHES))
    assert sorted(BATCHES) == [("1", [str(u.pk) for u in first]),
                               ("2", [str(u.pk) for u in second])]
