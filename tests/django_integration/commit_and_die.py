"""Run by ``test_faults``: commit a storm, let the dispatcher start forwarding it, get killed.

    python -m tests.django_integration.commit_and_die PLAN_FILE ROWS SEED LEAD

Forwarding is slowed down (one row at a time, 0.1 s each, a short lease) so that the
SIGKILL lands in the middle of a batch; the rows it leased are then the relay's to finish.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.django_integration.killed_settings"

import django

django.setup()

from django_integration import _delivery, _lease
from django_integration._dispatcher import dispatcher
from tests.django_integration.storm import storm_operations


def main() -> None:
    path, rows, seed, lead = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    _lease.LEASE = timedelta(seconds=6)
    dispatcher.timeout = 2.0
    dispatcher.concurrency = 1
    real = _delivery.adeliver

    # ASYNC109: stands in for _delivery.adeliver, so it keeps that signature.
    async def slow(delivery: _delivery.Delivery, timeout: float | None = None  # noqa: ASYNC109
                   ) -> _delivery.Outcome:
        await asyncio.sleep(0.1)  # a slow network: the kill must land mid-batch
        return await real(delivery, timeout)

    _delivery.adeliver = slow  # type: ignore[assignment]
    plan = storm_operations(rows, seed=seed, lead=lead)
    Path(path).write_text(json.dumps(plan.to_json()))
    print("committed", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
