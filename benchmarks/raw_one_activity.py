"""The hand-written temporalio baseline of django_events.py: a workflow running one activity
(its own module, because the workflow sandbox re-imports the module a workflow is in)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from temporalio import activity, workflow

SEEN: dict[str, float] = {}
SEEN_LOCK = threading.Condition()


@activity.defn
def raw_first_step(ref: str) -> None:
    """Record when the first (only) step began."""
    with SEEN_LOCK:
        SEEN[ref] = time.perf_counter()
        SEEN_LOCK.notify_all()


@workflow.defn
class RawOneActivity:
    @workflow.run
    async def run(self, ref: str) -> None:
        await workflow.execute_activity(raw_first_step, ref,
                                        start_to_close_timeout=timedelta(hours=1))
