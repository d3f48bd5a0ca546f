"""Batched handlers the batching tests use; the crash test runs this module in a worker."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from durable_automation import Batch, on_event
from durable_automation.events import Event, EventBatch
from durable_automation.timers import task_info

# handler -> one (key, [event text], batch id) per call
CALLS: dict[str, list[tuple[str, list[str], str]]] = defaultdict(list)


@on_event("bt_message_received",
          batch=Batch(max_size=3, timeout=timedelta(seconds=10), key="{{ event.data.guest_id }}"))
def bt_guest_messages(events: list[Event]) -> None:
    assert isinstance(events, EventBatch)
    CALLS["guest_messages"].append(
        (events.key, [e.data["text"] for e in events], events.batch_id))


@on_event("bt_metric", batch=Batch(max_size=100, timeout=5))
async def bt_metrics(events: EventBatch) -> None:  # async handlers batch too
    CALLS["metrics"].append((events.key, [e.data["text"] for e in events], events.batch_id))


@on_event("bt_fault_message",
          batch=Batch(max_size=3, timeout=timedelta(seconds=30), key="{{ event.data.guest_id }}"))
def bt_fault_guest_messages(events: EventBatch) -> None:
    """Its first attempt hangs (the test kills the worker then); the next one records."""
    marker = Path(events[0].data["marker_dir"])
    attempt = task_info().attempt
    (marker / f"attempt-{attempt}.json").write_text(json.dumps(
        {"batch_id": events.batch_id, "key": events.key, "ids": [e.id for e in events]}))
    if attempt == 1:
        time.sleep(600)
