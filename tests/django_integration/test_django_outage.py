"""Temporal unreachable at commit time: events wait in the outbox and are delivered once, later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import F

from django_integration._dispatcher import dispatcher
from django_integration.models import Event, EventStatus
from django_integration.outbox import flush, outbox_status, relay_once
from durable_automation import engine
from durable_automation.devserver import DevServer
from tests.django_integration.testapp.models import Booking, Effect
from tests.helpers.own_server import own_server_with_worker
from tests.helpers.polling import eventually

N = 100


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[DevServer]:
    """A dev server of our own (state on disk, fixed port) with a worker bound to the engine."""
    with own_server_with_worker(tmp_path, "outage") as server:
        timeout = dispatcher.timeout
        dispatcher.timeout = 2.0
        try:
            yield server
        finally:
            dispatcher.timeout = timeout


def _handled() -> list[str]:
    return list(Effect.objects.filter(automation="tb_booking_paid_handler")
                .values_list("entity", flat=True))


def test_saves_while_temporal_is_down_are_delivered_once_after_restart(restartable, outbox):
    server = restartable
    server.stop()
    for i in range(N):
        Booking.objects.create(ref=f"down-{i}", paid=True)
    assert flush(60)
    assert Event.objects.filter(needs_delivery=True).count() == N
    assert outbox_status().undelivered == N
    assert _handled() == []

    server.start()
    result = relay_once(include_fresh=True)
    assert (result.delivered, result.failed, result.retry_later) == (N, 0, 0)
    assert not Event.objects.filter(needs_delivery=True).exists()
    assert set(Event.objects.values_list("status", flat=True)) == {EventStatus.OCCURRED}
    eventually(lambda: len(_handled()) >= N, timeout=60, message="all handlers ran")

    # Relay twice more, as if nothing had been recorded as delivered: nothing runs twice.
    for _ in range(2):
        Event.objects.update(needs_delivery=True, status=EventStatus.PENDING,
                             delivered_status="", version=F("version") + 1)
        call_command("automation_outbox", "relay", "--include-fresh", stdout=_Sink())
    assert not Event.objects.filter(needs_delivery=True).exists()

    async def count() -> int:
        client = await engine._aclient()
        return (await client.count_workflows(
            f"WorkflowType = 'tb_booking_paid_handler' AND TaskQueue = '{engine.task_queue}'"
        )).count

    eventually(lambda: engine._blocking(count, name="count") == N, timeout=20,
               message="exactly one handler run per event")
    assert sorted(_handled()) == sorted(f"down-{i}" for i in range(N))


class _Sink:
    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass


def test_a_paused_dispatcher_is_not_woken_by_commits():
    # While it backs off (Temporal unreachable) the dispatcher would only drop what it is
    # handed: rows stay in the outbox for the relay. Waking its thread for that on every
    # commit cost the committing thread a GIL hand-over per save.
    from django_integration._dispatcher import Dispatcher

    paused = Dispatcher()
    paused.pause(60)
    paused.submit([1, 2, 3])
    assert paused._thread is None and paused._pending == []
