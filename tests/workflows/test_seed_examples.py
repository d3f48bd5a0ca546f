"""The seed's CheckoutOpsWF and ReindexListing under time_machine(), imports changed only."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from durable_automation import engine
from tests.helpers.history import step_names, steps_scheduled
from tests.workflows import seed_automations  # noqa: F401 - registers the seed automations


def _reservation(pk: int) -> SimpleNamespace:
    return SimpleNamespace(id=pk, pk=pk)


def test_reindex_listing_started_manually(time_machine):
    run = engine.start("reindex_listing", listing_id=123)

    assert run.id.startswith("reindex_listing:listing_id=123:")
    assert run.result(timeout=20) == {}
    assert run.status() == "completed"
    assert run.context().listing_id == 123
    assert step_names(run.id) == ["run"]


def test_checkout_ops_docs_arrive(time_machine):
    [run] = engine.emit("checkout_due", entity=_reservation(7), entity_type="hotel.reservation")
    time_machine.settle()
    assert run.status() == "waiting"
    assert run.current_step() == "await_docs"
    assert run.state().waiting_for == "event:guest_docs_uploaded"

    # The event occurs; its data merges into the Context and the step is re-entered.
    engine.emit("guest_docs_uploaded", data={"docs_ready": True})
    # notify_housekeeping fails once (transient) and is retried after its 1 s backoff.
    time_machine.advance(seconds=1)

    assert run.result(timeout=20) == {"final_state": "ok"}
    ctx = run.context()
    assert (ctx.docs_ready, ctx.notified, ctx.attempts, ctx.final_state) == (True, True, 2, "ok")
    assert step_names(run.id) == ["await_docs", "await_docs", "notify_housekeeping", "finalize"]


def test_checkout_ops_docs_never_arrive_falls_back_after_90_minutes(time_machine):
    [run] = engine.emit("checkout_due", entity=_reservation(8), entity_type="hotel.reservation")
    time_machine.advance(minutes=89)
    assert run.status() == "waiting"
    assert run.current_step() == "await_docs"

    time_machine.advance(minutes=1, seconds=1)  # the 90-minute timeout, then the retry backoff
    assert run.result(timeout=20) == {"final_state": "ok"}
    scheduled = steps_scheduled(run.id)
    assert [name for name, _ in scheduled] == [
        "await_docs", "fallback_docs", "notify_housekeeping", "finalize",
    ]
    waited = scheduled[1][1] - scheduled[0][1]
    assert timedelta(minutes=90) <= waited < timedelta(minutes=90, seconds=5)
    assert run.context().docs_ready is False


def _temporal_run_ids(workflow_id: str) -> list[str]:
    """Temporal's own run ids under ``workflow_id``: the first of its chain and the latest.

    The time-skipping server has no visibility list to count executions with; a second
    execution under the same id would still show as a new latest run id here.
    """
    from durable_automation._core.runtime import call_sync

    async def fetch() -> list[str]:
        client = await engine._aclient()
        described = await client.get_workflow_handle(workflow_id).describe()
        first = described.raw_description.workflow_execution_info.first_run_id
        return [first] if first == described.run_id else [first, described.run_id]

    return call_sync(engine._ensure().loop, fetch, sync_name="t", async_name="t")


def test_same_event_delivered_twice_starts_one_run(time_machine):
    event_id = "checkout-9"
    [first] = engine.emit("checkout_due", entity=_reservation(9), id=event_id)
    time_machine.settle()
    runs_after_first = _temporal_run_ids(first.id)
    assert len(runs_after_first) == 1

    # Delivered again while the run waits: no second execution, the run is untouched.
    [second] = engine.emit("checkout_due", entity=_reservation(9), id=event_id)
    time_machine.settle()
    assert second.id == first.id
    assert _temporal_run_ids(first.id) == runs_after_first
    assert step_names(first.id) == ["await_docs"]

    # Delivered again after the run finished: still no second execution.
    engine.emit("guest_docs_uploaded", data={"docs_ready": True})
    time_machine.advance(seconds=1)
    assert first.result(timeout=20) == {"final_state": "ok"}
    engine.emit("checkout_due", entity=_reservation(9), id=event_id)
    time_machine.settle()
    assert _temporal_run_ids(first.id) == runs_after_first
    assert first.status() == "completed"


@pytest.mark.parametrize("payload", [{"docs_ready": "maybe"}])
def test_bad_event_payload_is_rejected_and_run_keeps_waiting(time_machine, payload):
    from durable_automation import SignalPayloadError

    [run] = engine.emit("checkout_due", entity=_reservation(10))
    time_machine.settle()
    with pytest.raises(SignalPayloadError, match=r"CheckoutOpsWF\.Context"):
        engine.signal("event:guest_docs_uploaded", payload)
    time_machine.settle()
    assert run.status() == "waiting"
    assert run.context().docs_ready is False
    # The run is not stuck: a good payload still wakes it.
    assert engine.signal("event:guest_docs_uploaded", {"docs_ready": True}) == 1
    time_machine.advance(seconds=1)
    assert run.result(timeout=20) == {"final_state": "ok"}
