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
import time
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
from tests.replay.record_moves import gate_rescheduled, scheduled_event_alarm

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


def limiter(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    """Two runs of one key under ``Concurrency(1)``: the second waits for its slot."""
    first = engine.start("replay_limited", guest="g1", label="first")
    second = engine.start("replay_limited", guest="g1", label="second")
    tm.settle()
    assert second.state().waiting_for == "slot"
    save("limited_run_mid_slot", second.id)
    save("limiter_mid_holding", f"limit:{engine.task_queue}:replay_limited:g1")
    assert first.result() == {"label": "first"}
    assert second.result() == {"label": "second"}
    save("limited_run_completed", second.id)
    save("limiter_idle", f"limit:{engine.task_queue}:replay_limited:g1")


def throttle_limiter(tm: TimeMachine, save: Callable[[str, str], None],
                     prefix: str = "limiter_throttle") -> None:
    """Three runs of one key under ``Throttle(1 per minute)``: the limiter lets one through
    a minute, waiting on its window timer, then ends idle once the window is empty."""
    runs = [engine.start("replay_throttled", guest="g1", label=f"r{i}") for i in range(3)]
    tm.settle()
    assert [run.status() for run in runs[1:]] == ["waiting", "waiting"]
    save(f"{prefix}_mid_window", f"limit:{engine.task_queue}:replay_throttled:g1")
    assert [run.result() for run in runs] == [{"label": f"r{i}"} for i in range(3)]
    tm.advance(minutes=1, seconds=1)  # the window empties: the limiter ends
    save(f"{prefix}_idle", f"limit:{engine.task_queue}:replay_throttled:g1")


def cancel_on(tm: TimeMachine, save: Callable[[str, str], None],
              prefix: str = "cancel_on") -> None:
    """A run cancelled by an event (cancel_on, its on_cancel step), its index, and a run
    that failed (its on_failure hook)."""
    run = engine.start("replay_cancellable", item=1)
    while run.state().phase != "sleeping":  # the test server cannot cancel mid-step
        time.sleep(0.1)
    tm.settle()
    engine.emit("replay_cancelled", data={"id": 1})  # its index cancels the run
    for _ in range(200):
        if run.status() == "cancelled":
            break
        time.sleep(0.1)
    tm.settle()
    assert run.status() == "cancelled" and ("cleaned", 1) in automations.SEEN
    if prefix == "cancel_on":  # a later variant differs in its index only
        save("cancel_on_run_cancelled", run.id)
    save(f"{prefix}_index_after_event",
         "cancel-on:replay_cancellable:0:replay_cancelled:id=1")
    failed = engine.start("replay_cancellable", item=2, fail_now=True)
    tm.settle()
    assert failed.status() == "failed" and ("failure", "asked to fail") in automations.SEEN
    if prefix == "cancel_on":
        save("on_failure_hook_ran", failed.id)


def batched_handler(tm: TimeMachine, save: Callable[[str, str], None],
                    name: str = "batch_two_batches") -> None:
    """A Batch(max_size=2, timeout=10s) handler: one full batch, then one cut by time."""
    for value in (1, 2, 3):
        engine.emit("replay_reading", data={"value": value})
    tm.advance(seconds=11)
    assert ("readings", [3]) in automations.SEEN
    save(name, "batch:on_readings:all")


def park_memo(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    """A waiting run that wrote the ``da_park`` memo (deploy check), then woken."""
    run = engine.start("replay_waiter", item=3)
    tm.settle()
    assert run.status() == "waiting"
    save("step_mid_wait_park_memo", run.id)
    assert engine.signal(GO_SIGNAL, {"note": "go"}) == 1
    assert run.result() == {"outcome": "woken"}
    save("step_woken_park_memo", run.id)


def local_steps(tm: TimeMachine, save: Callable[[str, str], None]) -> None:
    """Local steps: a failed attempt, the backoff timer, the retry with the Context the
    failure carried, a second local step, a regular step (patch ``da-local-steps``)."""
    run = engine.start("replay_local_steps")
    tm.settle()
    save("step_local_mid_retry", run.id)
    tm.advance(minutes=1)
    assert run.result() == {"attempts": 2, "checked": True}
    save("step_local_retried", run.id)


def _a_day_later(tm: TimeMachine) -> None:
    tm.advance(days=1)


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
    # A day later: the runs of the same ids recorded before them have ended by then.
    "step_wait_alarm": lambda tm, save: _a_day_later(tm) or step_wait(tm, save, "step_alarm"),
    "debounce_alarm": lambda tm, save: _a_day_later(tm) or debounce(tm, save, "debounce_alarm"),
    "debounced_handler_alarm": lambda tm, save: _a_day_later(tm) or debounced_handler(
        tm, save, "debounced_handler_alarm_batch"),
    "batched_handler_alarm": lambda tm, save: _a_day_later(tm) or batched_handler(
        tm, save, "batch_alarm_two_batches"),
    "agent_woken_alarm": lambda tm, save: agent_woken(tm, save, "agent_alarm_woken", stay=9),
    "agent_offset_alarm": lambda tm, save: agent_offset(tm, save, "agent_alarm", stay=10),
    "cancel_on_alarm": lambda tm, save: _a_day_later(tm) or cancel_on(tm, save, "cancel_on_alarm"),
    "park_memo": park_memo, "local_steps": local_steps,
    # A reschedule / move signal moving a wait's due time (record_moves.py): recorded
    # before patches da-gate-alarm and da-django-timer-alarm, then with them.
    "gate_rescheduled": gate_rescheduled,
    "gate_alarm": lambda tm, save: gate_rescheduled(tm, save, "gate_alarm_rescheduled", "dep-2"),
    "scheduled_event_alarm": scheduled_event_alarm,
}


def schedule_run(out: Path, force: bool) -> None:
    """One run a Temporal Schedule started for a ``Scheduler`` task (dev server: the
    time-skipping server has no schedules)."""
    from temporalio.testing import WorkflowEnvironment

    from durable_automation._binaries import dev_server_path
    from durable_automation._client.connect import data_converter
    from durable_automation._core.runtime import LoopThread
    from durable_automation.scheduler import Scheduler
    from durable_automation.worker import AutomationWorker

    worker_loop = LoopThread("replay-dev-worker")
    task_queue = "replay-dev"

    async def start() -> tuple[WorkflowEnvironment, AutomationWorker]:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=dev_server_path(), data_converter=data_converter(),
            ui=False)
        worker = AutomationWorker(env.client, task_queue, bind_engine=False,
                                  graceful_shutdown=timedelta(seconds=2))
        return env, await worker.__aenter__()

    async def stop(env: WorkflowEnvironment, worker: AutomationWorker) -> None:
        try:
            await worker.__aexit__(None, None, None)
        finally:
            await env.shutdown()

    env, worker = worker_loop.run(start(), timeout=120)
    previous = engine.bind(env.client, task_queue, worker_loop.loop)
    scheduler_loop = LoopThread("replay-scheduler")
    scheduler = Scheduler(name="replay")
    try:
        scheduler.add_task("nightly", record_call, interval_seconds=2)
        running = scheduler_loop.submit(scheduler.start())
        deadline = time.monotonic() + 60
        while ("call", "") not in automations.SEEN:
            assert time.monotonic() < deadline, "the schedule never ran its task"
            time.sleep(0.2)

        async def first_run() -> WorkflowHistory:
            schedule = env.client.get_schedule_handle(scheduler.schedule_id("nightly"))
            action = (await schedule.describe()).info.recent_actions[0].action
            handle = env.client.get_workflow_handle(action.workflow_id)  # type: ignore[attr-defined]
            await handle.result()
            return await handle.fetch_history()

        history = worker_loop.run(first_run(), timeout=60)
        path = out / "schedule_started_task_run.json"
        if path.exists() and not force:
            print(f"{path.name}: kept (recorded by older code; --force replaces it)")
        else:
            path.write_text(dump(history))
            print(f"{path.name}: {history.workflow_id}")
        scheduler.stop()
        running.result(timeout=30)
        scheduler.remove_task("nightly")
    finally:
        scheduler_loop.stop()
        engine.restore(previous)
        try:
            worker_loop.run(stop(env, worker), timeout=60)
        finally:
            worker_loop.stop()


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
