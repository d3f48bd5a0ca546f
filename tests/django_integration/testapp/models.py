"""Models for the Django integration tests: the seed's Reservation, and a few more."""

from django.db import models

from django_integration import EventDefinition


class Reservation(models.Model):
    """Seed 001 §1, imports changed only."""

    checkin_at = models.DateTimeField()
    status = models.CharField(max_length=20, default="pending")

    events = [
        # Immediate: occurs after commit if condition is true
        EventDefinition("reservation_confirmed", condition=lambda r: r.status == "confirmed"),
        # Scheduled: occurs at checkin_at (still gated by condition)
        EventDefinition("checkin_due", date_field="checkin_at",
                        condition=lambda r: r.status == "confirmed"),
    ]


class PlainReservation(models.Model):
    """The same model without events: the baseline of the save() benchmark."""

    checkin_at = models.DateTimeField()
    status = models.CharField(max_length=20, default="pending")


class Booking(models.Model):
    """Events for the dev-server tests (names unique to this suite)."""

    ref = models.CharField(max_length=40)
    paid = models.BooleanField(default=False)
    due_at = models.DateTimeField(null=True, blank=True)
    needs_docs = models.BooleanField(default=False)

    events = [
        EventDefinition("tb_booking_paid", condition=lambda b: b.paid,
                        data=lambda b: {"ref": b.ref}),
        EventDefinition("tb_booking_due", date_field="due_at"),
        EventDefinition("tb_docs_requested", condition=lambda b: b.needs_docs),
    ]


class Fragile(models.Model):
    """A model whose first event's condition raises on a bad value."""

    value = models.IntegerField(default=1)
    when = models.DateTimeField(null=True, blank=True)

    events = [
        EventDefinition("tb_fragile_inverse", condition=lambda f: 10 / f.value > 1),
        EventDefinition("tb_fragile_ok", condition=lambda f: True),
        EventDefinition("tb_fragile_due", date_field="when", condition=lambda f: 10 / f.value > 1),
    ]


class DocUpload(models.Model):
    """An upload that wakes runs waiting with wait_for_event("tb_docs_uploaded")."""

    reservation_id = models.IntegerField()

    events = [EventDefinition("tb_docs_uploaded", data=lambda d: {"docs_ready": True})]


class Effect(models.Model):
    """Written by automations from worker threads: what ran, for what."""

    automation = models.CharField(max_length=100)
    entity = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)


class Stay(models.Model):
    """A reservation an agent follows (events for an agent that does not exist yet)."""

    confirmed = models.BooleanField(default=False)
    checkin_at = models.DateTimeField(null=True, blank=True)

    events = [
        EventDefinition("tb_stay_confirmed", condition=lambda s: s.confirmed),
        EventDefinition("tb_stay_due", date_field="checkin_at"),
    ]


class Multi(models.Model):
    """An event with several automations, one of which cannot start (per-target outcomes)."""

    label = models.CharField(max_length=40, default="")

    events = [EventDefinition("tb_multi", condition=lambda m: True)]


class Storm(models.Model):
    """The storm: creates, moves and deletes faster than delivery (real time, dev server)."""

    due_at = models.DateTimeField(null=True, blank=True)
    confirmed = models.BooleanField(default=True)

    events = [
        EventDefinition("tb_storm_due", date_field="due_at", condition=lambda s: s.confirmed),
    ]


class BenchItem(models.Model):
    """The model of ``benchmarks/django_events.py``: one immediate event, one handler."""

    ref = models.CharField(max_length=40, default="")

    events = [EventDefinition("tb_bench_done", condition=lambda b: True,
                              data=lambda b: {"ref": b.ref})]
