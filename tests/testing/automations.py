"""Automations the time-machine wait tests run (registered on import)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from durable_automation.timers import task
from durable_automation.workflows import (
    Retry,
    complete,
    fail,
    get_context,
    goto,
    sleep,
    step,
    wait,
    wait_for_event,
    workflow,
)


@workflow("tests_testing_checkout_ops")
class ManualCheckoutOps:
    """Seed 001 §4's CheckoutOpsWF steps, as a manual workflow started with engine.start()."""

    class Context(BaseModel):
        reservation_id: int
        docs_ready: bool = False
        notified: bool = False
        attempts: int = 0
        final_state: str | None = None

    @classmethod
    def create_context(cls, reservation_id: int) -> Context:
        return cls.Context(reservation_id=reservation_id)

    @step(start=True)
    def await_docs(self) -> Any:
        ctx = get_context()
        if ctx.docs_ready:
            return goto(self.notify_housekeeping)
        return wait_for_event("guest_docs_uploaded", timeout=timedelta(minutes=90),
                              on_timeout="fallback_docs")

    @step()
    def fallback_docs(self) -> Any:
        return goto(self.notify_housekeeping)

    @step()
    def pause_until_ops_window(self) -> Any:
        return wait.for_signal("ops:window_open")

    @step(retry=Retry(max_attempts=5, base_delay=timedelta(seconds=1)))
    def notify_housekeeping(self) -> Any:
        ctx = get_context()
        ctx.attempts += 1
        if ctx.attempts < 2:
            raise RuntimeError("transient failure")
        ctx.notified = True
        return goto(self.finalize)

    @step()
    def finalize(self) -> Any:
        ctx = get_context()
        if not ctx.notified:
            return fail("Housekeeping was not notified")
        ctx.final_state = "ok"
        return complete(final_state="ok")


@workflow("tests_testing_sleeper")
class Sleeper:
    """Sleeps ``hours``, then completes with how often it slept."""

    class Context(BaseModel):
        hours: float
        slept: int = 0

    @classmethod
    def create_context(cls, hours: float) -> Context:
        return cls.Context(hours=hours)

    @step(start=True)
    def nap(self) -> Any:
        ctx = get_context()
        if ctx.slept:
            return complete(slept=ctx.slept)
        ctx.slept += 1
        return sleep(timedelta(hours=ctx.hours))


@workflow("tests_testing_forever")
class WaitsForever:
    """Waits for a signal with no timeout."""

    class Context(BaseModel):
        opened: bool = False

    @classmethod
    def create_context(cls) -> Context:
        return cls.Context()

    @step(start=True)
    def pause(self) -> Any:
        return wait.for_signal("tests:testing:window_open", then="done")

    @step()
    def done(self) -> Any:
        return complete(opened=get_context().opened)


@task(name="tests.testing.double")
def double(value: int) -> int:
    """A task for schedule_task under the time machine."""
    return value * 2


@workflow("tests_testing_blob")
class Blob:
    """Carries whatever it is given in its Context (to exceed the server's payload limit)."""

    class Context(BaseModel):
        blob: str = ""

    @classmethod
    def create_context(cls, blob: str = "") -> Context:
        return cls.Context(blob=blob)

    @step(start=True)
    def done(self) -> Any:
        return complete()
