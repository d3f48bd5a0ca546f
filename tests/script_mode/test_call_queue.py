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
