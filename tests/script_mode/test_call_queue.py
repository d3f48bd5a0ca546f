"""CallQueue: a deferred call's error is never skipped, and temporalio's errors arrive as
the SDK's own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable_automation._client.engine import engine
from durable_automation.exceptions import TemporalServiceError
from durable_automation.timers._deferred import DEFERRED, CallQueue


class Boom(Exception):
    pass


def test_an_error_deferred_before_an_awaited_call_is_raised_by_it(time_machine: Any) -> None:
    calls = CallQueue("test queue")
    release = asyncio.Event()
    loop_ref: list[asyncio.AbstractEventLoop] = []

    async def fail_later() -> None:
        await asyncio.sleep(0.3)
        raise Boom("deferred call failed")

    async def ok() -> str:
        return "ok"

    async def main() -> None:
        loop_ref.append(asyncio.get_running_loop())
        # Inside a running loop: queued, returns at once.
        assert calls.call(fail_later, name="Thing.start") is DEFERRED
        # Submitted before the deferred call failed; it finishes after it did.
        with pytest.raises(Boom, match="deferred call failed"):
            await calls.acall(ok, name="Thing.status")
        release.set()

    asyncio.run(main())
    assert release.is_set()


def test_a_queued_temporal_error_is_the_sdks_own(time_machine: Any) -> None:
    calls = CallQueue("test queue")

    async def describe_missing() -> Any:
        handle = engine._ensure().client.get_workflow_handle("no-such-workflow-anywhere")
        return await handle.describe()

    async def main() -> None:
        assert calls.call(describe_missing, name="Thing.describe") is DEFERRED
        with pytest.raises(TemporalServiceError) as info:
            await calls.aflush()
        assert "Thing.describe" in str(info.value)

    asyncio.run(main())


def test_a_call_whose_caller_was_cancelled_before_it_began_leaves_the_queue_working(
        time_machine: Any) -> None:
    """Ctrl-C while ``Scheduler.start()`` waited behind another call: the queued call's
    future was cancelled, and setting its result killed the queue's thread, so every
    later call (the status read after the interrupt) waited forever."""
    calls = CallQueue("test queue")
    ran: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(0.5)
        ran.append("slow")

    async def skipped() -> None:
        ran.append("skipped")

    async def after() -> str:
        ran.append("after")
        return "after"

    async def main() -> None:
        first = asyncio.ensure_future(calls.acall(slow, name="Thing.first"))
        waiting = asyncio.ensure_future(calls.acall(skipped, name="Thing.second"))
        await asyncio.sleep(0.1)  # both queued; the first is running
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await first
        assert await asyncio.wait_for(calls.acall(after, name="Thing.third"), 10) == "after"

    asyncio.run(main())
    assert ran == ["slow", "after"]  # a call cancelled before it began does not run
