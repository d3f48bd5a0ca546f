"""A signal payload over Temporal's 2 MB limit is refused before it reaches any run.

The server accepts such an update, but the woken run then cannot schedule its next step
(its Context no longer fits in an activity input): its workflow task failed forever.
"""

from __future__ import annotations

import uuid

import pytest

from durable_automation import engine
from durable_automation.exceptions import SignalPayloadError
from tests.workflows import test_signals  # noqa: F401 - registers sig_waiter

BIG = {"count": 1, "blob": "x" * 2_200_000}


def test_an_oversized_signal_is_refused_and_the_run_keeps_waiting(time_machine):
    channel = f"big:{uuid.uuid4().hex[:6]}"
    run = engine.start("sig_waiter", channel=channel)
    time_machine.settle()
    assert run.status() == "waiting"

    with pytest.raises(SignalPayloadError, match=r"over Temporal's 2 MB payload limit"):
        engine.signal(channel, BIG)
    with pytest.raises(SignalPayloadError, match=r"send its id"):
        run.signal(channel, BIG)

    time_machine.settle()
    assert run.status() == "waiting"
    # Nothing was delivered: a normal signal still wakes it, once.
    assert engine.signal(channel, {"count": 3}) == 1
    assert run.result() == {"count": 3, "wakes": 1}
