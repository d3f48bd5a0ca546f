"""The seed's §4 and §5 automations, copied as written; only the imports changed."""

from datetime import timedelta

from pydantic import BaseModel

from durable_automation.workflows import (
    Retry,
    complete,
    engine,
    event_workflow,
    fail,
    get_context,
    goto,
    step,
    wait,
    wait_for_event,
    workflow,
)


@event_workflow(
    event_name="checkout_due",
    offset=timedelta(hours=-2),  # 2h before checkout
    default_retry=Retry(max_attempts=3, base_delay=timedelta(seconds=2)),
)
class CheckoutOpsWF:
    class Context(BaseModel):
        reservation_id: int
        docs_ready: bool = False
        notified: bool = False
        attempts: int = 0
        final_state: str | None = None

    @classmethod
    def create_context(cls, event=None):
        return cls.Context(reservation_id=event.entity.id)

    # ── Correct: wait_for_event listens for our Event models (via "event:<name>" bridge)
    @step(start=True)
    def await_docs(self):
        ctx = get_context()
        if ctx.docs_ready:
            return goto(self.notify_housekeeping)
        # Wait until the Event model named "guest_docs_uploaded" OCCURS,
        # or jump to fallback after 90 minutes:
        return wait_for_event("guest_docs_uploaded", timeout=timedelta(minutes=90), on_timeout="fallback_docs")

    @step()
    def fallback_docs(self):
        # proceed with default docs
        return goto(self.notify_housekeeping)

    # ── Example: generic wait for a custom signal YOU emit (not tied to Event models)
    @step()
    def pause_until_ops_window(self):
        return wait.for_signal("ops:window_open")  # elsewhere: engine.signal("ops:window_open")

    @step(retry=Retry(max_attempts=5, base_delay=timedelta(seconds=1)))
    def notify_housekeeping(self):
        ctx = get_context()
        ctx.attempts += 1
        if ctx.attempts < 2:
            raise RuntimeError("transient failure")  # triggers per-step retry
        ctx.notified = True
        return goto(self.finalize)

    @step()
    def finalize(self):
        ctx = get_context()
        if not ctx.notified:
            return fail("Housekeeping was not notified")
        ctx.final_state = "ok"
        return complete(final_state="ok")


@workflow("reindex_listing")
class ReindexListing:
    class Context(BaseModel):
        listing_id: int

    @classmethod
    def create_context(cls, listing_id: int):
        return cls.Context(listing_id=listing_id)

    @step(start=True)
    def run(self):
        # do reindex now
        return complete()


_ = engine  # imported by the seed for `engine.start(...)`
