"""Automations with flow control, shared by the flow tests (defined once, at import)."""

from __future__ import annotations

import time
from datetime import timedelta

from pydantic import BaseModel

from durable_automation import (
    Concurrency,
    RateLimit,
    Throttle,
    complete,
    engine,
    event_workflow,
    on_event,
    sleep,
    step,
    wait,
    workflow,
)
from durable_automation.agents import agent, handler
from durable_automation.events import Event

# Labels of runs as they begin their first step (in the order they got their slot).
BEGAN: list[str] = []
HANDLED: list[str] = []


@workflow("flow_visit", concurrency=Concurrency(limit=1, key="{{ ctx.guest }}"))
class GuestVisit:
    """One visit per guest at a time; each waits for its own "done:<label>" signal."""

    class Context(BaseModel):
        guest: str
        label: str
        broken: bool = False

    @step(start=True)
    def begin(self, ctx: Context):
        BEGAN.append(ctx.label)
        if ctx.broken:
            raise RuntimeError("visit failed")
        return wait(f"done:{ctx.label}", timeout=timedelta(hours=1), then=self.end)

    @step
    def end(self, ctx: Context):
        return complete(label=ctx.label)


@workflow("flow_report", throttle=Throttle(limit=2, period=timedelta(minutes=1),
                                           key="{{ ctx.account }}"))
class Report:
    """At most two reports per account and minute; the rest are delayed."""

    class Context(BaseModel):
        account: str
        label: str

    @step(start=True)
    def build(self, ctx: Context):
        return complete(label=ctx.label, at=engine.now().isoformat())


@on_event("flow_sms_requested", rate_limit=RateLimit(limit=2, period=timedelta(hours=1),
                                                     key="{{ event.data.phone }}"))
def send_sms(event: Event) -> None:
    """At most two texts per phone and hour: the rest are dropped."""
    HANDLED.append(event.id)


# ── priority and fairness (dev server) ───────────────────────────────────────────

ORDER: list[str] = []


class _Labelled(BaseModel):
    label: str
    tenant: str = "-"


@workflow("flow_batch_job", priority=5)
class BatchJob:
    """Low priority (5: last)."""

    Context = _Labelled

    @step(start=True)
    def go(self, ctx: _Labelled) -> None:
        ORDER.append(ctx.label)


@workflow("flow_urgent_job", priority=1)
class UrgentJob:
    """High priority (1: first)."""

    Context = _Labelled

    @step(start=True)
    def go(self, ctx: _Labelled) -> None:
        ORDER.append(ctx.label)


@workflow("flow_tenant_job", fairness_key="{{ ctx.tenant }}")
class TenantJob:
    """Shares the worker fairly between tenants."""

    Context = _Labelled

    @step(start=True)
    def go(self, ctx: _Labelled) -> None:
        ORDER.append(ctx.label)


@workflow("flow_clean_room", concurrency=Concurrency(limit=1, key="{{ ctx.room }}"))
class CleanRoom:
    """One crew per room; a cleaning takes half an hour (virtual time)."""

    class Context(BaseModel):
        room: int
        crew: str

    @step(start=True)
    def clean(self) -> object:
        return sleep(timedelta(minutes=30), then=self.done)

    @step
    def done(self, ctx: Context) -> object:
        return complete(crew=ctx.crew, at=engine.now().isoformat())


@workflow("flow_quick", concurrency=Concurrency(limit=2, key="{{ ctx.key }}"))
class Quick:
    """Two at a time per key; returns at once."""

    class Context(BaseModel):
        key: str
        n: int

    @step(start=True)
    def go(self, ctx: Context) -> object:
        return complete(n=ctx.n)


# ── agent handlers ───────────────────────────────────────────────────────────────

CALLS: list[tuple[int, float, float]] = []


@agent("flow_front_desk", spawn_on="flow_desk_opened", match={"id": "{{ ctx.desk }}"})
class FrontDesk:
    """Each desk is an agent; only one desk at a time may phone the kitchen."""

    class Context(BaseModel):
        desk: int

    @classmethod
    def create_context(cls, event: Event) -> Context:
        return cls.Context(desk=event.data["id"])

    @handler("flow_desk_call", concurrency=Concurrency(limit=1))
    def call_kitchen(self, ctx: Context) -> None:
        began = time.monotonic()
        time.sleep(0.3)
        CALLS.append((ctx.desk, began, time.monotonic()))


@event_workflow("flow_checkin_due", offset=timedelta(hours=1),
                concurrency=Concurrency(limit=1, key="{{ event.data.room }}"))
class PrepareRoom:
    """An hour after the event, prepare the room (30 min), one preparation per room."""

    class Context(BaseModel):
        guest: str

    @classmethod
    def create_context(cls, event: Event = None, **kwargs: object) -> PrepareRoom.Context:
        return cls.Context(guest=event.data["guest"])

    @step(start=True)
    def prepare(self) -> object:
        return sleep(timedelta(minutes=30), then=self.done)

    @step
    def done(self, ctx: Context) -> object:
        return complete(guest=ctx.guest, at=engine.now().isoformat())
