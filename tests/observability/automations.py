"""The example automation the observability tests watch: the quick-start's order
fulfilment (reserve stock, wait for payment, ship), under a name of its own, plus an
event handler. Steps log through plain ``logging`` so the tests can check what records carry.
"""

from __future__ import annotations

import logging
from datetime import timedelta

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
