"""Many concurrent sleeping runs on one worker, at test scale (benchmarks/load.py runs
1,000): every run wakes and completes exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from pydantic import BaseModel

from durable_automation import complete, engine, get_context, sleep, step, step_info, workflow

COMPLETIONS: Counter[str] = Counter()
_lock = threading.Lock()


@workflow("load_sleeper")
class LoadSleeper:
    class Context(BaseModel):
        n: int

    @step(start=True)
    def nap(self):
        return sleep(timedelta(seconds=2), then=self.finish)

    @step()
    def finish(self):
        with _lock:
            COMPLETIONS[step_info().run_id] += 1
        return complete(n=get_context().n)


async def test_concurrent_sleeping_runs_each_complete_once(dev_worker):
    import asyncio

    runs = await asyncio.gather(*(engine.astart("load_sleeper", n=i) for i in range(300)))
    results = await asyncio.gather(*(run.aresult(timeout=120) for run in runs))
    assert sorted(r["n"] for r in results) == list(range(300))
    assert {COMPLETIONS[run.id] for run in runs} == {1}
