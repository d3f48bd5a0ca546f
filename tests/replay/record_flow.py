"""Recording scenarios (``record.py``) for flow control, cancel-on, batched handlers,
the park memo and local steps."""

from __future__ import annotations

import time
from collections.abc import Callable

from durable_automation import engine
from durable_automation.testing import TimeMachine
from tests.replay import automations
from tests.replay.automations import GO_SIGNAL

__all__ = ["batched_handler", "cancel_on", "limiter", "local_steps", "park_memo",
           "throttle_limiter"]


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
