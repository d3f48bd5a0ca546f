"""The automations the recorded histories ran (registered on import).

Kept here, not borrowed from other test modules, so the histories keep their meaning
when other tests change: replay needs these exact names registered, and the recording
script (:mod:`tests.replay.record`) starts them. Step bodies may change freely (user
code runs in activities); names, steps and the commands they return may not.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from durable_automation.agents import agent, handler
from durable_automation.events import Batch, Event, on_event
from durable_automation.flow import Concurrency, Throttle
from durable_automation.timers import task
from durable_automation.workflows import (
    CancelOn,
    Retry,
    complete,
    event_workflow,
    fail,
    goto,
    sleep,
    step,
    wait,
    workflow,
)

# What the callables saw, for the recording script's sanity checks.
SEEN: list[tuple[str, Any]] = []

GO_SIGNAL = "replay:go"


@workflow("replay_sleeper")
class Sleeper:
    """Sleeps an hour between two steps."""

    class Context(BaseModel):
        item: int
        slept: bool = False

    @classmethod
    def create_context(cls, item: int) -> Context:
        return cls.Context(item=item)

    @step(start=True)
    def begin(self) -> Any:
        return sleep(timedelta(hours=1), then="finish")

    @step()
    def finish(self) -> Any:
        return complete(item=1)


@workflow("replay_waiter")
class Waiter:
    """Waits up to two hours for ``replay:go``; the payload's ``note`` merges into Context."""

    class Context(BaseModel):
        item: int
        note: str | None = None

    @classmethod
    def create_context(cls, item: int) -> Context:
        return cls.Context(item=item)

    @step(start=True)
    def begin(self) -> Any:
        return wait(GO_SIGNAL, timeout=timedelta(hours=2), on_timeout="gave_up", then="finish")

    @step()
    def finish(self) -> Any:
        return complete(outcome="woken")

    @step()
    def gave_up(self) -> Any:
        return complete(outcome="timed out")


@on_event("replay_booked")
def on_booked(event: Event) -> None:
    SEEN.append(("booked", event.data))


@on_event("replay_message", debounce_window=timedelta(seconds=30),
          debounce_key="{{ event.data.guest }}")
def on_messages(events: list[Event]) -> None:
    SEEN.append(("messages", [e.data["text"] for e in events]))


@agent("replay_stay", spawn_on="replay_stay_opened", match={"id": "{{ ctx.stay_id }}"})
class Stay:
    """Counts notes and runs a handler ten minutes before the stay's checkout."""

    class Context(BaseModel):
        stay_id: int
        notes: int = 0
        reminded: bool = False

    @classmethod
    def create_context(cls, event: Event) -> Context:
        return cls.Context(stay_id=event.data["id"])

    @handler("replay_stay_note")
    def note(self, ctx: Context) -> None:
        ctx.notes += 1

    @handler("replay_checkout_due", offset=timedelta(minutes=-10))
    def remind(self, ctx: Context) -> None:
        ctx.reminded = True


def _record_agent_failure(ctx: Any, event: Any, error: Any) -> None:
    SEEN.append(("agent_failure", error.reason))


@agent("replay_fragile", spawn_on="replay_fragile_opened", match={"item": "{{ ctx.item }}"})
class Fragile:
    """``risky`` raises (recorded as failed; the agent lives on), ``note`` counts notes.

    ``on_failure`` was added after ``agent_handler_failed.json`` was recorded: that
    history must replay without the hook (patch ``da-agent-on-failure``)."""

    class Context(BaseModel):
        item: int
        notes: int = 0

    @handler("replay_fragile_risky", on_failure=_record_agent_failure)
    def risky(self, ctx: Context) -> None:
        raise RuntimeError("risky failed")

    @handler("replay_fragile_note")
    def note(self, ctx: Context) -> None:
        ctx.notes += 1


@task("replay.record_call")
def record_call(label: str = "") -> str:
    SEEN.append(("call", label))
    return label


@task("replay.record_batch")
def record_batch(items: list[Any]) -> None:
    SEEN.append(("batch", list(items)))


@workflow("replay_throttled", throttle=Throttle(limit=1, period=timedelta(minutes=1),
                                                key="{{ ctx.guest }}"))
class Throttled:
    """One run per guest and minute (flow control): the limiter waits on window timers."""

    class Context(BaseModel):
        guest: str
        label: str

    @step(start=True)
    def go(self, ctx: Context) -> Any:
        return complete(label=ctx.label)


@workflow("replay_limited", concurrency=Concurrency(limit=1, key="{{ ctx.guest }}"))
class Limited:
    """One run per guest at a time (flow control): each sleeps an hour."""

    class Context(BaseModel):
        guest: str
        label: str

    @step(start=True)
    def stay(self) -> Any:
        return sleep(timedelta(hours=1), then=self.leave)

    @step
    def leave(self, ctx: Context) -> Any:
        return complete(label=ctx.label)


def _record_failure(ctx: Any, error: Any) -> None:
    SEEN.append(("failure", error.reason))


@workflow("replay_cancellable", on_failure=_record_failure, cancel_on=[
    CancelOn("replay_cancelled", match={"id": "{{ ctx.item }}"}, on_cancel="clean_up"),
])
class Cancellable:
    """Sleeps a day unless cancelled by ``replay_cancelled`` (cancel_on); ``fail_now`` fails
    it at once (on_failure)."""

    class Context(BaseModel):
        item: int
        fail_now: bool = False

    @step(start=True)
    def hold(self, ctx: Context) -> Any:
        if ctx.fail_now:
            return fail("asked to fail")
        return sleep(timedelta(days=1), then=self.done)

    @step
    def done(self) -> Any:
        return complete()

    @step
    def clean_up(self, ctx: Context) -> None:
        SEEN.append(("cleaned", ctx.item))


@on_event("replay_reading", batch=Batch(max_size=2, timeout=timedelta(seconds=10)))
def on_readings(events: list[Event]) -> None:
    SEEN.append(("readings", [event.data["value"] for event in events]))


@workflow("replay_local_steps")
class LocalSteps:
    """Local steps (``@step(local=True)``): ``count`` fails its first attempt, the
    workflow sleeps the backoff and retries it with the Context the failure carried,
    then a second local step and a regular one."""

    class Context(BaseModel):
        attempts: int = 0
        checked: bool = False

    @step(start=True, local=True, retry=Retry(max_attempts=3, base_delay=timedelta(minutes=1)))
    def count(self, ctx: Context) -> Any:
        ctx.attempts += 1
        if ctx.attempts < 2:
            raise ConnectionError("first attempt fails")
        return goto(self.check)

    @step(local=True)
    def check(self, ctx: Context) -> Any:
        ctx.checked = True
        return goto(self.finish)

    @step
    def finish(self, ctx: Context) -> Any:
        return complete(attempts=ctx.attempts, checked=ctx.checked)


@event_workflow("replay_departure_due", offset=timedelta(minutes=-30), name="replay_departure")
class DepartureReminder:
    """Starts half an hour before a departure (a scheduled event): the run's start gate
    waits on a timer, and a reschedule signal moves it."""

    class Context(BaseModel):
        pass

    @step(start=True)
    def remind(self) -> Any:
        return complete(reminded=True)
