"""engine.signal on both servers.

Every earlier waiter is woken once, later ones not; bad payloads are refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from durable_automation import (
    SignalPayloadError,
    SyncCallInEventLoopError,
    complete,
    engine,
    get_context,
    step,
    step_info,
    wait,
    workflow,
)
from tests.helpers.history import step_names
from tests.helpers.polling import eventually


@workflow("sig_waiter")
class SignalWaiter:
    class Context(BaseModel):
        channel: str
        count: int = 0
        wakes: int = 0

    @step(start=True)
    def wait_for_go(self):
        return wait(get_context().channel, then=self.woken)

    @step()
    def woken(self):
        ctx = get_context()
        ctx.wakes += 1
        assert step_info().wake is not None
        return complete(count=ctx.count, wakes=ctx.wakes)


@pytest.fixture(params=["time_skipping", "dev_server"])
def server(request: pytest.FixtureRequest) -> Iterator[object]:
    """The same test on the time-skipping server and on the dev server."""
    fixture = "time_machine" if request.param == "time_skipping" else "dev_worker"
    yield request.getfixturevalue(fixture)


def _settle(server: object, runs: list) -> None:
    if hasattr(server, "settle"):
        server.settle()  # type: ignore[attr-defined]
        return
    eventually(lambda: all(r.status() == "waiting" for r in runs), timeout=60,
               message="runs waiting")


def test_one_signal_wakes_every_earlier_waiter_once_and_no_later_one(server):
    channel = f"sig:go:{uuid.uuid4().hex[:6]}"
    runs = [engine.start("sig_waiter", channel=channel) for _ in range(100)]
    _settle(server, runs)

    assert engine.signal(channel, {"count": 7}) == 100

    late = engine.start("sig_waiter", channel=channel)
    _settle(server, [late])
    results = [run.result(timeout=60) for run in runs]
    assert results == [{"count": 7, "wakes": 1}] * 100
    assert step_names(runs[0].id) == ["wait_for_go", "woken"]
    assert late.status() == "waiting"
    # Signalling again reaches only the late run: nobody is woken twice.
    assert engine.signal(channel) == 1
    assert late.result(timeout=60) == {"count": 0, "wakes": 1}


def test_signal_with_no_waiters_returns_zero(server):
    assert engine.signal(f"sig:nobody:{uuid.uuid4().hex[:6]}") == 0


def test_payload_of_wrong_type_is_rejected_context_intact(server):
    channel = f"sig:typed:{uuid.uuid4().hex[:6]}"
    run = engine.start("sig_waiter", channel=channel)
    _settle(server, [run])

    with pytest.raises(SignalPayloadError, match=r"sig_waiter\.Context.*count"):
        engine.signal(channel, {"count": "not a number"})
    with pytest.raises(SignalPayloadError, match="must be a dict"):
        engine.signal(channel, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert run.status() == "waiting"
    assert run.context().count == 0
    assert engine.signal(channel, {"count": 3}) == 1
    assert run.result(timeout=60) == {"count": 3, "wakes": 1}


def test_run_signal_wakes_only_that_run(server):
    channel = f"sig:direct:{uuid.uuid4().hex[:6]}"
    first, second = (engine.start("sig_waiter", channel=channel) for _ in range(2))
    _settle(server, [first, second])

    assert first.signal("some:other:channel") is False
    with pytest.raises(SignalPayloadError):
        first.signal(channel, {"count": "x"})
    assert first.signal(channel, {"count": 1}) is True
    assert first.result(timeout=60) == {"count": 1, "wakes": 1}
    # The direct wake took the first run off the channel: a broadcast wakes one run.
    assert engine.signal(channel) == 1
    assert second.result(timeout=60)["wakes"] == 1
    assert first.signal(channel) is False  # it has ended


async def test_sync_call_inside_an_event_loop_names_the_async_twin(time_machine):
    with pytest.raises(SyncCallInEventLoopError, match=r"await engine\.asignal"):
        engine.signal("anything")
    channel = f"sig:async:{uuid.uuid4().hex[:6]}"
    run = await engine.astart("sig_waiter", channel=channel)
    await time_machine.asettle()
    assert await run.astatus() == "waiting"
    assert await engine.asignal(channel, {"count": 2}) == 1
    assert await run.aresult(timeout=30) == {"count": 2, "wakes": 1}
