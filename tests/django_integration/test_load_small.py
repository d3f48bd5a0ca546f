"""A burst of committed events, at test scale (benchmarks/load.py runs 1,000): every event
is handled exactly once by a real worker using the ORM."""

from __future__ import annotations

from collections import Counter

from django_integration.outbox import flush
from tests.django_integration.testapp.models import Booking, Effect
from tests.helpers.polling import eventually

BURST = 150


def test_burst_of_events_each_handled_exactly_once(dev_worker, outbox):
    for i in range(BURST):
        Booking.objects.create(ref=f"burst-{i}", paid=True)
    assert flush(60)

    def handled() -> Counter:
        return Counter(Effect.objects.filter(automation="tb_booking_paid_handler")
                       .values_list("entity", flat=True))

    from django_integration.models import Event

    def progress() -> str:
        statuses = Counter(Event.objects.filter(name="tb_booking_paid")
                           .values_list("status", "needs_delivery"))
        return f"{len(handled())} handled; events by (status, needs_delivery): {dict(statuses)}"

    eventually(lambda: len(handled()) == BURST, timeout=120, interval=0.5,
               message=f"every burst event handled [{progress()}]")
    counts = handled()
    assert set(counts.values()) == {1}, "an event was handled twice"
    assert set(counts) == {f"burst-{i}" for i in range(BURST)}
