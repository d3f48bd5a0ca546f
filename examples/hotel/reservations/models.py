"""The hotel: guests, reservations (seed 001 §1), guest documents and messages."""

from django.db import models

from django_integration import EventDefinition


def _confirmed(r: "Reservation") -> bool:
    return r.status == "confirmed"


class Guest(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return self.name


class Reservation(models.Model):
    guest = models.ForeignKey(Guest, on_delete=models.CASCADE, related_name="reservations")
    room = models.CharField(max_length=10, default="101")
    checkin_at = models.DateTimeField()
    checkout_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, default="pending")

    events = [
        # Immediate: occurs after commit if condition is true
        EventDefinition("reservation_confirmed", condition=_confirmed),
        # Scheduled: occur at checkin_at / checkout_at (still gated by condition)
        EventDefinition("checkin_due", date_field="checkin_at", condition=_confirmed),
        EventDefinition("checkout_due", date_field="checkout_at", condition=_confirmed),
    ]

    def __str__(self) -> str:
        return f"Reservation {self.pk} ({self.guest}, room {self.room}, {self.status})"


class GuestDocument(models.Model):
    """An uploaded ID or form: wakes CheckoutOpsWF's wait_for_event("guest_docs_uploaded")."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE,
                                    related_name="documents")
    kind = models.CharField(max_length=40, default="passport")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    events = [EventDefinition("guest_docs_uploaded", data=lambda d: {"docs_ready": True})]


class Message(models.Model):
    """A message from a guest."""

    guest = models.ForeignKey(Guest, on_delete=models.CASCADE, related_name="messages")
    body = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)

    events = [EventDefinition("message_received")]
