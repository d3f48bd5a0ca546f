"""Record the Temporal histories that ``test_replay.py`` replays.

Run ``python -m tests.replay.record`` (about a minute): it starts a time machine (the
time-skipping test server; no dev server needed), runs the automations of
:mod:`tests.replay.automations` and the built-in workflows (timers, delayed and
debounced tasks, a scheduled task's run, the signal hub), and writes one JSON file per
history into ``tests/replay/histories/``. ``--dev`` also records a run that a Temporal
Schedule started (a dev server is started for it: the time-skipping server has no
schedules). Histories named ``*_mid_*`` are fetched while
the run is still in flight, which is the case a deploy must not break.

Existing files are kept (``--force`` overwrites them): add histories, never replace
them, since the point of the old ones is that older code made them. Record the commit
of new ones in ``histories/README.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHistory

from django_integration._timer import (
    FIRE_ACTIVITY,
    FireRequest,
    FireResult,
    ScheduledEventWorkflow,
)
from durable_automation import engine
from durable_automation._client.scheduled_event import (
    amove_timer,
    astart_timer,
    timer_id,
)
from durable_automation._core.channels import hub_id
from durable_automation._core.hooks import WorkerComponent, add_worker_component, worker_components
from durable_automation._core.wire import EventWire
from durable_automation.events import Event
from durable_automation.testing import TimeMachine, time_machine
from durable_automation.timers import Timer, debounce_task, schedule_task
from durable_automation.timers._tasks import TaskCall
from durable_automation.timers._wire import SCHEDULED_TASK_WORKFLOW
from tests.replay import automations
from tests.replay.automations import GO_SIGNAL, record_batch, record_call
from tests.replay.files import HISTORIES, dump
from tests.replay.record_flow import (
    batched_handler,
    cancel_on,
    limiter,
    local_steps,
    park_memo,
    throttle_limiter,
)
from tests.replay.record_moves import gate_rescheduled, scheduled_event_alarm
from tests.replay.record_schedule import schedule_run

Recorder = Callable[[TimeMachine, Callable[[str, str], None]], None]


def fetch(tm: TimeMachine, workflow_id: str) -> WorkflowHistory:
    """The history of the latest run of ``workflow_id``."""
    assert tm.env is not None
    history: WorkflowHistory = tm._run(tm.env.client.get_workflow_handle(workflow_id)
                                       .fetch_history())
    return history


# ── scenarios: each saves one or more histories through ``save(name, workflow_id)`` ──────


def step_sleep(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    run = engine.start("replay_sleeper", item=1)
    tm.settle()
    assert run.state().phase == "sleeping"
    save("step_mid_sleep", run.id)
    tm.advance(hours=1)
    assert run.result() == {"item": 1}
    save("step_after_sleep", run.id)


def step_wait(tm: TimeMachine, save: Callable[[str, str], None], prefix: str = "step") -> None:
    woken = engine.start("replay_waiter", item=1)
    tm.settle()
    assert woken.status() == "waiting"
    save(f"{prefix}_mid_wait", woken.id)
    assert engine.signal(GO_SIGNAL, {"note": "go"}) == 1
    assert woken.result() == {"outcome": "woken"}
    save(f"{prefix}_woken_by_signal", woken.id)
    timed_out = engine.start("replay_waiter", item=2)
    tm.settle()
    tm.advance(hours=2)
    assert timed_out.result() == {"outcome": "timed out"}
    save(f"{prefix}_wait_timed_out", timed_out.id)
    # The hub saw: register, deliver (one wake), register, unregister (timeout).
    save("signal_hub_registered_and_delivered" if prefix == "step"
         else f"{prefix}_signal_hub_registered_and_delivered", hub_id(engine.task_queue, GO_SIGNAL))


def event_handler(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    [run] = engine.emit("replay_booked", data={"id": 3})
    run.result()
    assert ("booked", {"id": 3}) in automations.SEEN
    save("event_handler_completed", run.id)


def agent_offset(tm: TimeMachine, save: Callable[[str, str], None], prefix: str = "agent",
                 stay: int = 7) -> None:
    data = {"id": stay}
    [run] = engine.emit("replay_stay_opened", data=data)
    engine.emit("replay_stay_note", data=data)
    due = tm.now() + timedelta(hours=1)
    engine.handle_event_scheduled(Event(name="replay_checkout_due", id=f"due-{stay}", data=data,
                                        at=due, scheduled=True))
    tm.settle()
    state = run.agent_state()  # type: ignore[attr-defined]
    assert state.context["notes"] == 1 and [t.handler for t in state.timers] == ["remind"]
    save(f"{prefix}_mid_offset_timer", run.id)
    # The directory listing the agents armed for this scheduled event.
    save(f"{prefix}_directory_armed", f"agent-event:replay_checkout_due:due-{stay}")
    tm.advance(minutes=51)
    tm.settle()
    assert run.agent_state().context["reminded"] is True  # type: ignore[attr-defined]
    save(f"{prefix}_after_offset_timer", run.id)


def agent_failure(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    """An agent whose handler fails for good (its on_failure hook runs), then handles
    another event. (``agent_handler_failed.json`` came from this scenario at ``f0a191f``,
    before the hook existed, with ``item`` 1.)"""
    data = {"item": 2}
    [run] = engine.emit("replay_fragile_opened", data=data)
    engine.emit("replay_fragile_risky", data=data)
    tm.settle()
    engine.emit("replay_fragile_note", data=data)
    tm.settle()
    state = run.agent_state()  # type: ignore[attr-defined]
    assert [(r.handler, r.outcome, r.on_failure) for r in state.history] == [
        ("risky", "failed", "ran"), ("note", "ran", None)], state.history
    assert ("agent_failure", "RuntimeError: risky failed") in automations.SEEN
    save("agent_on_failure_hook_ran", run.id)


def agent_woken(tm: TimeMachine, save: Callable[[str, str], None],
                prefix: str = "agent_woken", stay: int = 8) -> None:
    """An agent gets an event while its offset timer waits: before patch
    ``da-agent-alarm`` the wake cancelled that timer and started another."""
    data = {"id": stay}
    [run] = engine.emit("replay_stay_opened", data=data)
    due = tm.now() + timedelta(hours=1)
    engine.handle_event_scheduled(Event(name="replay_checkout_due", id=f"due-{stay}", data=data,
                                        at=due, scheduled=True))
    tm.settle()
    tm.advance(minutes=20)
    engine.emit("replay_stay_note", data=data)
    tm.settle()
    assert run.agent_state().context["notes"] == 1  # type: ignore[attr-defined]
    save(f"{prefix}_mid_offset_timer", run.id)
    tm.advance(minutes=31)
    tm.settle()
    assert run.agent_state().context["reminded"] is True  # type: ignore[attr-defined]
    save(f"{prefix}_after_offset_timer", run.id)


def debounce(tm: TimeMachine, save: Callable[[str, str], None],
             prefix: str = "debounce") -> None:
    window = timedelta(seconds=30)
    handle = debounce_task(record_batch, "k1", window, collect=1)
    tm.advance(seconds=10)
    debounce_task(record_batch, "k1", window, collect=2)
    tm.settle()
    save(f"{prefix}_mid_window", handle.id)
    tm.advance(seconds=31)
    assert ("batch", [1, 2]) in automations.SEEN
    save(f"{prefix}_after_flush", handle.id)


def debounced_handler(tm: TimeMachine, save: Callable[[str, str], None],
                      name: str = "debounced_handler_batch") -> None:
    for text in ("hi", "there"):
        engine.emit("replay_message", data={"guest": "g1", "text": text})
    tm.advance(seconds=31)
    assert ("messages", ["hi", "there"]) in automations.SEEN
    save(name, "debounce:on_messages:g1")


def timer(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    ticker = Timer(timedelta(seconds=10), record_call, name="replay-ticker",
                   kwargs={"label": "tick"}).start()
    tm.settle()
    for _ in range(3):
        tm.advance(seconds=10)
    ticker.stop()
    assert automations.SEEN.count(("call", "tick")) >= 3
    save("timer_ticks_then_stopped", ticker.id)


def delayed(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    handle = schedule_task(record_call, kwargs={"label": "later"}, delay=timedelta(minutes=5))
    tm.settle()
    save("delayed_task_mid_delay", handle.id)
    tm.advance(minutes=5)
    assert handle.result() == "later"
    save("delayed_task_completed", handle.id)


def scheduled_run(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    """One run of a scheduled task, started as ``Scheduler.run_task`` starts it (a
    Temporal Schedule starts the same workflow type with the same input)."""
    assert tm.env is not None
    client = tm.env.client
    workflow_id = "scheduler:replay:nightly:run:1"

    async def run_once() -> Any:
        handle = await client.start_workflow(
            SCHEDULED_TASK_WORKFLOW,
            TaskCall(task="replay.record_call", kwargs={"label": "n"},
                     origin="schedule", key="nightly"),
            id=workflow_id, task_queue=tm.task_queue,
        )
        return await handle.result()

    assert tm._run(run_once()) == "n"
    save("scheduled_task_run_completed", workflow_id)


@activity.defn(name=FIRE_ACTIVITY)
async def _fire_stub(request: FireRequest) -> FireResult:
    """Stands in for the Django app's activity (which re-reads the row): it occurred."""
    return FireResult(outcome="occurred", at=request.due)


def scheduled_event(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    """A scheduled event's timer workflow (the Django app registers the workflow; the
    stub activity above answers for the database), moved once, then fired."""
    due = tm.now() + timedelta(hours=1)
    wire = EventWire(id="ev-1", name="replay_due", entity_type="replay.stay", entity_id="1",
                     at=due, scheduled=True)
    assert tm._run(astart_timer(engine, wire))
    tm.settle()
    save("scheduled_event_mid_wait", timer_id(wire))
    tm._run(amove_timer(engine, wire.model_copy(update={"at": due + timedelta(hours=1)})))
    tm.settle()
    tm.advance(hours=2)
    assert tm.env is not None
    result = tm._run(tm.env.client.get_workflow_handle(timer_id(wire)).result())
    assert result["outcome"] == "occurred", result
    save("scheduled_event_moved_then_fired", timer_id(wire))


def _after_a_day(record: Recorder) -> Recorder:
    """``record``, a virtual day later: runs of the same ids recorded before have ended."""

    def later(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
        tm.advance(days=1)
        record(tm, save)

    return later


SCENARIOS: dict[str, Recorder] = {
    "step_sleep": step_sleep, "step_wait": step_wait, "event_handler": event_handler,
    "agent_offset": agent_offset, "agent_failure": agent_failure,
    "debounce": debounce, "debounced_handler": debounced_handler,
    "timer": timer, "delayed": delayed, "scheduled_run": scheduled_run,
    "scheduled_event": scheduled_event, "limiter": limiter,
    "throttle_limiter": throttle_limiter,
    # The same with patch ``da-flow-window-timer`` (window timers never cancelled).
    "throttle_limiter_window_timer": lambda tm, save: throttle_limiter(
        tm, save, "limiter_window_timer"),
    "cancel_on": cancel_on, "batched_handler": batched_handler, "agent_woken": agent_woken,
    # The same with the ``da-*-alarm`` patches (a wake never cancels a wait's timer):
    # debounce, batch, agent, step wait, signal hub, agent directory, cancel-on index.
    "step_wait_alarm": _after_a_day(lambda tm, save: step_wait(tm, save, "step_alarm")),
    "debounce_alarm": _after_a_day(lambda tm, save: debounce(tm, save, "debounce_alarm")),
    "debounced_handler_alarm": _after_a_day(lambda tm, save: debounced_handler(
        tm, save, "debounced_handler_alarm_batch")),
    "batched_handler_alarm": _after_a_day(lambda tm, save: batched_handler(
        tm, save, "batch_alarm_two_batches")),
    "agent_woken_alarm": lambda tm, save: agent_woken(tm, save, "agent_alarm_woken", stay=9),
    "agent_offset_alarm": lambda tm, save: agent_offset(tm, save, "agent_alarm", stay=10),
    "cancel_on_alarm": _after_a_day(lambda tm, save: cancel_on(tm, save, "cancel_on_alarm")),
    "park_memo": park_memo, "local_steps": local_steps,
    # A reschedule / move signal moving a wait's due time (record_moves.py): recorded
    # before patches da-gate-alarm and da-django-timer-alarm, then with them.
    "gate_rescheduled": gate_rescheduled,
    "gate_alarm": lambda tm, save: gate_rescheduled(tm, save, "gate_alarm_rescheduled", "dep-2"),
    "scheduled_event_alarm": scheduled_event_alarm,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS),
                        help="record only these scenarios (repeatable)")
    parser.add_argument("--out", type=Path, default=HISTORIES)
    parser.add_argument("--force", action="store_true",
                        help="overwrite histories that exist (they were made by older code)")
    parser.add_argument("--dev", action="store_true",
                        help="also record a Schedule-started run (starts a dev server)")
    options = parser.parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    scenarios = options.only or list(SCENARIOS)
    served = {cls for c in worker_components() for cls in c.workflows}
    if ({"scheduled_event", "scheduled_event_alarm"} & set(scenarios)
            and ScheduledEventWorkflow not in served):
        # A Django worker registers the scheduled-event workflow; here it is added by
        # hand, with a stub for the Django app's fire activity.
        add_worker_component(WorkerComponent("replay.scheduled_events",
                                             workflows=(ScheduledEventWorkflow,),
                                             activities=(_fire_stub,)))
    with time_machine() as tm:
        def save(name: str, workflow_id: str) -> None:
            path = options.out / f"{name}.json"
            if path.exists() and not options.force:
                print(f"{path.name}: kept (recorded by older code; --force replaces it)")
                return
            path.write_text(dump(fetch(tm, workflow_id)))
            print(f"{path.name}: {workflow_id}")

        for name in scenarios:
            SCENARIOS[name](tm, save)
    if options.dev:
        schedule_run(options.out, options.force)


if __name__ == "__main__":
    main()
    # temporalio's core can crash while the interpreter finalizes (sdk-python #300);
    # everything is written by now, so leave without finalizing.
    sys.stdout.flush()
    os._exit(0)
