"""The seed's automations (001 §2-§4), imports changed only, plus demo-sized offsets.

With ``HOTEL_DEMO=1`` (``manage.py demo``) hours become seconds so that everything
fires within a minute; otherwise the seed's own offsets apply.
"""

from datetime import datetime, timedelta

from django.conf import settings
from pydantic import BaseModel

from django_integration.models import Event
from durable_automation import (
    Retry,
    complete,
    event_workflow,
    fail,
    get_context,
    goto,
    on_event,
    on_event_cancelled,
    step,
    wait,
    wait_for_event,
)

DEMO = settings.HOTEL_DEMO
REMINDER_OFFSET = timedelta(seconds=-30) if DEMO else timedelta(minutes=-60)
CHECKOUT_OPS_OFFSET = timedelta(seconds=-25) if DEMO else timedelta(hours=-2)
DOCS_TIMEOUT = timedelta(seconds=15) if DEMO else timedelta(minutes=90)


def say(message: str) -> None:
    """Print what an automation does (the demo's terminal shows it)."""
    print(f"  {datetime.now():%H:%M:%S}  [automation] {message}", flush=True)


# ── §2 single-step ─────────────────────────────────────────────────────────────────
@on_event(event_name="reservation_confirmed")
def send_welcome_email(event: Event) -> None:
    reservation = event.entity  # fetches the Reservation instance
    # do side-effect: email/webhook/etc.
    say(f"send_welcome_email: welcome email to {reservation.guest} (reservation {reservation.pk})")


@on_event_cancelled("checkin_due")
def checkin_cancelled(event: Event) -> None:
    say(f"checkin_cancelled: check-in of reservation {event.entity_id} cancelled")


@on_event("message_received")
def acknowledge_message(event: Event) -> None:
    message = event.entity
    say(f"acknowledge_message: auto-reply to {message.guest}: 'Thanks, we got: {message.body}'")


# ── §3 event-triggered workflow, before the event ───────────────────────────────────
@event_workflow(event_name="checkin_due", offset=REMINDER_OFFSET)  # run before check-in
class PreArrivalReminder:
    class Context(BaseModel):
        reservation_id: int

    @classmethod
    def create_context(cls, event=None):
        reservation = event.entity
        return cls.Context(reservation_id=reservation.id)

    @step(start=True)
    def run(self):
        # send reminder
        say(f"PreArrivalReminder: reminder sent for reservation {get_context().reservation_id}")
        return complete()


@on_event("checkin_due")
def welcome_at_checkin(event: Event) -> None:
    say(f"welcome_at_checkin: room ready for reservation {event.entity_id}")


# ── §4 control flows ───────────────────────────────────────────────────────────────
@event_workflow(
    event_name="checkout_due",
    offset=CHECKOUT_OPS_OFFSET,  # 2h before checkout (seconds in the demo)
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

    @step(start=True)
    def await_docs(self):
        ctx = get_context()
        if ctx.docs_ready:
            return goto(self.notify_housekeeping)
        say(f"CheckoutOpsWF: reservation {ctx.reservation_id} waits for guest documents")
        return wait_for_event("guest_docs_uploaded", timeout=DOCS_TIMEOUT,
                              on_timeout="fallback_docs")

    @step()
    def fallback_docs(self):
        say("CheckoutOpsWF: no documents in time, using the defaults")
        return goto(self.notify_housekeeping)

    @step()
    def pause_until_ops_window(self):
        return wait.for_signal("ops:window_open")  # elsewhere: engine.signal("ops:window_open")

    @step(retry=Retry(max_attempts=5, base_delay=timedelta(seconds=1)))
    def notify_housekeeping(self):
        ctx = get_context()
        ctx.attempts += 1
        if ctx.attempts < 2:
            say("CheckoutOpsWF: housekeeping unreachable (transient), retrying")
            raise RuntimeError("transient failure")  # triggers per-step retry
        ctx.notified = True
        say(f"CheckoutOpsWF: housekeeping notified for reservation {ctx.reservation_id}")
        return goto(self.finalize)

    @step()
    def finalize(self):
        ctx = get_context()
        if not ctx.notified:
            return fail("Housekeeping was not notified")
        ctx.final_state = "ok"
        return complete(final_state="ok")
