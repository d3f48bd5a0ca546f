"""Automations the operations tests reset, retry, cancel and check.

Module-level switches stand for "the code before / after a bug fix": a test flips
one and the next execution of the step sees the new behaviour.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from pydantic import BaseModel, Field

from durable_automation import (
    Retry,
    agent,
    complete,
    event_workflow,
    goto,
    handler,
    sleep,
    step,
    step_info,
    wait,
    workflow,
)

FIXED = {"notify": False, "charge": False}
# Side effects per step ("emails sent"): a retry must not repeat the steps before.
CALLS: Counter[str] = Counter()


@workflow("ops_reset_flow")
class ResetFlow:
    """prepare -> notify_housekeeping (twice: it sleeps and re-enters) -> finish."""

    class Context(BaseModel):
        log: list[str] = Field(default_factory=list)

    @step(start=True)
    def prepare(self, ctx: Context) -> object:
        ctx.log.append("prepare")
        return goto("notify_housekeeping")

    @step
    def notify_housekeeping(self, ctx: Context) -> object:
        visit = step_info().visit
        ctx.log.append(f"notify{visit}:{'fixed' if FIXED['notify'] else 'buggy'}")
        if visit == 1:
            return sleep(0.05)
        return goto(self.finish)

    @step
    def finish(self, ctx: Context) -> object:
        return complete(log=ctx.log)


@workflow("ops_charge_flow", on_failure="note_failure")
class ChargeFlow:
    """reserve -> charge (raises until fixed: the run fails, its hook runs) -> done."""

    class Context(BaseModel):
        guest: str
        log: list[str] = Field(default_factory=list)

    @step(start=True)
    def reserve(self, ctx: Context) -> object:
        CALLS["reserve"] += 1
        ctx.log.append("reserve")
        return goto(self.charge)

    @step
    def charge(self, ctx: Context) -> object:
        if not FIXED["charge"]:
            raise RuntimeError("card gateway bug")
        ctx.log.append("charge")
        return complete(log=ctx.log, guest=ctx.guest)

    def note_failure(self, ctx: Context, error: object) -> None:
        CALLS["failure hook"] += 1


@event_workflow("ops_guest_arrived", name="ops_parked_flow")
class ParkedFlow:
    """Waits in ``await_docs`` (then ``review``, on timeout ``remind``): a run to cancel
    in bulk, and to check against changed code."""

    class Context(BaseModel):
        guest: str = "?"
        room: int = 0

    @classmethod
    def create_context(cls, event: object = None, **kwargs: object) -> BaseModel:
        return cls.Context(guest=str(getattr(event, "entity_id", "?")))

    @step(start=True)
    def await_docs(self, ctx: Context) -> object:
        return wait("ops:docs", timeout=3600, on_timeout="remind", then="review")

    @step
    def review(self, ctx: Context) -> object:
        return complete(guest=ctx.guest)

    @step
    def remind(self, ctx: Context) -> object:
        return complete(reminded=ctx.guest)


@workflow("ops_big_context")
class BigContext:
    """Parks with a Context larger than the memo takes."""

    class Context(BaseModel):
        blob: str
        count: int = 0

    @step(start=True)
    def hold(self, ctx: Context) -> object:
        return wait("ops:big")


@event_workflow("ops_payment_due", name="ops_event_charge")
class EventCharge:
    """Fails in ``charge`` until the fix: a failed run an event started."""

    class Context(BaseModel):
        tries: int = 0

    @step(start=True)
    def charge(self, ctx: Context) -> object:
        ctx.tries += 1
        if not FIXED["charge"]:
            raise RuntimeError("card gateway bug")
        return complete(tries=ctx.tries)


@agent("ops_guest_agent", spawn_on="ops_agent_spawn", match={"id": "{{ ctx.guest_id }}"})
class GuestAgent:
    """Notes every ``ops_agent_note`` it is sent; a fix changes how it notes."""

    class Context(BaseModel):
        guest_id: int
        notes: list[str] = Field(default_factory=list)

    @classmethod
    def create_context(cls, event: object) -> BaseModel:
        return cls.Context(guest_id=int(str(getattr(event, "entity_id", 0))))

    @handler("ops_agent_note")
    def note(self, ctx: Context, event: object) -> None:
        text = getattr(event, "data", {}).get("text", "?")
        ctx.notes.append(f"{text}:{'fixed' if FIXED['notify'] else 'buggy'}")


@event_workflow("ops_arrival_due", offset=timedelta(hours=1), name="ops_gated_flow")
class GatedFlow:
    """Starts an hour after its event: parked at the start gate."""

    class Context(BaseModel):
        note: str = "gated"

    @step(start=True)
    def welcome(self, ctx: Context) -> object:
        return complete(note=ctx.note)


@workflow("ops_local_flow")
class LocalFlow:
    """A local step that fails its first attempt once, then a regular step."""

    class Context(BaseModel):
        log: list[str] = Field(default_factory=list)

    @step(start=True, local=True, retry=Retry(max_attempts=3, base_delay=timedelta(seconds=1)))
    def stamp(self, ctx: Context) -> object:
        CALLS["stamp"] += 1
        if CALLS["stamp"] == 1:
            raise RuntimeError("flaky once")
        ctx.log.append(f"stamp:{'fixed' if FIXED['notify'] else 'buggy'}")
        return goto(self.finish)

    @step
    def finish(self, ctx: Context) -> object:
        return complete(log=ctx.log)
