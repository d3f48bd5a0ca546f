"""The example automation the observability tests watch: the quick-start's order
fulfilment (reserve stock, wait for payment, ship), under a name of its own, plus an
event handler. Steps log through plain ``logging`` so the tests can check what records carry.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from durable_automation import complete, get_context, goto, on_event, step, wait, workflow

log = logging.getLogger("tests.observability.orders")

ORDER = "obs_order_fulfilment"
PAID_EVENT = "obs_order_paid"


def payment_channel(order_id: int) -> str:
    return f"obs-payment:{order_id}"


@workflow(ORDER)
class ObsOrderFulfilment:
    class Context(BaseModel):
        order_id: int
        paid: bool = False

    @step(start=True)
    def reserve_stock(self):
        log.info("order %s: stock reserved", get_context().order_id)
        return goto(self.await_payment)

    @step()
    def await_payment(self):
        ctx = get_context()
        if ctx.paid:
            return goto(self.ship)
        return wait(payment_channel(ctx.order_id), timeout=timedelta(hours=1))

    @step()
    def ship(self):
        log.info("order %s: shipped", get_context().order_id)
        return complete(shipped=True)


@on_event(PAID_EVENT)
def obs_record_payment(event):
    log.info("payment recorded for %s", event.entity_id)


async def run_paid_order() -> tuple[int, Any]:
    """Start an order, pay it once it waits for payment, and wait until it has shipped.

    Returns:
        The order id and the completed run.
    """
    import asyncio
    import random
    import time

    from durable_automation import engine

    order_id = random.randrange(10**9)
    run = await engine.astart(ORDER, order_id=order_id)
    deadline = time.monotonic() + 30
    while await engine.asignal(payment_channel(order_id), {"paid": True}) == 0:
        assert time.monotonic() < deadline, "the run never waited for payment"
        await asyncio.sleep(0.1)
    assert await run.aresult(timeout=30) == {"shipped": True}
    return order_id, run
