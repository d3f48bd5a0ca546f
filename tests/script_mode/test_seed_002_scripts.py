"""Seed 002's Timer examples run as plain scripts (no worker process, no Django).

The script's callables live only in the script, so the SDK serves them from a worker
inside the script, and the script ends with its own exit status.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

pytestmark = pytest.mark.devserver

# Seed 002's "Example", verbatim but for the import line. The seed's example passes
# `my_async_callback` while defining `callback`; the script defines both.
SEED_002_EXAMPLE = '''
import asyncio
from datetime import timedelta
from durable_automation import Timer, SchedulePolicy

# callback can be async too
def callback():
    print('tick')

async def my_async_callback():
    print('tick')

async def main():
    timer = Timer(timedelta(seconds=2), my_async_callback)
    timer.start()  # starts the repeating timer
    await asyncio.sleep(10)
    timer.stop()

asyncio.run(main())
'''


def test_seed_002_example_ticks_every_2s_and_never_after_stop(make_script: Any) -> None:
    script = make_script("seed002_example.py", SEED_002_EXAMPLE)
    code = script.run(timeout=90)
    assert code == 0, script.report()
    ticks = script.stamped("tick")
    assert len(ticks) in (5, 6), script.report()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(1.0 < gap < 3.0 for gap in gaps), gaps
    # stop() is called 10 s after start(), and tick 0 fires at start: every tick
    # printed lies within those 10 s.
    assert ticks[-1] - ticks[0] <= 10.2, gaps
    assert not any("Traceback" in line for line in script.errors), script.report()


TWO_TIMERS = '''
import asyncio
import time
from datetime import timedelta
from durable_automation import Timer, SchedulePolicy

def every_second():
    print(f"fixed {time.time():.3f}")

def slow_poll():
    print(f"delay-begin {time.time():.3f}")
    time.sleep(1.5)
    print(f"delay-end {time.time():.3f}")

async def main():
    fixed = Timer(timedelta(seconds=1), every_second, schedule_policy=SchedulePolicy.FIXED)
    delay = Timer(timedelta(seconds=2), slow_poll, schedule_policy=SchedulePolicy.DELAY)
    fixed.start()
    delay.start()
    await asyncio.sleep(9)
    fixed.stop()
    delay.stop()
    print(f"stopped {time.time():.3f}")

asyncio.run(main())
'''


def _times(lines: list[str]) -> list[float]:
    return [float(line.split()[1]) for line in lines]


def test_fixed_and_delay_timers_side_by_side(make_script: Any) -> None:
    script = make_script("two_timers.py", TWO_TIMERS)
    code = script.run(timeout=90)
    assert code == 0, script.report()
    fixed = _times(script.texts("fixed"))
    begins = _times(script.texts("delay-begin"))
    ends = _times(script.texts("delay-end"))
    stopped = _times(script.texts("stopped"))[0]
    assert len(fixed) >= 7, script.report()
    fixed_gaps = [b - a for a, b in itertools.pairwise(fixed)]
    assert all(0.5 < gap < 1.6 for gap in fixed_gaps), fixed_gaps
    # DELAY: the next tick is 2 s after the 1.5 s callback completed.
    assert len(begins) >= 2, script.report()
    delay_gaps = [b - a for a, b in itertools.pairwise(begins)]
    assert all(gap >= 3.5 for gap in delay_gaps), delay_gaps
    assert all(e - b >= 1.5 for b, e in zip(begins, ends, strict=False))
    # Nothing begins after stop() returned (a tick in progress may finish).
    assert all(t <= stopped for t in fixed + begins), script.report()


EXIT_STATUS = '''
import sys
import time
from durable_automation import Timer

mode = sys.argv[1]
timer = Timer(1, lambda: print("tick", flush=True), name=f"exit-status-{mode}")
timer.start()
time.sleep(1.5)
if mode == "exit3":
    timer.stop()
    sys.exit(3)
if mode == "raise":
    timer.stop()
    raise ValueError("boom")
if mode == "lost-error":
    import asyncio

    async def main():
        bad = Timer(1, lambda: None, name="x" * 2000)  # the server refuses such an id
        bad.start()

    asyncio.run(main())
    # `bad` is gone now: once its queue has run the failed start, nothing refers to it.
    import gc
    time.sleep(1)
    gc.collect()
timer.stop()
'''


@pytest.mark.parametrize(("mode", "expected"), [("clean", 0), ("exit3", 3), ("raise", 1),
                                                 ("lost-error", 0)])
def test_a_script_exits_with_its_own_status(make_script: Any, mode: str, expected: int) -> None:
    script = make_script("exit_status.py", EXIT_STATUS)
    code = script.run(mode, timeout=90)
    assert code == expected, script.report()
    assert script.texts("tick"), script.report()
    if mode == "raise":
        assert any("ValueError: boom" in line for line in script.errors)
    if mode == "lost-error":
        # The deferred start failed after main() returned: it is reported, not lost.
        assert any("never reported" in line for line in script.errors), script.report()
    else:
        assert not any("never reported" in line for line in script.errors)


CALLABLES = '''
import asyncio
import time
from durable_automation import Timer

class Counter:
    def __init__(self, label):
        self.label = label

    def bump(self):
        print(f"method {self.label}")

def make_closure(label):
    def closure():
        print(f"closure {label}")
    return closure

async def main():
    first = Timer(1, lambda: print("lambda one"))
    second = Timer(1, lambda: print("lambda two"))
    third = Timer(1, make_closure("a"))
    fourth = Timer(1, make_closure("b"))
    fifth = Timer(1, Counter("c").bump)
    timers = [first, second, third, fourth, fifth]
    for timer in timers:
        print(f"task {timer.name} {timer.task.name}")
        timer.start()
    await asyncio.sleep(3.2)
    for timer in timers:
        timer.stop()

asyncio.run(main())
'''


def test_lambdas_closures_and_bound_methods_are_distinct_timers(make_script: Any) -> None:
    script = make_script("callables.py", CALLABLES)
    code = script.run(timeout=90)
    assert code == 0, script.report()
    tasks = script.texts("task ")
    names = [line.split()[2] for line in tasks]
    timer_names = [line.split()[1] for line in tasks]
    assert len(set(names)) == 5 and len(set(timer_names)) == 5, tasks
    assert re.fullmatch(r"__main__\.main\.<locals>\.<lambda>#\d+", names[0]), names
    for label in ("lambda one", "lambda two", "closure a", "closure b", "method c"):
        assert len(script.texts(label)) >= 2, (label, script.report())


# Seed 002's first example starts a timer and never stops it ("... later: timer.stop()");
# a second script with a callback of the same name must still tick on its own.
LEFT_RUNNING = '''
import sys
from datetime import timedelta
from durable_automation import Timer, SchedulePolicy

def seed002_same_name():
    print('tick')

timer = Timer(timedelta(seconds=1), seed002_same_name, schedule_policy=SchedulePolicy.FIXED)
timer.start()  # starts the repeating timer
if sys.argv[1:] == ["stop"]:
    timer.stop()
'''

SAME_NAME_ELSEWHERE = '''
import time
from datetime import timedelta
from durable_automation import Timer

def seed002_same_name():
    print('tick', flush=True)

timer = Timer(timedelta(seconds=1), seed002_same_name)
timer.start()
time.sleep(3.5)
timer.stop()
print('timer', timer.id)
'''


def test_a_scripts_timer_is_not_another_scripts_timer_of_the_same_callback(
    make_script: Any,
) -> None:
    first = make_script("left_running.py", LEFT_RUNNING)
    assert first.run(timeout=60) == 0, first.report()
    try:
        second = make_script("same_name_elsewhere.py", SAME_NAME_ELSEWHERE)
        assert second.run(timeout=60) == 0, second.report()
        # It ticked itself, instead of attaching to the first script's timer, whose
        # callbacks only the (gone) first script can run.
        assert len(second.texts("tick")) >= 2, second.report()
        assert "same_name_elsewhere" in second.texts("timer")[0], second.report()
    finally:
        assert first.run("stop", timeout=60) == 0, first.report()  # same script: same timer
