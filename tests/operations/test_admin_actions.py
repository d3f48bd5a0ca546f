"""Django admin actions on Event rows: cancel the runs they started, retry the failed ones."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from django_integration.models import Event, EventStatus
from durable_automation import Event as EventOccurrence
from durable_automation import RunFailedError, engine
from tests.helpers.polling import eventually
from tests.operations import automations  # noqa: F401 - registers the automations
from tests.operations.automations import FIXED


def _event(name: str, guest: str) -> Event:
    """An Event row, and the run it starts (started directly, not through the outbox)."""
    row = Event.objects.create(name=name, entity_type="hotel.guest", entity_id=guest,
                               status=EventStatus.OCCURRED, needs_delivery=False)
    engine.handle_event_occurred(EventOccurrence(name=name, id=str(row.pk),
                                                 entity_type="hotel.guest", entity_id=guest))
    return row


@pytest.mark.django_db
def test_admin_cancels_and_retries_the_runs_of_events(client, dev_worker):
    FIXED["charge"] = False
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    parked = _event("ops_guest_arrived", "21")
    [parked_run_id] = parked.run_ids()
    eventually(lambda: engine.get_run(parked_run_id).status() == "waiting", timeout=30)
    failing = _event("ops_payment_due", "22")
    [failed_run_id] = failing.run_ids()
    with pytest.raises(RunFailedError):
        engine.get_run(failed_run_id).result(timeout=30)

    page = client.post("/admin/django_integration/event/",
                       {"action": "cancel_event_runs", "_selected_action": [parked.pk]},
                       follow=True)
    assert "1 run(s) cancelled." in page.content.decode()
    eventually(lambda: engine.get_run(parked_run_id).status() == "cancelled", timeout=30)

    # Not failed: left alone, and the message says why.
    page = client.post("/admin/django_integration/event/",
                       {"action": "retry_failed_event_runs",
                        "_selected_action": [parked.pk]}, follow=True)
    assert "0 run(s) retried. Left alone" in page.content.decode()
    assert "is cancelled, not failed" in page.content.decode()

    FIXED["charge"] = True
    try:
        page = client.post("/admin/django_integration/event/",
                           {"action": "retry_failed_event_runs",
                            "_selected_action": [failing.pk]}, follow=True)
        assert "1 run(s) retried." in page.content.decode()
        # Reset to the start of charge: the Context it began with (tries 0), one more try.
        assert engine.get_run(failed_run_id).result(timeout=30) == {"tries": 1}
    finally:
        FIXED["charge"] = False
