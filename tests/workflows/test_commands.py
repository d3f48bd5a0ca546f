"""Every command under time_machine: sleep, goto, wait/timeout, then=, complete, fail, retry."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from pydantic import BaseModel

from durable_automation import (
    Retry,
    RunCancelledError,
    RunFailedError,
    complete,
    engine,
    fail,
    get_context,
    goto,
    sleep,
    step,
    step_info,
    wait,
    workflow,
)
from tests.helpers.history import step_names

ATTEMPTS: dict[str, list] = {}


@workflow("cmd_long_sleep")
class LongSleep:
    class Context(BaseModel):
        slept: bool = False

    @step(start=True)
    def nap(self):
        ctx = get_context()
        if ctx.slept:
            return complete(slept=True)
        ctx.slept = True
        return sleep(timedelta(hours=24))  # re-enters this step afterwards


@workflow("cmd_sleep_then")
class SleepThen:
    class Context(BaseModel):
        pass

    @step(start=True)
    def first(self):
        return sleep(timedelta(minutes=5), then=self.second)

    @step()
    def second(self):
        return complete(done=True)


@workflow("cmd_retry_timing")
class RetryTiming:
    class Context(BaseModel):
        key: str

    @step(start=True, retry=Retry(max_attempts=3, base_delay=timedelta(hours=1), backoff=2))
    def flaky(self):
        info = step_info()
        ATTEMPTS.setdefault(get_context().key, []).append((info.attempt, info.started_at))
        if info.attempt < 3:
            raise ConnectionError("try again")
        return complete(attempts=info.attempt)


@workflow("cmd_retry_exhausted")
class RetryExhausted:
    class Context(BaseModel):
        pass

    @step(start=True, retry=Retry(max_attempts=2, base_delay=timedelta(minutes=1)))
    def always_fails(self):
        raise ValueError("the API is down")


@workflow("cmd_no_retry")
class NoRetry:
    class Context(BaseModel):
        pass

    @step(start=True)
    def boom(self):
        raise KeyError("missing")


@workflow("cmd_fail")
class FailsOnPurpose:
    class Context(BaseModel):
        amount: int

    @step(start=True)
    def check(self):
        if get_context().amount < 0:
            return fail("amount must not be negative")
        return goto("book")

    @step()
    def book(self):
        return complete(booked=get_context().amount)


@workflow("cmd_wait_timeout")
class WaitTimeout:
    class Context(BaseModel):
        channel: str
        note: str = ""

    @step(start=True)
    def ask(self):
        return wait(get_context().channel, timeout=timedelta(hours=2), on_timeout=self.expired,
                    then=self.answered)

    @step()
    def answered(self):
        return complete(outcome="answered", note=get_context().note)

    @step()
    def expired(self):
        return complete(outcome="expired")


@workflow("cmd_bad_goto")
class BadGoto:
    class Context(BaseModel):
        target: str

    @step(start=True)
    def jump(self):
        return goto(get_context().target)  # computed: only checkable at run time


@workflow("cmd_bad_return")
class BadReturn:
    class Context(BaseModel):
        pass

    @step(start=True)
    def oops(self):
        return "done"


@workflow("cmd_async_step")
class AsyncStep:
    class Context(BaseModel):
        n: int

    @step(start=True)
    async def double(self, ctx):
        ctx.n *= 2
        return complete(n=ctx.n)


def test_24_hour_sleep_takes_well_under_a_second(time_machine):
    run = engine.start("cmd_long_sleep")
    time_machine.settle()
    assert run.status() == "waiting"
    started = time.monotonic()
    time_machine.advance(hours=24)
    elapsed = time.monotonic() - started
    assert run.status() == "completed"
    assert run.result(timeout=10) == {"slept": True}
    assert elapsed < 1.0, f"advancing 24h took {elapsed:.2f}s"
    assert step_names(run.id) == ["nap", "nap"]


def test_sleep_is_not_over_early(time_machine):
    run = engine.start("cmd_sleep_then")
    time_machine.advance(minutes=4, seconds=59)
    assert run.status() == "waiting"
    assert run.state().phase == "sleeping"
    time_machine.advance(seconds=1)
    assert run.result(timeout=10) == {"done": True}
    assert step_names(run.id) == ["first", "second"]


def test_retries_happen_at_the_configured_virtual_delays(time_machine):
    run = engine.start("cmd_retry_timing", key="timing")
    time_machine.advance(hours=1)
    assert run.status() == "running"  # attempt 2 failed, attempt 3 is 2h away
    time_machine.advance(hours=2)
    assert run.result(timeout=10) == {"attempts": 3}
    (a1, t1), (a2, t2), (a3, t3) = ATTEMPTS["timing"]
    assert (a1, a2, a3) == (1, 2, 3)
    assert timedelta(hours=1) <= t2 - t1 < timedelta(hours=1, seconds=5)
    assert timedelta(hours=2) <= t3 - t2 < timedelta(hours=2, seconds=5)


def test_exhausted_retry_fails_the_run_with_the_error(time_machine):
    run = engine.start("cmd_retry_exhausted")
    time_machine.advance(minutes=1)
    with pytest.raises(RunFailedError, match=r"always_fails.*the API is down"):
        run.result(timeout=10)
    assert run.status() == "failed"


def test_step_without_retry_fails_on_first_error(time_machine):
    run = engine.start("cmd_no_retry")
    with pytest.raises(RunFailedError, match="KeyError"):
        run.result(timeout=10)


def test_fail_and_goto(time_machine):
    bad = engine.start("cmd_fail", amount=-5)
    good = engine.start("cmd_fail", amount=5)
    with pytest.raises(RunFailedError) as caught:
        bad.result(timeout=10)
    assert caught.value.reason == "amount must not be negative"
    assert good.result(timeout=10) == {"booked": 5}
    assert step_names(good.id) == ["check", "book"]


def test_wait_woken_goes_to_then_with_payload(time_machine):
    run = engine.start("cmd_wait_timeout", channel="cmd:answer-1")
    time_machine.settle()
    assert engine.signal("cmd:answer-1", {"note": "yes", "unrelated": 1}) == 1
    assert run.result(timeout=10) == {"outcome": "answered", "note": "yes"}


def test_wait_timeout_goes_to_on_timeout(time_machine):
    run = engine.start("cmd_wait_timeout", channel="cmd:answer-2")
    time_machine.advance(hours=2)
    assert run.result(timeout=10) == {"outcome": "expired"}
    # The timed-out wait is forgotten: a later signal wakes nobody.
    assert engine.signal("cmd:answer-2") == 0


def test_goto_unknown_step_at_run_time_fails_clearly(time_machine):
    run = engine.start("cmd_bad_goto", target="nowhere")
    with pytest.raises(RunFailedError, match="'nowhere', which does not exist"):
        run.result(timeout=10)


def test_step_returning_a_non_command_fails_clearly(time_machine):
    run = engine.start("cmd_bad_return")
    with pytest.raises(RunFailedError, match="must return goto"):
        run.result(timeout=10)


def test_async_step_receiving_context(time_machine):
    assert engine.start("cmd_async_step", n=21).result(timeout=10) == {"n": 42}


def test_cancel_a_waiting_run(time_machine):
    run = engine.start("cmd_wait_timeout", channel="cmd:answer-3")
    time_machine.settle()
    run.cancel()
    with pytest.raises(RunCancelledError):
        run.result(timeout=10)
    assert run.status() == "cancelled"
