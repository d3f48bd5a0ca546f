"""Log records emitted by steps and handlers carry the automation, the run id and the step."""

from __future__ import annotations

import logging

from durable_automation import engine
from durable_automation._client.observability import StepLogFilter
from tests.observability.automations import ORDER, PAID_EVENT, log, run_paid_order

FORMAT = "%(automation)s %(run_id)s %(step)s: %(message)s"


async def test_step_and_handler_records_carry_run_and_step(observed_worker, caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    async with observed_worker():
        order_id, run = await run_paid_order()
        [handled] = await engine.aemit(PAID_EVENT, entity_type="shop.order",
                                       entity_id=order_id)
        await handled.aresult(timeout=30)

    formatter = logging.Formatter(FORMAT)
    lines = [formatter.format(r) for r in caplog.records if r.name == log.name]
    assert f"{ORDER} {run.id} reserve_stock: order {order_id}: stock reserved" in lines
    assert f"{ORDER} {run.id} ship: order {order_id}: shipped" in lines
    # @on_event handlers: their name is the automation, their one step (activity
    # obs_record_payment.handle, as in the UI) is "handle".
    assert f"obs_record_payment {handled.id} handle: payment recorded for {order_id}" in lines


def test_records_outside_steps_are_left_alone_and_the_filter_fills_defaults(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    log.info("not in a step", extra={"step": "mine"})  # the names stay free outside steps
    [record] = [r for r in caplog.records if r.name == log.name]
    assert not hasattr(record, "automation") and record.step == "mine"

    assert StepLogFilter().filter(record)
    assert (record.automation, record.run_id, record.step) == (None, None, "mine")
