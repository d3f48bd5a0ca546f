"""Event retention (seed 001 §6, "Events: cleanup_old (daily)"): old rows nothing needs
go; rows that still need delivery, wait for their date, wait for an operator, or
remember that an event already occurred for a live instance stay. SQLite and
PostgreSQL (``DURABLE_AUTOMATION_TEST_DB=postgres``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from temporalio.client import ScheduleDescription

from django_integration.models import Event, EventStatus
from django_integration.retention import (
    CLEANUP_CRON,
    CLEANUP_TASK,
    SCHEDULER_NAME,
    cleanup_old_events,
    install_cleanup_schedule,
)
from durable_automation.scheduler import Scheduler
from tests.django_integration.testapp.models import Booking

OLD = timedelta(days=40)


def _row(name: str, entity: str, *, age: timedelta = OLD, **values: object) -> Event:
    """An Event row last changed ``age`` ago (delivered and settled unless told)."""
    fields: dict[str, object] = {"status": EventStatus.OCCURRED, "needs_delivery": False,
                                 "at": timezone.now() - age}
    fields.update(values)
    label, pk = entity.split(":")
    row = Event.objects.create(name=name, entity_type=label, entity_id=pk, **fields)
    Event.objects.filter(pk=row.pk).update(updated_at=timezone.now() - age)
    return row


def _settle(booking: Booking, name: str) -> Event:
    """The row a save created for ``booking``, as if delivered long ago."""
    row = Event.objects.get(name=name, entity_id=str(booking.pk))
    Event.objects.filter(pk=row.pk).update(status=EventStatus.OCCURRED, needs_delivery=False,
                                           updated_at=timezone.now() - OLD)
    return row


@pytest.fixture
def history(no_forwarding):
    """Rows of every kind; returns (ids that must stay, ids that may go)."""
    live = Booking.objects.create(ref="R-live", paid=True)
    latest = _settle(live, "tb_booking_paid")
    gone_booking = Booking.objects.create(ref="R-gone", paid=True)
    gone_row = _settle(gone_booking, "tb_booking_paid")
    gone_pk = gone_booking.pk
    gone_booking.delete()
    dead_entity = f"testapp.booking:{gone_pk}"
    superseded = _row("tb_booking_due", f"testapp.booking:{live.pk}", age=OLD * 2,
                      scheduled=True)
    newest_due = _row("tb_booking_due", f"testapp.booking:{live.pk}", scheduled=True)
    keep = {
        latest.pk,  # the latest row of a live instance: the event's memory
        newest_due.pk,
        _row("tb_x_waiting", dead_entity, needs_delivery=True).pk,
        _row("tb_x_dead", dead_entity, dead_at=timezone.now() - OLD,
             last_delivery_error="boom").pk,
        _row("tb_x_scheduled", dead_entity, status=EventStatus.SCHEDULED,
             at=timezone.now() + timedelta(days=3)).pk,
        _row("tb_x_future", dead_entity, status=EventStatus.CANCELLED,
             at=timezone.now() + timedelta(days=3)).pk,
        _row("tb_x_recent", dead_entity, age=timedelta(days=2)).pk,
        _row("tb_x_badkey", "testapp.booking:not-a-number").pk,
    }
    remove = {
        superseded.pk,
        gone_row.pk,
        _row("tb_x_cancelled", dead_entity, status=EventStatus.CANCELLED).pk,
        _row("tb_x_model_removed", "oldapp.gonemodel:7").pk,
    }
    return live, keep, remove


def test_cleanup_deletes_only_rows_nothing_needs(history):
    live, keep, remove = history
    before = set(Event.objects.values_list("pk", flat=True))
    assert keep | remove <= before

    dry = cleanup_old_events(timedelta(days=30), dry_run=True)
    assert (dry.deleted, dry.superseded, dry.entity_gone) == (4, 1, 3)
    assert set(Event.objects.values_list("pk", flat=True)) == before  # nothing deleted

    result = cleanup_old_events(timedelta(days=30))
    assert (result.deleted, result.superseded, result.entity_gone) == (4, 1, 3)
    left = set(Event.objects.values_list("pk", flat=True))
    assert keep <= left and not remove & left

    # The kept latest row is why saving the live booking again fires nothing anew.
    live.ref = "R-live-2"
    live.save()
    assert Event.objects.filter(name="tb_booking_paid", entity_id=str(live.pk)).count() == 1
    assert not Event.objects.filter(needs_delivery=True, entity_id=str(live.pk)).exists()
    # A second pass finds nothing more.
    assert cleanup_old_events(timedelta(days=30)).deleted == 0


def test_retention_setting_and_off(history):
    _, _, remove = history
    with override_settings(DURABLE_AUTOMATION={"EVENT_RETENTION": timedelta(days=90)}):
        assert cleanup_old_events().deleted == 0  # 40-day-old rows are within 90 days
    with override_settings(DURABLE_AUTOMATION={"EVENT_RETENTION": None}):
        result = cleanup_old_events()
        assert (result.cutoff, result.deleted) == (None, 0)
    with override_settings(DURABLE_AUTOMATION={"EVENT_RETENTION": 30 * 86400}):
        assert cleanup_old_events().deleted == len(remove)


def test_management_command_dry_run_then_cleanup(history):
    _, keep, remove = history
    out = StringIO()
    call_command("automation_events", "cleanup", "--dry-run", stdout=out)
    assert "would delete 4 event(s)" in out.getvalue()
    assert "1 superseded" in out.getvalue() and "3 of deleted instances" in out.getvalue()
    assert Event.objects.filter(pk__in=remove).count() == len(remove)

    out = StringIO()
    call_command("automation_events", "cleanup", "--older-than", "60", stdout=out)
    assert "deleted 1 event(s)" in out.getvalue()  # only the 80-day-old superseded row

    out = StringIO()
    call_command("automation_events", "cleanup", stdout=out)
    assert "deleted 3 event(s)" in out.getvalue()
    assert not Event.objects.filter(pk__in=remove).exists()
    assert Event.objects.filter(pk__in=keep).count() == len(keep)


def test_the_worker_installs_a_durable_daily_job_that_cleans(history, dev_worker,
                                                              temporal_dev_server):
    _, keep, remove = history
    scheduler = Scheduler(SCHEDULER_NAME)

    async def describe() -> ScheduleDescription:
        client = await temporal_dev_server.connect()
        return await client.get_schedule_handle(scheduler.schedule_id(CLEANUP_TASK)).describe()

    try:
        assert install_cleanup_schedule() is True
        # A second worker start (or the management command): updated in place.
        out = StringIO()
        call_command("automation_events", "schedule", stdout=out)
        assert f"cron {CLEANUP_CRON}" in out.getvalue()
        # A Temporal Schedule, running (not paused), whatever process installed it.
        description = asyncio.run(describe())
        assert not description.schedule.state.paused
        assert scheduler.load() == [CLEANUP_TASK]
        assert scheduler.tasks[CLEANUP_TASK].cron == CLEANUP_CRON
        status = scheduler.get_task_status(CLEANUP_TASK)
        assert status is not None and status["enabled"]
        assert 0 < status["seconds_until_next"] <= 86400  # daily
        # One run of the schedule's action, now, on the worker: the rows go.
        asyncio.run(scheduler.run_task(CLEANUP_TASK))
        assert not Event.objects.filter(pk__in=remove).exists()
        assert Event.objects.filter(pk__in=keep).count() == len(keep)
    finally:
        scheduler.remove_task(CLEANUP_TASK)
