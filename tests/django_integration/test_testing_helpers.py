"""Seeing model events fire in a test (``automation_events``, ``django_integration.testing``).

A test whose database transaction never commits never sees its events reach Temporal;
these tests check that the documented ways work and that the wrong way says what to use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from django_integration.models import Event, EventStatus
from django_integration.testing import (
    AutomationEvents,
    AutomationTestCase,
    EventsNotForwardedError,
    unforwarded_events_message,
)
from durable_automation import time_machine
from tests.django_integration.testapp.models import Booking, Effect, Reservation

ROOT = Path(__file__).resolve().parents[2]


def _welcomed() -> list[str]:
    return list(Effect.objects.filter(automation="send_welcome_email")
                .values_list("entity", flat=True))


def test_automation_events_fixture_shows_a_model_event_firing(time_machine, automation_events):
    reservation = Reservation.objects.create(
        checkin_at=time_machine.now() + timedelta(days=3), status="confirmed")
    automation_events.forward()
    time_machine.settle()
    event = Event.objects.get(name="reservation_confirmed", entity_id=str(reservation.pk))
    assert event.status == EventStatus.OCCURRED and not event.needs_delivery
    assert _welcomed() == [str(reservation.pk)]
    assert automation_events.pending() == []


def test_forward_in_a_rolled_back_transaction_says_what_to_use(db):
    Reservation.objects.create(checkin_at=timezone.now() + timedelta(days=3), status="confirmed")
    message = unforwarded_events_message()
    assert message is not None
    assert "2 model event(s) (checkin_due, reservation_confirmed)" in message
    assert "@pytest.mark.django_db(transaction=True)" in message
    assert "automation_events" in message
    with pytest.raises(EventsNotForwardedError, match=r"transaction=True"):
        AutomationEvents().forward()


def test_nothing_to_explain_without_events(db):
    Reservation.objects.create(checkin_at=timezone.now() + timedelta(days=3))  # not confirmed
    assert unforwarded_events_message() is None


def test_forward_inside_an_atomic_block_says_to_call_it_after(no_forwarding):
    with transaction.atomic():
        Booking.objects.create(ref="in-atomic", paid=True)
        assert unforwarded_events_message() is None  # not a test transaction: it will commit
        with pytest.raises(EventsNotForwardedError, match=r"Call it after the block"):
            AutomationEvents().forward()


def test_forward_says_when_temporal_is_not_reachable(transactional_db):
    """The usual slip: no time_machine (or dev_worker) in the test, so no server."""
    from durable_automation import engine
    from durable_automation._core.settings import overridden

    assert engine._binding is None, "another test left the engine bound"
    try:
        with (overridden(address="127.0.0.1:1"),  # nothing listens there
              pytest.raises(EventsNotForwardedError, match=r"still wait for delivery"),
              AutomationEvents() as events):
            Booking.objects.create(ref="unreachable", paid=True)
            events.forward()
    finally:
        engine.close()


class AutomationTestCaseSeesEvents(AutomationTestCase):
    """Django's unittest-style classes: a TransactionTestCase with forward_events()."""

    def test_welcome_email(self) -> None:
        with time_machine() as tm:
            reservation = Reservation.objects.create(
                checkin_at=tm.now() + timedelta(days=3), status="confirmed")
            self.forward_events()
            tm.settle()
            self.assertEqual(_welcomed(), [str(reservation.pk)])


WRONG_WAY = """
from datetime import timedelta

import pytest

from tests.django_integration.testapp.models import Booking, Effect, Reservation


@pytest.mark.django_db
def test_rolled_back_and_failing():
    Reservation.objects.create(checkin_at="2030-01-01T00:00:00Z", status="confirmed")
    assert Effect.objects.filter(automation="send_welcome_email").exists()


def test_rolled_back_and_passing(time_machine, db):
    Reservation.objects.create(checkin_at=time_machine.now() + timedelta(days=1),
                               status="confirmed")
"""


def test_a_test_in_a_rolled_back_transaction_is_told_what_to_use(tmp_path: Path):
    test_file = tmp_path / "test_wrong_way.py"
    test_file.write_text(textwrap.dedent(WRONG_WAY))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
         "-W", "default::django_integration.testing.EventsNotForwardedWarning"],
        check=False, cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed, 1 passed, 1 warning" in output, output
    # The failure carries the explanation under the assertion ...
    failure = output.split("def test_rolled_back_and_failing")[1].split("warnings summary")[0]
    assert "model event(s) (checkin_due, reservation_confirmed)" in failure, output
    assert "never reached Temporal" in failure
    assert "@pytest.mark.django_db(transaction=True)" in failure
    # ... and the passing test that started Temporal for nothing gets the warning.
    assert "EventsNotForwardedWarning" in output, output
