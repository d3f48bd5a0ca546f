"""When the in-process worker starts (and when it must not), and forked children."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.devserver

RULES = '''
import sys
import time
import uuid
from durable_automation import Timer
from durable_automation._client.engine import engine
from durable_automation.timers._local_worker import running_local_queue
from durable_automation.exceptions import ConfigurationError

mode = sys.argv[1]
if mode == "django":
    from django.conf import settings
    settings.configure(DURABLE_AUTOMATION={})

async def describe(workflow_id):
    return await engine._ensure().client.get_workflow_handle(workflow_id).describe()

async def terminate(workflow_id):
    await engine._ensure().client.get_workflow_handle(workflow_id).terminate()

if mode in ("off", "django"):
    try:
        Timer(1, lambda: None).start()
    except ConfigurationError as exc:
        print("refused", "TIMERS_IN_PROCESS" in str(exc) and "@task" in str(exc), flush=True)
    print("local", running_local_queue(), flush=True)
else:
    import helper_tasks
    timer = Timer(1, helper_tasks.beat, name=f"rules-{uuid.uuid4().hex[:8]}").start()
    queue = engine._blocking(describe, timer.id, name="describe").task_queue
    print("queue", queue, flush=True)
    print("local", running_local_queue(), flush=True)
    if running_local_queue():
        time.sleep(1.5)
        timer.stop()
    else:
        engine._blocking(terminate, timer.id, name="terminate")
'''

HELPER = '''
def beat():
    print("helper beat", flush=True)
'''


@pytest.fixture
def rules(make_script: Any) -> Any:
    def run(mode: str, **env: str) -> Any:
        script = make_script("rules.py", RULES, **env)
        Path(script.path.parent / "helper_tasks.py").write_text(HELPER)
        assert script.run(mode, timeout=60) == 0, script.report()
        return script

    return run


def test_timers_in_process_false_refuses_a_local_callable(rules: Any) -> None:
    script = rules("off", DURABLE_AUTOMATION_TIMERS_IN_PROCESS="false")
    assert script.texts("refused") == ["refused True"], script.report()
    assert script.texts("local") == ["local None"]


def test_a_django_process_never_starts_the_worker_implicitly(rules: Any) -> None:
    script = rules("django")
    assert script.texts("refused") == ["refused True"], script.report()
    assert script.texts("local") == ["local None"]


def test_a_function_of_a_module_no_worker_imports_runs_in_the_script(rules: Any) -> None:
    script = rules("helper")
    local = script.texts("local")[0].split()[1]
    assert local != "None" and script.texts("queue") == [f"queue {local}"], script.report()
    assert script.texts("helper beat"), script.report()


def test_a_function_of_an_automation_module_goes_to_the_configured_queue(rules: Any) -> None:
    queue = f"rules-{uuid.uuid4().hex[:8]}"
    script = rules("configured", DURABLE_AUTOMATION_AUTOMATION_MODULES="helper_tasks",
                   DURABLE_AUTOMATION_TASK_QUEUE=queue)
    assert script.texts("queue") == [f"queue {queue}"], script.report()
    assert script.texts("local") == ["local None"], script.report()


FORK = '''
import os
import sys
import time
from durable_automation import Timer
from durable_automation.exceptions import ConfigurationError

name = sys.argv[1]
# Like gunicorn's master: the app is imported, nothing has used Temporal yet.
parent = Timer(1, lambda: print(f"parent-tick {os.getpid()}", flush=True), name=name + "-p")
pid = os.fork()
if pid == 0:
    # A worker process: its own timer with its own callable, its own connection.
    child = Timer(1, lambda: print(f"child-tick {os.getpid()}", flush=True), name=name + "-c")
    child.start()
    time.sleep(2.5)
    child.stop()
    sys.exit(7)
_, status = os.waitpid(pid, 0)
print(f"child-exit {os.waitstatus_to_exitcode(status)} {pid}", flush=True)
parent.start()
time.sleep(2.5)
# A fork after this process used Temporal: the child is told, instead of crashing.
pid = os.fork()
if pid == 0:
    try:
        Timer(1, lambda: None, name=name + "-late").start()
    except ConfigurationError as exc:
        print("late-child refused", "after forking" in str(exc), flush=True)
        sys.exit(5)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
print(f"late-exit {os.waitstatus_to_exitcode(status)}", flush=True)
parent.stop()
print(f"parent-done {os.getpid()}", flush=True)
'''


def test_forked_children_never_reuse_their_parents_worker(make_script: Any) -> None:
    script = make_script("forky.py", FORK)
    assert script.run(f"fork-{uuid.uuid4().hex[:8]}", timeout=60) == 0, script.report()
    parent_pid = script.texts("parent-done")[0].split()[1]
    exit_line = script.texts("child-exit")[0].split()
    assert exit_line[1] == "7", script.report()  # the child's own exit status
    child_pid = exit_line[2]
    child_ticks = script.texts("child-tick")
    assert len(child_ticks) >= 2 and all(t.endswith(child_pid) for t in child_ticks)
    parent_ticks = script.texts("parent-tick")
    assert len(parent_ticks) >= 2 and all(t.endswith(parent_pid) for t in parent_ticks)
    assert script.texts("late-child") == ["late-child refused True"], script.report()
    assert script.texts("late-exit") == ["late-exit 5"], script.report()


DELAYED = '''
import time
import uuid
from datetime import timedelta
from durable_automation import debounce_task, schedule_task

suffix = "!"
handle = schedule_task(lambda word: f"{word}{suffix}", args=["later"], delay=timedelta(seconds=1))
print("result", handle.result(), flush=True)
def collect(items):
    print("batch", items, flush=True)

key = uuid.uuid4().hex  # a fresh window, whatever ran on this server before
for i in range(3):
    debounce_task(collect, debounce_key=key, debounce_window=1, collect=i)
time.sleep(3)
'''


def test_schedule_task_and_debounce_task_run_a_scripts_lambdas(make_script: Any) -> None:
    script = make_script("delayed.py", DELAYED)
    assert script.run(timeout=60) == 0, script.report()
    assert script.texts("result") == ["result later!"], script.report()
    assert script.texts("batch") == ["batch [0, 1, 2]"], script.report()


CONNECT_ONLY = '''
import atexit
import os
import sys
from durable_automation import engine
from durable_automation._core import process_exit

atexit.register(lambda: print("own atexit ran", flush=True))
print("woken", engine.signal("nobody-waits-here"), flush=True)  # connects; no local worker
print("hard exit armed", process_exit._hard_exit_pid == os.getpid(), flush=True)
sys.exit(int(sys.argv[1]))
'''


@pytest.mark.parametrize("status", [0, 4])
def test_a_script_that_only_connects_ends_with_its_own_status(make_script: Any,
                                                              status: int) -> None:
    """Any connection loads temporalio's core, which can crash at shutdown (sdk-python
    #300): the script's exit is guarded even when no in-process worker ever started."""
    script = make_script("connect_only.py", CONNECT_ONLY)
    assert script.run(str(status), timeout=60) == status, script.report()
    assert script.texts("hard exit armed") == ["hard exit armed True"], script.report()
    assert script.texts("own atexit ran"), script.report()


TIME_MACHINE_ONLY = '''
import atexit
import os
import sys
from durable_automation._core import process_exit
from durable_automation.testing import time_machine

atexit.register(lambda: print("own atexit ran", flush=True))
with time_machine() as tm:
    print("now", tm.now().year > 2000, flush=True)
print("hard exit armed", process_exit._hard_exit_pid == os.getpid(), flush=True)
sys.exit(int(sys.argv[1]))
'''


def test_a_script_that_uses_time_machine_ends_with_its_own_status(make_script: Any) -> None:
    """A docs example run as a script with ``time_machine()`` loads temporalio's core
    too; its exit was unguarded and sometimes crashed after printing everything
    (PyGILState_Release at finalization, sdk-python #300)."""
    script = make_script("time_machine_only.py", TIME_MACHINE_ONLY)
    assert script.run("3", timeout=60) == 3, script.report()
    assert script.texts("hard exit armed") == ["hard exit armed True"], script.report()
    assert script.texts("own atexit ran"), script.report()
