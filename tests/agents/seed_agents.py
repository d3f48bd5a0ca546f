"""Seed 001 §8 agents, verbatim except for imports, plus the side-effect helpers they call.

The helpers record (channel, guest, text) so tests can assert exactly what happened.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from durable_automation.agents import AgentManager, agent, handler  # noqa: F401
from durable_automation.events import claims, on_event

SENT: list[tuple[str, object, str]] = []


def send_email(to, text):
    SENT.append(("email", to, text))


def send_sms(to, text):
    SENT.append(("sms", to, text))


def send_message(to, text):
    SENT.append(("message", to, text))


def log_message(message_id):
    SENT.append(("audit", message_id, "logged"))


# ── seed: Basic Agent Structure ────────────────────────────────────────────────────────


@agent(
    "reservation_journey",
    spawn_on="reservation_created",
    match={"id": "{{ ctx.reservation_id }}"},  # How to find existing agent for events
    singleton=True,                             # One agent per match
)
class ReservationJourney:
    class Context(BaseModel):
        reservation_id: int
        guest_name: str = ""
        reminder_sent: bool = False
        welcome_sent: bool = False

    @classmethod
    def create_context(cls, event):
        reservation = event.entity
        return cls.Context(
            reservation_id=reservation.id,
            guest_name=reservation.guest.name,
        )

    @handler("reservation_confirmed")
    def send_confirmation(self, ctx):
        """Runs immediately when reservation is confirmed"""
        send_email(ctx.guest_name, "Your booking is confirmed!")

    @handler("checkin_due", offset=timedelta(hours=-3))
    def send_pre_checkin(self, ctx):
        """Runs 3 hours BEFORE checkin time"""
        send_sms(ctx.guest_name, "Check-in opens soon!")
        ctx.reminder_sent = True

    @handler("checkin_due")
    def send_welcome(self, ctx):
        """Runs AT checkin time"""
        send_message(ctx.guest_name, "Welcome! Your room is ready.")
        ctx.welcome_sent = True

    @handler("checkout_due", offset=timedelta(hours=1))
    def send_feedback_request(self, ctx):
        """Runs 1 hour AFTER checkout"""
        send_email(ctx.guest_name, "How was your stay?")


# ── seed: Match (GuestSupport) + Event Claims Integration ──────────────────────────────


@agent(
    "guest_support",
    spawn_on="booking_created",
    match={"guest_id": "{{ ctx.guest_id }}"},  # Entity.guest_id == ctx.guest_id
)
class GuestSupport:
    class Context(BaseModel):
        guest_id: int
        booking_id: int

    @classmethod
    def create_context(cls, event):
        booking = event.entity
        return cls.Context(guest_id=booking.guest_id, booking_id=booking.id)

    # This handler listens to a DIFFERENT entity type (Message vs Booking)
    # The match override tells the system how to find the right agent
    @handler("message_received", match={"sender_id": "{{ ctx.guest_id }}"})
    def handle_message(self, ctx):
        """Routes messages where message.sender_id == ctx.guest_id"""
        SENT.append(("support", ctx.guest_id, "handled"))

    @handler("ticket_created")
    def on_spawn(self, ctx):
        # Claim all messages from this guest for this agent
        claims.hold("message_received", match={"sender_id": ctx.guest_id})

    @handler("ticket_resolved")
    def cleanup(self, ctx):
        # Release the claim when done
        claims.release("message_received", match={"sender_id": ctx.guest_id})


# The seed's audit handler reads ctx.message_id: it lives on a per-message agent.
@agent("message_audit", spawn_on="message_received", match={"id": "{{ ctx.message_id }}"})
class MessageAudit:
    class Context(BaseModel):
        message_id: int

    @classmethod
    def create_context(cls, event):
        return cls.Context(message_id=event.entity.id)

    # Handlers that should ALWAYS run regardless of claims:
    @handler("message_received", ignores_claims=True)
    def audit_all_messages(self, ctx):
        """Runs even when another flow has claimed this event"""
        log_message(ctx.message_id)


# Two more listeners that claims must silence: another agent's handler and an @on_event.
@agent("message_triage", spawn_on="booking_created", match={"guest_id": "{{ ctx.guest_id }}"})
class MessageTriage:
    class Context(BaseModel):
        guest_id: int
        seen: int = 0

    @classmethod
    def create_context(cls, event):
        return cls.Context(guest_id=event.entity.guest_id)

    @handler("message_received", match={"sender_id": "{{ ctx.guest_id }}"})
    def triage(self, ctx):
        ctx.seen += 1
        SENT.append(("triage", ctx.guest_id, "seen"))


@on_event("message_received", name="message_inbox_router")
def route_to_inbox(event):
    SENT.append(("inbox", event.entity_id, "routed"))
