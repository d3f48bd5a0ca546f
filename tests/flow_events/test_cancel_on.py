"""cancel_on=[CancelOn(...)]: matching runs in flight are cancelled by an event, run their
on_cancel step, and runs that start after the event are not touched (time-skipping server)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from durable_automation import (
    CancelOn,
    DefinitionError,
    RunCancelledError,
    complete,
    engine,
    event_workflow,
    get_context,
    sleep,
    step,
    workflow,
)
from durable_automation.testing import TimeMachine
from tests.helpers.polling import eventually

RELEASED: list[tuple[str, str]] = []


@event_workflow("co_reservation_made", name="co_hold_room", cancel_on=[
    CancelOn("co_reservation_cancelled", match={"id": "{{ ctx.reservation_id }}"},
             on_cancel="release_room"),
    CancelOn("co_hotel_closed", match={"hotel": "{{ ctx.hotel }}", "status": "closed"}),
    CancelOn("co_hotel_closed", match={"hotel__name": "{{ ctx.hotel }}",
                                       "hotel__status__in": ["closed", "gone"]}),
])
class HoldRoom:
    class Context(BaseModel):
        reservation_id: int
        hotel: str = "h1"
        reminded: bool = False

    @classmethod
    def create_context(cls, event=None, **kwargs):
        return cls.Context(reservation_id=event.data["id"], hotel=event.data.get("hotel", "h1"))

    @step(start=True)
    def hold(self, ctx):
        if ctx.reminded:
            return complete(reservation=ctx.reservation_id)
        ctx.reminded = True
        return sleep(timedelta(days=2))

    @step()
    def release_room(self, ctx):
        RELEASED.append((str(ctx.reservation_id), get_context().hotel))


@pytest.fixture(autouse=True)
def _clean() -> None:
    RELEASED.clear()


def _start(time_machine: TimeMachine, reservation: int, hotel: str = "h1"):
    (run,) = engine.emit("co_reservation_made", data={"id": reservation, "hotel": hotel})
    # Sleeping: the time-skipping server cannot cancel a run mid-step (the dev server
    # can: test_cancel_on_dev.py).
    eventually(lambda: run.state().phase == "sleeping", timeout=20)
    time_machine.settle()
    return run


def test_a_matching_event_cancels_only_its_run_and_runs_on_cancel(
    time_machine: TimeMachine,
) -> None:
    first, second = _start(time_machine, 1), _start(time_machine, 2)
    engine.emit("co_reservation_cancelled", data={"id": 1})
    with pytest.raises(RunCancelledError):
        first.result(timeout=20)
    assert first.status() == "cancelled"
    assert RELEASED == [("1", "h1")]
    assert second.status() in ("running", "waiting")
    assert second.result(timeout=20) == {"reservation": 2}


def test_literal_items_filter_events_and_no_on_cancel_runs_without_one(
    time_machine: TimeMachine,
) -> None:
    run = _start(time_machine, 3, hotel="h7")
    engine.emit("co_hotel_closed", data={"hotel": "h7", "status": "open"})
    engine.emit("co_hotel_closed", data={"hotel": "h8", "status": "closed"})
    time_machine.settle()
    assert run.status() == "waiting"
    engine.emit("co_hotel_closed", data={"hotel": "h7", "status": "closed"})
    with pytest.raises(RunCancelledError):
        run.result(timeout=20)
    assert RELEASED == []


def test_a_run_that_starts_after_the_event_is_not_cancelled(time_machine: TimeMachine) -> None:
    engine.emit("co_reservation_cancelled", data={"id": 4})
    time_machine.advance(seconds=5)
    run = _start(time_machine, 4)
    assert run.result(timeout=20) == {"reservation": 4}
    assert RELEASED == []


# ── decoration time ──────────────────────────────────────────────────────────────


class _Ctx(BaseModel):
    reservation_id: int = 0


def _define(cancel_on) -> None:
    class Bad:
        Context = _Ctx

        @step(start=True)
        def go(self, ctx):
            return None

    workflow("co_bad", cancel_on=cancel_on)(Bad)


@pytest.mark.parametrize(("cancel_on", "message"), [
    ([CancelOn("x", match={"id__gt": "{{ ctx.reservation_id }}"})],
     "only exact lookups can route by template"),
    ([CancelOn("x", match={"id": "{{ ctx.reservation_id }} and more"})],
     "must be exactly one template"),
    ([CancelOn("x", on_cancel="nope")], "on_cancel names step 'nope', which does not exist"),
    ([CancelOn("", match={"id": 1})], "CancelOn event must be a non-empty string"),
    (["reservation_cancelled"], "cancel_on items must be CancelOn"),
    ("reservation_cancelled", "cancel_on must be a list of CancelOn"),
])
def test_bad_cancel_on_fails_at_decoration_naming_the_class(cancel_on, message) -> None:
    with pytest.raises(DefinitionError, match="Bad") as info:
        _define(cancel_on)
    assert message in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(DefinitionError) as info:
        _define([CancelOn("x", match={"id__lt": "{{ ctx.a }}"}, on_cancel="nope"), "y"])
    text = str(info.value)
    assert "only exact lookups" in text and "'nope'" in text and "must be CancelOn" in text


def test_a_terminated_run_is_dropped_from_its_index_by_the_next_event(
    time_machine: TimeMachine,
) -> None:
    run = _start(time_machine, 6)
    index = "cancel-on:co_hold_room:0:co_reservation_cancelled:id=6"
    client = time_machine.env.client  # type: ignore[union-attr]
    entries = time_machine._run(client.get_workflow_handle(index).query("entries"))
    assert list(entries["runs"]) == [run.id]
    time_machine._run(client.get_workflow_handle(run.id).terminate("test"))  # runs no code
    engine.emit("co_reservation_cancelled", data={"id": 6})
    eventually(lambda: time_machine._run(
        client.get_workflow_handle(index).query("entries"))["runs"] == {}, timeout=20)
    assert run.status() == "cancelled"  # terminated: the Run API reports it as cancelled
    assert RELEASED == []


def test_match_follows_relations_of_the_event_entity(time_machine: TimeMachine) -> None:
    run = _start(time_machine, 7, hotel="h9")
    hotel = SimpleNamespace(name="h9", status="closed")
    engine.emit("co_hotel_closed", entity=SimpleNamespace(id=1, hotel=hotel, status="closed"),
                entity_type="hotels.wing")
    with pytest.raises(RunCancelledError):
        run.result(timeout=20)


def test_an_event_reaches_only_its_keys_index(time_machine: TimeMachine) -> None:
    # Routing cost does not grow with runs in flight (benchmarks/cancel_on_routing.py
    # measures 100 vs 10,000): the event signals its key's index and no other.
    runs = {n: engine.emit("co_reservation_made", data={"id": n})[0] for n in range(20, 32)}
    for run in runs.values():
        eventually(lambda run=run: run.state().phase == "sleeping", timeout=20)
    engine.emit("co_reservation_cancelled", data={"id": 25})
    with pytest.raises(RunCancelledError):
        runs[25].result(timeout=20)
    client = time_machine.env.client  # type: ignore[union-attr]

    def signals(n: int) -> list[str]:
        index = f"cancel-on:co_hold_room:0:co_reservation_cancelled:id={n}"
        history = time_machine._run(client.get_workflow_handle(index).fetch_history())
        field = "workflow_execution_signaled_event_attributes"
        return [getattr(e, field).signal_name for e in history.events if e.HasField(field)]

    assert signals(25)[:2] == ["register", "occurred"]  # then the run's own "remove"
    assert all(signals(n) == ["register"] for n in runs if n != 25)
    assert all(runs[n].status() in ("running", "waiting") for n in runs if n != 25)
