"""Automations of the test app (auto-discovered): the seed's §2 and §3, and test helpers.

The seed's code is kept as written, imports changed only; test-only automations
record what they did as ``Effect`` rows (ORM calls from worker threads).
"""

from datetime import timedelta

from pydantic import BaseModel

from django_integration.models import Event
from durable_automation import (
    complete,
    event_workflow,
    get_context,
    on_event,
    on_event_cancelled,
    on_event_created,
    step,
    wait_for_event,
)
from durable_automation.agents import agent, handler

from .models import Effect


# ── seed 001 §2 ────────────────────────────────────────────────────────────────────
@on_event(event_name="reservation_confirmed")
def send_welcome_email(event: Event) -> None:
    reservation = event.entity  # fetches the Reservation instance
    # do side-effect: email/webhook/etc.
    Effect.objects.create(automation="send_welcome_email", entity=str(reservation.pk))


# ── seed 001 §3 ────────────────────────────────────────────────────────────────────
@event_workflow(event_name="checkin_due", offset=timedelta(minutes=-60))  # run 60m before check-in
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
        Effect.objects.create(automation="PreArrivalReminder",
                              entity=str(get_context().reservation_id))
        return complete()


# ── test helpers ───────────────────────────────────────────────────────────────────
@on_event("checkin_due")
def tb_checkin_arrived(event) -> None:
    Effect.objects.create(automation="tb_checkin_arrived", entity=event.entity_id)


@on_event_created("checkin_due")
def tb_checkin_created(event) -> None:
    Effect.objects.create(automation="tb_checkin_created", entity=event.entity_id)


@on_event_cancelled("checkin_due")
def tb_checkin_cancelled(event) -> None:
    Effect.objects.create(automation="tb_checkin_cancelled", entity=event.entity_id)


@on_event("tb_booking_paid")
def tb_booking_paid_handler(event) -> None:
    booking = event.entity
    Effect.objects.create(automation="tb_booking_paid_handler", entity=booking.ref)


@on_event("tb_booking_due")
def tb_booking_due_handler(event) -> None:
    Effect.objects.create(automation="tb_booking_due_handler", entity=event.entity.ref)


@on_event("tb_fragile_ok")
def tb_fragile_ok_handler(event) -> None:
    Effect.objects.create(automation="tb_fragile_ok_handler", entity=event.entity_id)


@event_workflow("tb_docs_requested")
class TbAwaitDocs:
    """Waits for an upload (wait_for_event bridged from a DocUpload save)."""

    class Context(BaseModel):
        ref: str
        docs_ready: bool = False

    @classmethod
    def create_context(cls, event=None):
        return cls.Context(ref=event.entity.ref)

    @step(start=True)
    def await_docs(self):
        if get_context().docs_ready:
            return complete(docs_ready=True)
        return wait_for_event("tb_docs_uploaded", timeout=timedelta(hours=1))


# ── agents: events for an agent that does not exist yet ────────────────────────────
@agent("tb_stay_journey", spawn_on="tb_stay_confirmed", match={"id": "{{ ctx.stay_id }}"})
class TbStayJourney:
    class Context(BaseModel):
        stay_id: int

    @classmethod
    def create_context(cls, event):
        return cls.Context(stay_id=event.entity.id)

    @handler("tb_stay_due", offset=timedelta(hours=-1))
    def before_checkin(self, ctx):
        Effect.objects.create(automation="tb_stay_before_checkin", entity=str(ctx.stay_id))


# ── per-target outcomes: one automation that cannot start, one that can ────────────
@event_workflow("tb_multi")
class TbMultiBroken:
    class Context(BaseModel):
        label: str

    @classmethod
    def create_context(cls, event=None):
        raise RuntimeError("create_context is broken")

    @step(start=True)
    def run(self):
        return complete()


@on_event("tb_multi")
def tb_multi_ok(event) -> None:
    Effect.objects.create(automation="tb_multi_ok", entity=event.entity_id)


# ── the storm: every transition recorded with its time ──────────────────────────────
STORM_REMINDER = timedelta(seconds=-2)


@on_event_created("tb_storm_due")
def tb_storm_created(event) -> None:
    Effect.objects.create(automation="tb_storm_created", entity=event.entity_id)


@on_event_cancelled("tb_storm_due")
def tb_storm_cancelled(event) -> None:
    Effect.objects.create(automation="tb_storm_cancelled", entity=event.entity_id)


@on_event("tb_storm_due")
def tb_storm_occurred(event) -> None:
    Effect.objects.create(automation="tb_storm_occurred", entity=event.entity_id)


@event_workflow("tb_storm_due", offset=STORM_REMINDER)
class TbStormReminder:
    class Context(BaseModel):
        storm_id: str

    @classmethod
    def create_context(cls, event=None):
        return cls.Context(storm_id=event.entity_id)

    @step(start=True)
    def remind(self):
        Effect.objects.create(automation="tb_storm_reminder", entity=get_context().storm_id)
        return complete()
