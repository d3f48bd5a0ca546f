"""No raw temporalio error reaches a user: the SDK's own errors, with the gRPC status
kept and a message that says what to do (issue 10 item 5)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from durable_automation import _binaries, engine
from durable_automation._client.engine import Engine
from durable_automation._core.runtime import LoopThread, call_sync
from durable_automation.exceptions import (
    DurableAutomationError,
    NotConnectedError,
    RunNotFoundError,
    TemporalServiceError,
)
from durable_automation.testing import TimeMachine
from durable_automation.timers import TaskHandle, schedule_task
from tests.testing import automations


def test_missing_task_handle_is_a_service_error_with_its_status(time_machine: TimeMachine) -> None:
    handle = TaskHandle("delayed:tests.testing.double:no-such-task")

    with pytest.raises(TemporalServiceError) as caught:
        handle.status()

    error = caught.value
    assert error.status == RPCStatusCode.NOT_FOUND
    assert error.rpc_message  # the server's own words, kept
    message = str(error)
    assert message.startswith("TaskHandle.status() failed")
    assert "NOT_FOUND" in message and "check the id" in message
    assert isinstance(error.__cause__, RPCError)  # raised ``from`` the original
    assert type(error).__name__ == "TemporalServiceError"
    # Code written against temporalio's RPCError still catches it, status included.
    assert isinstance(error, RPCError) and error.status == RPCStatusCode.NOT_FOUND


async def test_async_twins_raise_the_same_error(time_machine: TimeMachine) -> None:
    with pytest.raises(TemporalServiceError) as caught:
        await TaskHandle("delayed:tests.testing.double:also-missing").astatus()
    assert caught.value.status == RPCStatusCode.NOT_FOUND


def test_run_calls_on_a_missing_run(time_machine: TimeMachine) -> None:
    run = engine.get_run("tests_testing_blob:nothing-here")
    with pytest.raises(RunNotFoundError):
        run.status()
    with pytest.raises(RunNotFoundError):
        run.cancel()


def test_user_errors_pass_through_untouched(time_machine: TimeMachine) -> None:
    async def user_code() -> None:
        raise ApplicationError("mine")  # a temporalio type, raised by the user's own code

    async def plain() -> None:
        raise RuntimeError("also mine")

    loop = engine._ensure().loop
    with pytest.raises(ApplicationError, match="mine"):
        call_sync(loop, user_code, sync_name="user_code", async_name="auser_code")
    with pytest.raises(RuntimeError, match="also mine") as caught:
        call_sync(loop, plain, sync_name="plain", async_name="aplain")
    assert not isinstance(caught.value, DurableAutomationError)


def test_payload_over_the_servers_limit_is_invalid_argument(dev_worker: object) -> None:
    with pytest.raises(TemporalServiceError) as caught:
        engine.start("tests_testing_blob", blob="x" * (3 * 1024 * 1024))

    error = caught.value
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert "engine.start() failed" in str(error)
    assert "2 MB" in str(error)  # says what to do: keep payloads small, pass an id


@pytest.fixture
def vanished_server() -> Iterator[Engine]:
    """An engine bound to a client whose time-skipping server has been shut down."""
    runner = LoopThread("tests-vanished-server")

    async def start_and_stop() -> Client:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=_binaries.test_server_path())
        client = env.client
        await env.shutdown()
        return client

    try:
        client = runner.run(start_and_stop(), timeout=60)
        eng = Engine()
        eng.bind(client, "tests-vanished", runner.loop)
        yield eng
    finally:
        runner.stop()


def test_server_that_went_away_is_not_connected_with_status(vanished_server: Engine) -> None:
    began = time.monotonic()
    with pytest.raises(NotConnectedError) as caught:
        vanished_server.get_run("any").status()

    error = caught.value
    assert error.status == RPCStatusCode.UNAVAILABLE
    assert "durable-automation dev" in str(error)
    assert time.monotonic() - began < 60  # temporalio's own retries, then the error


def test_lazy_client_that_cannot_connect_is_not_connected() -> None:
    runner = LoopThread("tests-lazy-client")
    try:
        client = runner.run(Client.connect("127.0.0.1:1", lazy=True))
        eng = Engine()
        eng.bind(client, "tests-lazy", runner.loop)
        with pytest.raises(NotConnectedError, match="cannot connect"):
            eng.get_run("any").status()
    finally:
        runner.stop()


def test_script_with_no_server_at_the_address_gets_not_connected() -> None:
    script = textwrap.dedent("""
        from durable_automation import engine
        from durable_automation.exceptions import NotConnectedError
        try:
            engine.get_run("any").status()
        except NotConnectedError as err:
            print("NotConnectedError:", err)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120,
        env={"DURABLE_AUTOMATION_ADDRESS": "127.0.0.1:1", "PATH": "/usr/bin:/bin"},
    )
    expected = "NotConnectedError: Cannot connect to Temporal at 127.0.0.1:1"
    assert expected in done.stdout, done.stderr


def test_error_names_the_public_call_made(dev_worker: object) -> None:
    # schedule_task() reaches the server through a nested bridge call: the message
    # still names the call the user made.
    with pytest.raises(TemporalServiceError) as caught:
        schedule_task(automations.double, args=["x" * (3 * 1024 * 1024)], delay=60)

    error = caught.value
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert str(error).startswith("schedule_task() failed"), str(error)
