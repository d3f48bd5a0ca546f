"""A debounced handler the worker-crash test runs in a worker subprocess."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from durable_automation.events import EventBatch, on_event
from durable_automation.timers import task_info


@on_event("dbe_fault_message", debounce_window=timedelta(seconds=1),
          debounce_key="{{ event.data.guest_id }}")
def fault_guest_messages(events: EventBatch) -> None:
    """Its first attempt hangs (the test kills the worker then); the next one records."""
    marker = Path(events[0].data["marker_dir"])
    attempt = task_info().attempt
    (marker / f"attempt-{attempt}.json").write_text(json.dumps(
        {"batch_id": events.batch_id, "key": events.key, "ids": [e.id for e in events]}
    ))
    if attempt == 1:
        time.sleep(600)
