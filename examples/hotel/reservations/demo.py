"""The demo driver: a short hotel scenario in real time, printed as it happens."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from django.utils import timezone

from django_integration._resolver import run_db

from .models import Guest, GuestDocument, Message, Reservation


def _say(message: str) -> None:
    print(f"  {datetime.now():%H:%M:%S}  [demo] {message}", flush=True)


async def drive() -> None:
    """Book, confirm, move, message, upload documents, cancel; the automations react."""
    await asyncio.sleep(1)
    now = timezone.now()

    def book() -> Reservation:
        guest = Guest.objects.create(name="Ada Lovelace", email="ada@example.com")
        return Reservation.objects.create(
            guest=guest, checkin_at=now + timedelta(seconds=40),
            checkout_at=now + timedelta(seconds=70))

    reservation = await run_db(book)
    _say(f"booked {reservation}: check-in in 40s, check-out in 70s")
    await asyncio.sleep(3)

    def confirm() -> None:
        reservation.status = "confirmed"
        reservation.save()

    await run_db(confirm)
    _say("confirmed -> reservation_confirmed now; checkin_due/checkout_due scheduled "
         "(reminder 30s before check-in, checkout ops 25s before check-out)")
    await asyncio.sleep(4)

    def move() -> None:
        reservation.checkin_at += timedelta(seconds=5)
        reservation.save()

    await run_db(move)
    _say("check-in moved 5s later -> the reminder and the check-in timer move with it")

    def other() -> Reservation:
        return Reservation.objects.create(guest=reservation.guest, room="202",
                                          status="confirmed",
                                          checkin_at=timezone.now() + timedelta(minutes=5))

    spare = await run_db(other)
    _say(f"booked and confirmed {spare}")
    await asyncio.sleep(3)
    await run_db(spare.delete)
    _say("deleted it -> its check-in is cancelled, its reminder run is cancelled")

    await run_db(lambda: Message.objects.create(guest=reservation.guest,
                                                body="Late arrival, around 10pm"))
    _say("guest sent a message")

    # Upload the documents while CheckoutOpsWF waits for them (it starts at checkout-25s).
    delay = (reservation.checkout_at - timedelta(seconds=20) - timezone.now()).total_seconds()
    await asyncio.sleep(max(delay, 0))
    await run_db(lambda: GuestDocument.objects.create(reservation=reservation))
    _say("guest uploaded documents -> guest_docs_uploaded wakes CheckoutOpsWF")
    await asyncio.sleep(max((reservation.checkout_at - timezone.now()).total_seconds(), 0) + 5)
    _say("scenario done: browse the runs in the Temporal UI; Ctrl-C to stop")
