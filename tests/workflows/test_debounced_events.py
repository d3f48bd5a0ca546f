"""Debounced @on_event handlers (seed 000): one call per quiet window and key, with its events.

Virtual time also moves at wall-clock pace between ``advance`` calls, so every
"not yet" and "now" check keeps a few seconds away from the exact deadline.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from durable_automation import DefinitionError, Retry, engine, on_event
from durable_automation._core.registry import registry
from durable_automation.events import Event, EventBatch, on_event_cancelled
from durable_automation.exceptions import DurableAutomationError
from durable_automation.testing import TimeMachine
from durable_automation.timers._tasks import unregister_task
from tests.helpers.polling import eventually
from tests.helpers.processes import worker_to_kill
from tests.workflows import debounced_automations  # noqa: F401 - emit routes by the registry

# handler name -> one (key, [event text], batch id) per call
CALLS: dict[str, list[tuple[str, list[str], str]]] = defaultdict(list)
ATTEMPTS: list[tuple[str, list[str]]] = []


def _record(handler: str, events: list[Event]) -> None:
    assert isinstance(events, EventBatch) and all(isinstance(e, Event) for e in events)
    CALLS[handler].append((events.key, [e.data["text"] for e in events], events.batch_id))


@on_event("dbe_message_received", debounce_window=timedelta(seconds=30),
          debounce_key="{{ event.data.guest_id }}")
def guest_messages(events: list[Event]) -> None:
    _record("guest_messages", events)


def _room_of(event: Event) -> str:
    return f"room-{event.data['room']}"


@on_event("dbe_room_noise", debounce_window=timedelta(seconds=30), debounce_key=_room_of,
          max_wait=timedelta(seconds=45))
async def room_noise(events: list[Event]) -> None:  # async handlers are debounced too
    _record("room_noise", events)


@on_event("dbe_booking_changed", debounce_window=10,
          debounce_key="{{ event.entity_type }}:{{ event.entity_id }}")
def booking_changed(events: list[Event]) -> None:
    _record("booking_changed", events)


@on_event("dbe_all_in_one", debounce_window=timedelta(seconds=10))
def all_in_one(events: list[Event]) -> None:
    _record("all_in_one", events)


@on_event("dbe_flaky", debounce_window=timedelta(seconds=10), debounce_key=lambda e: "k",
          retry=Retry(max_attempts=3, base_delay=timedelta(seconds=1)))
def flaky(events: EventBatch) -> None:
    ATTEMPTS.append((events.batch_id, [e.data["text"] for e in events]))
    if len(ATTEMPTS) == 1:
        raise RuntimeError("first attempt fails")
    _record("flaky", events)


@pytest.fixture(autouse=True)
def _clean() -> None:
    CALLS.clear()
    ATTEMPTS.clear()


def _texts(handler: str) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = defaultdict(list)
    for key, texts, _ in CALLS[handler]:
        found[key].append(texts)
    return dict(found)


def test_rapid_events_from_two_guests_give_one_call_per_guest(time_machine: TimeMachine) -> None:
    runs = []
    for i in range(5):  # guest g1 at t = 0, 5, 10, 15, 20; guest g2 at t = 0, 5, 10
        runs += engine.emit("dbe_message_received", data={"guest_id": "g1", "text": f"a{i}"})
        if i < 3:
            runs += engine.emit("dbe_message_received", data={"guest_id": "g2", "text": f"b{i}"})
        time_machine.advance(seconds=5)
    assert {run.id for run in runs} == {"debounce:guest_messages:g1",
                                        "debounce:guest_messages:g2"}
    time_machine.advance(seconds=10)  # t = 35: g2 quiet for 25 s, g1 for 15 s
    assert CALLS == {}
    time_machine.advance(seconds=10)  # t = 45: g2 was quiet for 30 s at t = 40
    assert _texts("guest_messages") == {"g2": [["b0", "b1", "b2"]]}
    time_machine.advance(seconds=10)  # t = 55: g1 was quiet for 30 s at t = 50
    assert _texts("guest_messages") == {"g1": [["a0", "a1", "a2", "a3", "a4"]],
                                        "g2": [["b0", "b1", "b2"]]}
    assert len(CALLS["guest_messages"]) == 2
    batch_ids = [batch_id for _, _, batch_id in CALLS["guest_messages"]]
    assert len(set(batch_ids)) == 2
    # The next message of g1 opens a new window: a new batch with a new id.
    engine.emit("dbe_message_received", data={"guest_id": "g1", "text": "a5"})
    time_machine.advance(seconds=35)
    assert _texts("guest_messages")["g1"] == [["a0", "a1", "a2", "a3", "a4"], ["a5"]]
    assert len({batch_id for _, _, batch_id in CALLS["guest_messages"]}) == 3


def test_max_wait_flushes_a_window_that_keeps_growing(time_machine: TimeMachine) -> None:
    for i in range(6):  # every 20 s: never 30 s of quiet, so max_wait (45 s) cuts the window
        engine.emit("dbe_room_noise", data={"room": 7, "text": f"n{i}"})
        if i == 0:
            engine.emit("dbe_room_noise", data={"room": 8, "text": "other"})
        time_machine.advance(seconds=20)
    time_machine.advance(seconds=30)
    assert _texts("room_noise") == {"room-7": [["n0", "n1", "n2"], ["n3", "n4", "n5"]],
                                    "room-8": [["other"]]}


def test_template_key_from_entity_fields(time_machine: TimeMachine) -> None:
    for i, booking in enumerate([5, 6, 5]):
        engine.emit("dbe_booking_changed", entity_type="hotel.booking", entity_id=booking,
                    data={"text": f"c{i}"})
    time_machine.advance(seconds=15)
    assert _texts("booking_changed") == {"hotel.booking:5": [["c0", "c2"]],
                                         "hotel.booking:6": [["c1"]]}


def test_duplicate_delivery_of_one_event_lands_once(time_machine: TimeMachine) -> None:
    event = Event(name="dbe_all_in_one", id="msg-1", data={"text": "hello"})
    engine.handle_event_occurred(event)
    engine.emit("dbe_all_in_one", id="msg-2", data={"text": "world"})
    engine.handle_event_occurred(event)  # a relay delivering msg-1 again
    engine.emit("dbe_all_in_one", id="msg-1", data={"text": "hello"})
    time_machine.advance(seconds=15)
    assert _texts("all_in_one") == {"all": [["hello", "world"]]}


def test_an_event_delivered_again_after_its_batch_ran_is_dropped(
    time_machine: TimeMachine,
) -> None:
    engine.emit("dbe_all_in_one", id="late-1", data={"text": "first"})
    time_machine.advance(seconds=15)
    assert _texts("all_in_one") == {"all": [["first"]]}
    time_machine.advance(minutes=5)
    engine.emit("dbe_all_in_one", id="late-1", data={"text": "first"})  # the relay again
    engine.emit("dbe_all_in_one", id="late-2", data={"text": "second"})
    time_machine.advance(seconds=15)
    assert _texts("all_in_one") == {"all": [["first"], ["second"]]}


def test_a_retried_batch_keeps_its_id_and_events(time_machine: TimeMachine) -> None:
    engine.emit("dbe_flaky", data={"text": "x"})
    engine.emit("dbe_flaky", data={"text": "y"})
    time_machine.advance(seconds=15)
    assert len(ATTEMPTS) == 2
    assert ATTEMPTS[0] == ATTEMPTS[1] and ATTEMPTS[0][1] == ["x", "y"]
    assert [texts for _, texts, _ in CALLS["flaky"]] == [["x", "y"]]


def test_a_key_that_cannot_be_computed_fails_the_emit_with_the_handler_named(
    time_machine: TimeMachine,
) -> None:
    with pytest.raises(DurableAutomationError, match=r"guest_messages.*'data.guest_id'"):
        engine.emit("dbe_message_received", data={"text": "no guest"})


def test_key_function_runs_off_the_engine_loop(time_machine: TimeMachine) -> None:
    loops: list[bool] = []

    def key(event: Event) -> str:
        # Django refuses ORM calls on a thread with a running event loop.
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:
            loops.append(False)
        return "same"

    @on_event("dbe_thread_probe", debounce_window=5, debounce_key=key)
    def thread_probe(events: list[Event]) -> None:
        _record("thread_probe", events)

    try:
        engine.emit("dbe_thread_probe", data={"text": "t"})
        time_machine.advance(seconds=10)
        assert _texts("thread_probe") == {"same": [["t"]]}
        assert loops == [False]
    finally:
        unregister_task("thread_probe")
        registry.unregister("thread_probe")


# ── decoration errors ────────────────────────────────────────────────────────────


def _handler(events: list[Event]) -> None:
    pass


async def _async_key(event: Event) -> str:
    return "k"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"debounce_window": timedelta(0)}, "debounce_window must be positive"),
        ({"debounce_window": -5}, "debounce_window must be positive"),
        ({"debounce_window": "30s"}, "debounce_window must be a timedelta"),
        ({"debounce_key": "{{ event.id }}"}, "debounce_key needs debounce_window"),
        ({"max_wait": timedelta(seconds=5)}, "max_wait needs debounce_window"),
        ({"debounce_window": 30, "max_wait": 10}, r"max_wait \(0:00:10\) must be at least"),
        ({"debounce_window": 30, "debounce_key": 42}, "debounce_key must be a function"),
        ({"debounce_window": 30, "debounce_key": "guest"}, "has no '{{ event.<field> }}'"),
        ({"debounce_window": 30, "debounce_key": "{{ ctx.guest_id }}"}, "has no '{{ event"),
        ({"debounce_window": 30, "debounce_key": "{{ event.guest_id }}"},
         "event has no field 'guest_id'"),
        ({"debounce_window": 30, "debounce_key": "{{ event.data.x }}:{{ ctx.y }}"},
         "placeholder that is not"),
        ({"debounce_window": 30, "debounce_key": lambda: "k"}, "must take one argument"),
        ({"debounce_window": 30, "debounce_key": _async_key}, "must be a plain function"),
        ({"debounce_window": 30, "timeout": timedelta(seconds=5)},
         "timeout= cannot be combined with debounce_window"),
    ],
)
def test_bad_debounce_options_fail_at_decoration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        on_event("dbe_never", name="dbe_bad_options", **options)(_handler)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(DefinitionError) as caught:
        on_event("dbe_never", name="dbe_bad_all", debounce_window=timedelta(seconds=30),
                 max_wait=timedelta(seconds=1), debounce_key=3.5)(_handler)
    text = str(caught.value)
    assert "max_wait" in text and "debounce_key must be a function" in text


def test_handlers_that_cannot_take_a_batch_or_other_kinds_are_refused() -> None:
    with pytest.raises(DefinitionError, match="one argument, the list of events"):
        on_event("dbe_never", name="dbe_no_args", debounce_window=30)(lambda: None)
    with pytest.raises(DefinitionError, match="@on_event_cancelled does not debounce"):
        on_event_cancelled("dbe_never", name="dbe_cancel", debounce_window=30)(_handler)


# ── a worker dies during a batch ─────────────────────────────────────────────────


def test_worker_killed_mid_batch_the_batch_runs_again_with_its_id(
    temporal_dev_server: Any, tmp_path: Path
) -> None:
    queue = f"dbe-fault-{uuid.uuid4().hex[:8]}"
    with worker_to_kill("tests.workflows.debounced_automations", temporal_dev_server.address,
                        queue, ready="fault_guest_messages") as kill_and_replace:
        for i in range(3):
            engine.emit("dbe_fault_message", id=f"f-{i}",
                        data={"guest_id": "g9", "marker_dir": str(tmp_path)})
        eventually(lambda: (tmp_path / "attempt-1.json").exists(), timeout=30)
        kill_and_replace()
        eventually(lambda: (tmp_path / "attempt-2.json").exists(), timeout=90)
    killed = json.loads((tmp_path / "attempt-1.json").read_text())
    rerun = json.loads((tmp_path / "attempt-2.json").read_text())
    assert killed == rerun
    assert rerun["ids"] == ["f-0", "f-1", "f-2"] and rerun["key"] == "g9"


def test_the_docs_example_runs_as_a_script(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    source = docs.split("```python\n# debounced_messages.py", 1)[1].split("```", 1)[0]
    script = tmp_path / "debounced_messages.py"
    script.write_text("# debounced_messages.py" + source)
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "still quiet"
    assert lines[1].startswith("guest g1: ['hi', 'is the pool open?', 'and the spa?', 'at 8?', "
                               "'thanks'] (batch ")
    assert lines[2].startswith("guest g2: ['late checkout?', 'until 2pm', 'please'] (batch ")
    assert len(lines) == 3
