"""Automations the fault tests run in worker subprocesses."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel

from durable_automation import complete, get_context, sleep, step, step_info, wait, workflow
from durable_automation.agents import agent, handler


@workflow("fault_slow_step")
class SlowStep:
    """Its first attempt hangs (the test kills the worker then); later attempts finish."""

    class Context(BaseModel):
        marker_dir: str

    @step(start=True)
    def work(self):
        info = step_info()
        marker = Path(get_context().marker_dir)
        (marker / f"started-{info.attempt}").write_text(info.idempotency_key)
        if info.attempt == 1:
            time.sleep(600)
        return complete(attempt=info.attempt, key=info.idempotency_key)


@workflow("fault_sleeper")
class Sleeper:
    class Context(BaseModel):
        seconds: float
        woke: bool = False

    @step(start=True)
    def nap(self):
        if get_context().woke:
            return complete(woke=True)
        get_context().woke = True
        return sleep(timedelta(seconds=get_context().seconds))


@workflow("fault_waiter")
class Waiter:
    class Context(BaseModel):
        channel: str
        value: int = 0

    @step(start=True)
    def hold(self):
        return wait(get_context().channel, then=self.done)

    @step()
    def done(self):
        return complete(value=get_context().value)


@agent("fault_agent", spawn_on="fault_agent_started", match={"id": "{{ ctx.item_id }}"})
class FaultAgent:
    """An agent whose offset timer must survive a server crash."""

    class Context(BaseModel):
        item_id: int
        reminded: bool = False

    @classmethod
    def create_context(cls, event):
        return cls.Context(item_id=event.data["item_id"])

    @handler("fault_item_due", offset=timedelta(seconds=-2))
    def remind(self, ctx):
        ctx.reminded = True
