"""The hand-written temporalio baseline for step_workflow_vs_raw.py (its own module, because
the workflow sandbox re-imports the module a workflow is defined in)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


def work(n: int) -> int:
    """The same trivial "activity" body for both sides."""
    return n + 1


@activity.defn
def raw_step(n: int) -> int:
    return work(n)


@workflow.defn
class RawFiveSteps:
    @workflow.run
    async def run(self) -> int:
        n = 0
        for _ in range(5):
            n = await workflow.execute_activity(
                raw_step, n, start_to_close_timeout=timedelta(hours=1),
                heartbeat_timeout=timedelta(seconds=30),
            )
        return n


