"""The Temporal dev server killed with SIGKILL while runs sleep and wait for signals and an
agent holds an offset timer, then restarted on the same database file: overdue timers
fire at once, waiters still wait (and their hub still knows them), and the same worker
process carries on. (Schedules, Timers and debounce windows: tests/timers, tests/scheduler.)"""

from __future__ import annotations

import signal
import time
import uuid
from datetime import timedelta

from durable_automation import engine
from durable_automation.devserver import DevServer
from durable_automation.events import Event
from tests.faults import automations  # noqa: F401 - registers the automations
from tests.helpers.polling import eventually
from tests.helpers.processes import CliProcess, engine_on


def test_server_sigkill_and_restart_on_same_database(tmp_path):
    server = DevServer(db_file=tmp_path / "temporal.sqlite3", ui=False,
                       log_file=tmp_path / "server.log").start()
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    channel = f"fault:{uuid.uuid4().hex[:6]}"
    worker = CliProcess("worker", "tests.faults.automations", "--address", server.address,
                        "--task-queue", queue)
    try:
        worker.wait_for("fault_sleeper")
        with engine_on(server.address, queue):
            sleeper = engine.start("fault_sleeper", seconds=3)
            waiters = [engine.start("fault_waiter", channel=channel) for _ in range(3)]
            for run in [sleeper, *waiters]:
                eventually(lambda run=run: run.status() == "waiting", timeout=30)
            data = {"item_id": 1, "id": 1}
            [agent_run] = engine.emit("fault_agent_started", data=data)
            due = engine.now() + timedelta(seconds=6)  # its handler is due 2 s before
            engine.handle_event_scheduled(Event(name="fault_item_due", id="due-1", data=data,
                                                at=due, scheduled=True))
            eventually(lambda: len(agent_run.agent_state().timers) == 1, timeout=30)

        server.kill()
        time.sleep(5)  # a real outage, long enough for the 3 s sleep to be overdue
        server.start()

        with engine_on(server.address, queue):
            started = time.monotonic()
            assert sleeper.result(timeout=60) == {"woke": True}
            assert time.monotonic() - started < 30, "the overdue timer fired promptly"
            assert all(run.status() == "waiting" for run in waiters)
            assert engine.signal(channel, {"value": 9}) == 3
            assert [run.result(timeout=60) for run in waiters] == [{"value": 9}] * 3
            state = eventually(lambda: (s := agent_run.agent_state()).context["reminded"] and s,
                               timeout=30, message="the agent's overdue offset timer fired")
            assert [record.handler for record in state.history][-1] == "remind"
        assert worker.process.poll() is None, "the worker survived the outage"
    finally:
        worker.stop(signal.SIGTERM)
        server.stop()
