"""System checks, settings, admin and management commands."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps
from django.utils import timezone

from django_integration import EventDefinition
from django_integration.checks import (
    check_event_definitions,
    check_listeners,
    check_model_events,
    check_settings,
    check_temporal_reachable,
)
from django_integration.models import Event, EventStatus
from durable_automation import on_event
from durable_automation._core.registry import registry
from durable_automation._core.settings import get_settings
from durable_automation.devserver import free_port
from tests.django_integration.testapp.models import Booking


def _ids(messages: list) -> list[str]:
    return sorted(m.id for m in messages)


@isolate_apps("tests.django_integration.testapp")
def test_checks_report_bad_event_declarations():
    class TestMeta:
        app_label = "testapp"

    class DateOnly(models.Model):
        day = models.DateField()
        events = [EventDefinition("d_due", date_field="day")]
        Meta = TestMeta

    class NoSuchField(models.Model):
        events = [EventDefinition("x_due", date_field="nope"),
                  EventDefinition("x_due", condition=bool)]
        Meta = TestMeta

    class NotAList(models.Model):
        events = EventDefinition("single")
        Meta = TestMeta

    class Fine(models.Model):
        at = models.DateTimeField(null=True)
        events = [EventDefinition("fine_due", date_field="at")]
        Meta = TestMeta

    [date_only] = check_model_events(DateOnly)
    assert date_only.id == "durable_automation.E003"
    assert "DateField, not a DateTimeField" in date_only.msg
    assert _ids(check_model_events(NoSuchField)) == ["durable_automation.E002",
                                                     "durable_automation.E004"]
    assert _ids(check_model_events(NotAList)) == ["durable_automation.E001"]
    assert check_model_events(Fine) == []
    # The project's own models are fine.
    assert check_event_definitions() == []


def test_check_warns_about_listeners_of_undeclared_events():
    # Other test modules register listeners for events of their own: look only at ours.
    def ours():
        return [w for w in check_listeners() if "tb_listens_to_nothing" in w.msg]

    assert ours() == []

    @on_event("tb_never_declared_anywhere")
    def tb_listens_to_nothing(event) -> None: ...

    try:
        [warning] = ours()
        assert warning.id == "durable_automation.W001"
        assert "tb_listens_to_nothing" in warning.msg
        assert "'tb_never_declared_anywhere'" in warning.msg
    finally:
        registry.unregister("tb_listens_to_nothing")


def test_deploy_check_reports_unreachable_temporal():
    address = f"127.0.0.1:{free_port()}"
    with override_settings(DURABLE_AUTOMATION={"ADDRESS": address}):
        [warning] = check_temporal_reachable()
    assert warning.id == "durable_automation.W002" and address in warning.msg


def test_settings_are_read_lazily_and_follow_override_settings():
    before = get_settings().task_queue
    with override_settings(DURABLE_AUTOMATION={"TASK_QUEUE": "tq-override"}):
        assert get_settings().task_queue == "tq-override"
    assert get_settings().task_queue == before
    with override_settings(DURABLE_AUTOMATION={"NO_SUCH_KEY": 1}):
        [error] = check_settings()
    assert error.id == "durable_automation.E005" and "NO_SUCH_KEY" in error.msg


def test_admin_lists_filters_links_and_resends(no_forwarding, client, dev_worker):
    admin = User.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(admin)
    booking = Booking.objects.create(ref="A-1", paid=True)  # stays in the outbox (paused)
    [event] = Event.objects.filter(name="tb_booking_paid")

    page = client.get("/admin/django_integration/event/?status=pending&name=tb_booking_paid"
                      "&entity_type=testapp.booking")
    assert page.status_code == 200
    html = page.content.decode()
    assert "testapp.booking:" + str(booking.pk) in html
    assert f"/workflows/tb_booking_paid_handler%3Atestapp.booking%3A{booking.pk}%3A{event.pk}" \
        in html
    assert "waiting, 0 attempt(s)" in html

    response = client.post("/admin/django_integration/event/",
                           {"action": "resend_events", "_selected_action": [event.pk]},
                           follow=True)
    assert "Re-sent 1 event(s); 0 failed" in response.content.decode()
    event.refresh_from_db()
    assert event.status == EventStatus.OCCURRED and not event.needs_delivery


def test_outbox_status_command(no_forwarding):
    Booking.objects.create(ref="S-1", paid=True, due_at=timezone.now() + timedelta(days=1))
    out = StringIO()
    call_command("automation_outbox", "status", stdout=out)
    text = out.getvalue()
    assert "undelivered: 2" in text and "pending: 1" in text and "scheduled: 1" in text


@pytest.mark.parametrize("name", ["automation_worker", "automation_dev", "automation_outbox"])
def test_commands_have_help(name):
    from django.core.management import load_command_class

    parser = load_command_class("django_integration", name).create_parser("manage.py", name)
    assert parser.format_help()
