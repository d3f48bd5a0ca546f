"""``@step(local=True)``: steps run as local activities, with the workflow driving the
retries so that a failed attempt's Context reaches the next attempt (time-skipping
server; a worker restart mid-retry included)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType

from durable_automation import (
    Retry,
    RunFailedError,
    complete,
    engine,
    get_context,
    goto,
    step,
    step_info,
    workflow,
)
from durable_automation._core.runtime import call_sync
from durable_automation.exceptions import DefinitionError
from durable_automation.testing import TimeMachine
from durable_automation.worker import AutomationWorker

# (run key, attempt as step_info() saw it, attempts counted in the Context)
SEEN: list[tuple[str, int, int]] = []


@workflow("local_chain")
class LocalChain:
    class Context(BaseModel):
        n: int = 0

    @step(start=True, local=True)
    def one(self) -> Any:
        get_context().n += 1
        return goto(self.two)

    @step(local=True)
    def two(self) -> Any:
        get_context().n += 10
        return goto(self.three)

    @step()  # a regular step after local ones
    def three(self) -> Any:
        get_context().n += 100
        return complete(n=get_context().n)


@workflow("local_counter")
class LocalCounter:
    """Fails until the Context has counted ``succeed_at`` attempts."""

    class Context(BaseModel):
        key: str
        succeed_at: int
        attempts: int = 0

    @step(start=True, local=True,
          retry=Retry(max_attempts=4, base_delay=timedelta(hours=1), backoff=2))
    def flaky(self) -> Any:
        ctx = get_context()
        ctx.attempts += 1
        SEEN.append((ctx.key, step_info().attempt, ctx.attempts))
        if ctx.attempts < ctx.succeed_at:
            raise ConnectionError(f"attempt {ctx.attempts} failed")
        return complete(attempts=ctx.attempts)


@workflow("local_no_retry")
class LocalNoRetry:
    class Context(BaseModel):
        pass

    @step(start=True, local=True)
    def boom(self) -> Any:
        raise KeyError("missing")


def _event_types(run_id: str) -> list[int]:
    async def fetch() -> list[int]:
        client = await engine._aclient()
        history = await client.get_workflow_handle(run_id).fetch_history()
        return [e.event_type for e in history.events]

    return call_sync(engine._ensure().loop, fetch, sync_name="h", async_name="h")


def _timer_starts(types: list[int]) -> int:
    return types.count(EventType.EVENT_TYPE_TIMER_STARTED)


def test_local_steps_run_without_activity_tasks(time_machine: TimeMachine) -> None:
    run = engine.start("local_chain")
    assert run.result(timeout=30) == {"n": 111}
    types = _event_types(run.id)
    # Two local steps are markers in the history; only the regular step is a task.
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1
    assert types.count(EventType.EVENT_TYPE_MARKER_RECORDED) >= 2


def test_failed_attempt_hands_its_context_to_the_next(time_machine: TimeMachine) -> None:
    run = engine.start("local_counter", key="ok", succeed_at=3)
    assert run.result(timeout=30) == {"attempts": 3}
    # Attempt numbers come from the workflow; the count survived each failure.
    assert [(a, c) for k, a, c in SEEN if k == "ok"] == [(1, 1), (2, 2), (3, 3)]
    # The backoff between attempts is a durable timer: 1 h, then 2 h.
    assert _timer_starts(_event_types(run.id)) == 2


def test_exhausted_retries_fail_the_run(time_machine: TimeMachine) -> None:
    run = engine.start("local_counter", key="never", succeed_at=99)
    with pytest.raises(RunFailedError, match=r"Step flaky failed: attempt 4 failed"):
        run.result(timeout=30)
    assert [c for k, _, c in SEEN if k == "never"] == [1, 2, 3, 4]


def test_local_step_without_retry_fails_on_first_error(time_machine: TimeMachine) -> None:
    run = engine.start("local_no_retry")
    with pytest.raises(RunFailedError, match="KeyError"):
        run.result(timeout=30)
    assert _timer_starts(_event_types(run.id)) == 0


def test_context_survives_a_worker_restart_before_every_task(
        time_machine: TimeMachine) -> None:
    """A worker without a cache rebuilds the run from its history for every workflow
    task, as a restarted worker does: each attempt's Context must come from the
    recorded failure of the one before."""
    tm = time_machine

    async def forgetful_worker() -> None:
        assert tm._worker is not None and tm.env is not None
        await tm._worker.__aexit__(None, None, None)
        tm._worker = AutomationWorker(tm.env.client, tm.task_queue, bind_engine=False,
                                      graceful_shutdown=timedelta(seconds=1),
                                      max_cached_workflows=0)
        await tm._worker.__aenter__()

    tm._run(forgetful_worker())
    run = engine.start("local_counter", key="restart", succeed_at=3)
    assert run.result(timeout=30) == {"attempts": 3}
    assert [(a, c) for k, a, c in SEEN if k == "restart"] == [(1, 1), (2, 2), (3, 3)]


def test_bad_local_arguments_are_refused_at_decoration() -> None:
    with pytest.raises(DefinitionError) as caught:

        @workflow("local_bad")
        class LocalBad:
            class Context(BaseModel):
                pass

            @step(start=True, local=True, timeout=timedelta(minutes=5))
            def slow(self) -> Any:
                return complete()

            @step(local="yes")  # type: ignore[arg-type]
            def odd(self) -> Any:
                return complete()

    text = str(caught.value)
    assert "LocalBad.slow: local=True with timeout=0:05:00" in text
    assert "make it a regular step" in text
    assert "LocalBad.odd: local must be True or False" in text
