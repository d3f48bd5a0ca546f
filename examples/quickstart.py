"""A small demo for the dev stack, without Django: watch it in the terminal and the UI.

    python examples/quickstart.py        (what `./run demo` falls back to)

Every 20 seconds it starts an `order_fulfilment` run. Each run reserves stock,
sleeps (a durable timer), waits for a payment signal (sent by the driver a few
seconds later, with a timeout as fallback), and ships.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel

from durable_automation import (
    Retry,
    complete,
    engine,
    get_context,
    goto,
    sleep,
    step,
    step_info,
    wait,
    workflow,
)


def say(message: str) -> None:
    print(f"  [{step_info().run_id}] {message}", flush=True)


@workflow("order_fulfilment")
class OrderFulfilment:
    class Context(BaseModel):
        order_id: int
        paid: bool = False
        shipped: bool = False

    @step(start=True, retry=Retry(max_attempts=3, base_delay=timedelta(seconds=1)))
    def reserve_stock(self):
        say(f"order {get_context().order_id}: stock reserved")
        return sleep(timedelta(seconds=5), then=self.await_payment)

    @step()
    def await_payment(self):
        ctx = get_context()
        if ctx.paid:
            return goto(self.ship)
        say(f"order {ctx.order_id}: waiting for payment (signal payment:{ctx.order_id})")
        return wait(f"payment:{ctx.order_id}", timeout=timedelta(seconds=30),
                    on_timeout=self.cancel_order)

    @step()
    def ship(self):
        get_context().shipped = True
        say(f"order {get_context().order_id}: paid and shipped")
        return complete(shipped=True)

    @step()
    def cancel_order(self):
        say(f"order {get_context().order_id}: no payment in time, cancelled")
        return complete(shipped=False)


async def drive() -> None:
    """Start an order every 20 s and pay most of them 8 s later."""
    for order_id in itertools.count(1):
        run = await engine.astart("order_fulfilment", order_id=order_id)
        print(f"Started {run.id}", flush=True)
        await asyncio.sleep(8)
        if order_id % 3:
            woken = await engine.asignal(f"payment:{order_id}", {"paid": True})
            print(f"Payment for order {order_id} sent (woke {woken} run)", flush=True)
        await asyncio.sleep(12)


if __name__ == "__main__":
    from durable_automation.cli import main  # noqa: F401 - same hard exit as the CLI
    from durable_automation.devstack import run_dev_stack

    code = run_dev_stack(background=[drive], banner=(
        "  Demo: an order_fulfilment run starts every 20 s; open the UI to watch\n"
        "  their steps, timers and signals."
    ))
    sys.stdout.flush()
    import os

    os._exit(code)
