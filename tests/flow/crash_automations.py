"""A limited automation the worker-crash test runs in worker subprocesses."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel

from durable_automation import Concurrency, complete, get_context, step, step_info, workflow


@workflow("flow_crash_visit", concurrency=Concurrency(limit=1, key="{{ ctx.guest }}"))
class CrashVisit:
    """One per guest; the first attempt of the run labelled "hang" hangs (its worker is
    killed then), every other attempt finishes at once."""

    class Context(BaseModel):
        guest: str
        label: str
        marker_dir: str

    @step(start=True)
    def work(self):
        ctx, info = get_context(), step_info()
        (Path(ctx.marker_dir) / f"{ctx.label}-{info.attempt}").write_text(str(time.time()))
        if ctx.label == "hang" and info.attempt == 1:
            time.sleep(600)
        return complete(label=ctx.label, attempt=info.attempt)
