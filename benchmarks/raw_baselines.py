"""Hand-written temporalio baselines for the saturation benchmarks (``saturation.py``,
``latency.py``, ``anatomy.py``): the same work as the durable-automation side, written as
a Temporal user would write it. Its own module, because the workflow sandbox re-imports
the module a workflow is defined in."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(hours=1)
HEARTBEAT = timedelta(seconds=30)


def work(n: int) -> int:
    """The same trivial step body for both sides."""
    return n + 1


@activity.defn
def raw_step(n: int) -> int:
    """One step: a sync activity on the worker's thread pool, as our steps are."""
    return work(n)


@workflow.defn
class RawStepSleepStep:
    """A step, a 2-second durable sleep, a second step."""

    @workflow.run
    async def run(self, n: int) -> int:
        n = await workflow.execute_activity(raw_step, n, start_to_close_timeout=TIMEOUT,
                                            heartbeat_timeout=HEARTBEAT)
        await workflow.sleep(timedelta(seconds=2))
        return await workflow.execute_activity(raw_step, n, start_to_close_timeout=TIMEOUT,
                                               heartbeat_timeout=HEARTBEAT)


@workflow.defn
class RawFiveActivities:
    """Five steps in a row, each a regular activity."""

    @workflow.run
    async def run(self) -> int:
        n = 0
        for _ in range(5):
            n = await workflow.execute_activity(raw_step, n, start_to_close_timeout=TIMEOUT,
                                                heartbeat_timeout=HEARTBEAT)
        return n
