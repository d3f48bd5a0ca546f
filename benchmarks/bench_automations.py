"""The durable-automation side of the saturation benchmarks: the same work as
``raw_baselines.py``, written with this SDK (registered on import)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from raw_baselines import work

from durable_automation import complete, get_context, goto, sleep, step, workflow


@workflow("bench_step_sleep_step")
class StepSleepStep:
    """A step, a 2-second sleep, a second step (``benchmarks/load.py``'s shape)."""

    class Context(BaseModel):
        n: int = 0

    @step(start=True)
    def first(self) -> Any:
        get_context().n = work(get_context().n)
        return sleep(timedelta(seconds=2), then=self.second)

    @step()
    def second(self) -> Any:
        get_context().n = work(get_context().n)
        return complete(n=get_context().n)


def _five(name: str, local: bool) -> type:
    """Five steps in a row (regular or local), each doing ``work``."""

    class Five:
        class Context(BaseModel):
            n: int = 0

        @step(start=True, local=local)
        def s1(self) -> Any:
            get_context().n = work(get_context().n)
            return goto("s2")

        @step(local=local)
        def s2(self) -> Any:
            get_context().n = work(get_context().n)
            return goto("s3")

        @step(local=local)
        def s3(self) -> Any:
            get_context().n = work(get_context().n)
            return goto("s4")

        @step(local=local)
        def s4(self) -> Any:
            get_context().n = work(get_context().n)
            return goto("s5")

        @step(local=local)
        def s5(self) -> Any:
            get_context().n = work(get_context().n)
            return complete(n=get_context().n)

    Five.__qualname__ = Five.__name__ = name
    return workflow(name)(Five)


FiveSteps = _five("bench_five_steps_regular", local=False)
FiveLocalSteps = _five("bench_five_steps_local", local=True)
