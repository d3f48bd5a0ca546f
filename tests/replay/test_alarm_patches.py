"""The timers a wake no longer cancels (``_worker/alarm.py``) are behind their patches.

Histories recorded before the patches hold a ``TIMER_CANCELED`` where a signal or an
update woke the wait; they replay under today's code (``test_replay.py``) because the
patch is off for them. Forced on, each must fail: that is what the patch guards.
(The scheduled-event workflow's histories replay here because pytest sets Django up,
and the Django app registers that workflow.)
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.workflow import NondeterminismError

from durable_automation.worker import replayer
from tests.replay import automations  # noqa: F401 - registers the automations replayed
from tests.replay.files import HISTORIES, load

# History recorded before the patch -> the patch that changes its commands.
BEFORE = {
    "debounce_after_flush": "da-debounce-alarm",
    "batch_two_batches": "da-batch-alarm",
    "agent_woken_after_offset_timer": "da-agent-alarm",
    "step_woken_by_signal": "da-step-wait-alarm",
    "signal_hub_registered_and_delivered": "da-hub-alarm",
    "agent_directory_armed": "da-directory-alarm",
    "cancel_on_index_after_event": "da-cancel-index-alarm",
    "gate_rescheduled_started": "da-gate-alarm",
    "scheduled_event_moved_then_fired": "da-django-timer-alarm",
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_a_history_from_before_the_patch_needs_it_off(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    history = load(HISTORIES / f"{name}.json")
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_TIMER_CANCELED in kinds  # a wake cancelled the timer
    patched = workflow.patched
    monkeypatch.setattr(workflow, "patched",
                        lambda patch_id: patch_id == BEFORE[name] or patched(patch_id))
    with pytest.raises(NondeterminismError):
        asyncio.run(asyncio.wait_for(replayer().replay_workflow(history), timeout=60))


# Histories recorded with the patches: the same scenarios, and no timer cancelled.
AFTER = ["agent_alarm_woken_after_offset_timer", "agent_alarm_directory_armed",
         "batch_alarm_two_batches", "cancel_on_alarm_index_after_event",
         "debounce_alarm_after_flush", "debounced_handler_alarm_batch",
         "step_alarm_signal_hub_registered_and_delivered", "step_alarm_woken_by_signal",
         "gate_alarm_rescheduled_started", "scheduled_event_alarm_moved_then_fired",
         "scheduled_event_alarm_moved_earlier_then_fired"]


@pytest.mark.parametrize("name", AFTER)
def test_a_history_with_the_patch_cancels_no_timer(name: str) -> None:
    history = load(HISTORIES / f"{name}.json")
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_MARKER_RECORDED in kinds
    assert EventType.EVENT_TYPE_TIMER_STARTED in kinds
    assert EventType.EVENT_TYPE_TIMER_CANCELED not in kinds
