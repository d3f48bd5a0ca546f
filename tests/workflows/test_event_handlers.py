"""@on_event handlers started by engine.emit: run once per occurrence, with the entity."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from durable_automation import Retry, RunFailedError, engine, on_event
from durable_automation.events import Event, set_entity_resolver

SEEN: list[tuple[str, int, dict]] = []


@on_event(event_name="evt_booking_paid")
def record_payment(event: Event) -> None:
    SEEN.append((event.name, event.entity.id, dict(event.data)))


@on_event("evt_always_broken", retry=Retry(max_attempts=2))
def always_broken(event: Event) -> None:
    raise RuntimeError("handler bug")


@pytest.fixture
def bookings():
    """Handlers run in the worker: the entity is loaded there by the installed resolver."""
    table = {"5": SimpleNamespace(id=5, pk=5)}
    set_entity_resolver(lambda entity_type, entity_id: table[entity_id])
    yield table
    set_entity_resolver(None)


def test_handler_runs_once_per_occurrence_with_entity_and_data(time_machine, bookings):
    SEEN.clear()
    booking = bookings["5"]
    [run] = engine.emit("evt_booking_paid", entity=booking, entity_type="hotel.booking",
                        data={"amount": 10}, id="pay-1")
    assert run.id == "record_payment:hotel.booking:5:pay-1"
    run.result(timeout=20)
    # Delivered again (a relay retry): same run id, the handler does not run again.
    [again] = engine.emit("evt_booking_paid", entity=booking, entity_type="hotel.booking",
                          data={"amount": 10}, id="pay-1")
    assert again.id == run.id
    again.result(timeout=20)
    assert SEEN == [("evt_booking_paid", 5, {"amount": 10})]


def test_handler_that_raises_forever_is_bounded_by_its_retry(time_machine):
    [run] = engine.emit("evt_always_broken")
    time_machine.advance(seconds=1)
    with pytest.raises(RunFailedError, match="handler bug"):
        run.result(timeout=20)
    assert run.status() == "failed"
