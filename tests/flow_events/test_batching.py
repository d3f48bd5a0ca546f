"""@on_event(..., batch=Batch(max_size, timeout, key)): the handler gets lists of events, cut
by size or by time from a batch's first event; each event in exactly one batch; a batch
called again after a worker dies keeps its id and events."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from durable_automation import Batch, DefinitionError, engine, on_event
from durable_automation.testing import TimeMachine
from tests.flow_events import batched_automations
from tests.flow_events.batched_automations import CALLS
from tests.helpers.polling import eventually
from tests.helpers.processes import worker_to_kill


@pytest.fixture(autouse=True)
def _clean() -> None:
    CALLS.clear()


def _texts(handler: str) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for key, texts, _ in CALLS[handler]:
        found.setdefault(key, []).append(texts)
    return found


def test_a_full_batch_is_called_at_once_and_the_rest_after_the_timeout(
    time_machine: TimeMachine,
) -> None:
    for i in range(4):
        engine.emit("bt_message_received", data={"guest_id": "g1", "text": f"a{i}"})
    engine.emit("bt_message_received", data={"guest_id": "g2", "text": "b0"})
    time_machine.advance(seconds=2)  # no timeout yet: only g1's full batch was called
    assert _texts("guest_messages") == {"g1": [["a0", "a1", "a2"]]}
    time_machine.advance(seconds=12)  # a3 and b0 waited 10 s
    assert _texts("guest_messages") == {"g1": [["a0", "a1", "a2"], ["a3"]], "g2": [["b0"]]}
    batch_ids = [batch_id for _, _, batch_id in CALLS["guest_messages"]]
    assert len(set(batch_ids)) == 3


def test_each_event_lands_in_exactly_one_batch_even_when_delivered_twice(
    time_machine: TimeMachine,
) -> None:
    for i in range(250):
        engine.emit("bt_metric", id=f"m-{i}", data={"text": str(i)})
    engine.emit("bt_metric", id="m-7", data={"text": "7"})  # a repeated delivery
    time_machine.advance(seconds=10)
    calls = CALLS["metrics"]
    assert [len(texts) for _, texts, _ in calls] == [100, 100, 50]
    delivered = [text for _, texts, _ in calls for text in texts]
    assert sorted(delivered, key=int) == [str(i) for i in range(250)]
    assert {key for key, _, _ in calls} == {"all"}


@pytest.mark.parametrize(("options", "message"), [
    ({"batch": Batch(max_size=0, timeout=5)}, "max_size must be an int from 1 to 1000"),
    ({"batch": Batch(max_size=5, timeout=timedelta(0))}, "timeout must be a positive"),
    ({"batch": Batch(max_size=5, timeout=5, key="{{ event.nope }}")}, "event has no field"),
    ({"batch": Batch(max_size=5, timeout=5, key=42)}, "Batch key must be a function"),
    ({"batch": Batch(max_size=5, timeout=5), "debounce_window": 10},
     "batch= cannot be combined with debounce_window"),
    ({"batch": Batch(max_size=5, timeout=5), "timeout": timedelta(seconds=5)},
     "timeout= cannot be combined with batch="),
    ({"batch": Batch(max_size=5, timeout=5), "on_failure": lambda e, err: None},
     "on_failure= cannot be combined with batch="),
    ({"batch": {"max_size": 5}}, "batch must be a Batch"),
])
def test_bad_batch_options_fail_at_decoration_naming_the_handler(
    options: dict[str, Any], message: str,
) -> None:
    with pytest.raises(DefinitionError, match="bt_never_handler") as info:
        on_event("bt_never", **options)(bt_never_handler)
    assert message in str(info.value)


def bt_never_handler(events: list[Any]) -> None:
    """Never registered: every decoration above fails."""


def test_worker_killed_mid_batch_the_batch_runs_again_with_its_id(
    temporal_dev_server: Any, tmp_path: Path,
) -> None:
    queue = f"bt-fault-{uuid.uuid4().hex[:8]}"
    with worker_to_kill(batched_automations.__name__, temporal_dev_server.address, queue,
                        ready="bt_fault_guest_messages") as kill_and_replace:
        for i in range(3):  # a full batch: called at once
            engine.emit("bt_fault_message", id=f"f-{i}",
                        data={"guest_id": "g9", "marker_dir": str(tmp_path)})
        eventually(lambda: (tmp_path / "attempt-1.json").exists(), timeout=30)
        kill_and_replace()
        eventually(lambda: (tmp_path / "attempt-2.json").exists(), timeout=90)
    killed = json.loads((tmp_path / "attempt-1.json").read_text())
    rerun = json.loads((tmp_path / "attempt-2.json").read_text())
    assert killed == rerun
    assert rerun["ids"] == ["f-0", "f-1", "f-2"] and rerun["key"] == "g9"
