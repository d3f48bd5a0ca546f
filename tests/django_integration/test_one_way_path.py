"""The path from ``save()`` to a step goes one way: Django calls the core.

The scheduled-event timer and its fire activity are the Django app's own, and events
are forwarded carrying the entity that forwarding reads, so the core does not call
back into Django on the way (see docs/django.md, "The path from save() to a step").
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.utils import timezone

import durable_automation
from django_integration import _timer
from django_integration._lease import claim, release
from django_integration.models import Event
from durable_automation._core.hooks import entity_resolver, worker_components
from durable_automation.integration import set_entity_resolver
from tests.django_integration.testapp.models import Reservation


def test_the_core_names_no_activity_or_workflow_of_the_django_app():
    core = Path(durable_automation.__file__).parent
    for path in core.rglob("*.py"):
        text = path.read_text()
        assert "fire_scheduled_event" not in text, path
        assert "FireRequest" not in text, path
        assert "class ScheduledEventWorkflow" not in text, path


def test_the_timer_and_its_fire_activity_are_the_apps_own_worker_component():
    [component] = [c for c in worker_components()
                   if c.name == "django_integration.scheduled_events"]
    assert component.workflows == (_timer.ScheduledEventWorkflow,)
    assert [a.__module__ for a in component.activities] == ["django_integration._fire"]


def test_forwarded_events_carry_the_entity_that_forwarding_reads(no_forwarding):
    reservation = Reservation.objects.create(
        checkin_at=timezone.now() + timedelta(days=3), status="confirmed")
    ids = list(Event.objects.filter(entity_id=str(reservation.pk)).values_list("id", flat=True))
    previous = entity_resolver()

    def refuse(entity_type: str, entity_id: str) -> object:
        raise AssertionError(f"the core called back into Django for {entity_type}:{entity_id}")

    deliveries = {d.event.name: d for d in claim(ids)}
    try:
        set_entity_resolver(refuse)
        # checkin_due starts an @event_workflow: its create_context reads event.entity.
        assert deliveries["checkin_due"].event.entity == reservation
        # reservation_confirmed has a plain handler only: nothing read, nothing loaded.
        assert deliveries["reservation_confirmed"].event._entity is None
    finally:
        set_entity_resolver(previous)
        for delivery in deliveries.values():
            release(delivery)


def test_an_entity_gone_before_forwarding_is_left_to_the_resolver(no_forwarding):
    reservation = Reservation.objects.create(
        checkin_at=timezone.now() + timedelta(days=3), status="confirmed")
    ids = list(Event.objects.filter(entity_id=str(reservation.pk)).values_list("id", flat=True))
    Reservation.objects.filter(pk=reservation.pk)._raw_delete("default")  # no signals
    deliveries = claim(ids)
    try:
        [due] = [d for d in deliveries if d.event.name == "checkin_due"]
        assert due.event._entity is None  # create_context then gets EntityNotFoundError
    finally:
        for delivery in deliveries:
            release(delivery)
