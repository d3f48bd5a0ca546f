"""on_failure=: a hook runs once when a run fails for good, with the error and the Context
(workflows) or the event (handlers); the run still fails with its own error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from durable_automation import (
    DefinitionError,
    Retry,
    RunFailedError,
    engine,
    fail,
    on_event,
    step,
    workflow,
)
from durable_automation.testing import TimeMachine

CALLS: list[tuple] = []


def _record_handler_failure(event, error) -> None:
    CALLS.append(("handler", event.data["n"], error.reason, error.step, error.error_type))


@workflow("fh_charge", on_failure="refund")
class Charge:
    class Context(BaseModel):
        amount: int
        charged: bool = False

    @step(start=True, retry=Retry(max_attempts=2, base_delay=timedelta(seconds=1)))
    def charge(self, ctx):
        ctx.charged = True
        raise RuntimeError("card declined")

    def refund(self, ctx, error) -> None:
        CALLS.append(("workflow", ctx.amount, ctx.charged, error.reason, error.step,
                      error.error_type, error.run_id))


def _on_fail(ctx, error) -> None:
    CALLS.append(("fail", ctx.amount, error.reason))


@workflow("fh_gives_up", on_failure=_on_fail)
class GivesUp:
    class Context(BaseModel):
        amount: int

    @step(start=True)
    def decide(self, ctx):
        return fail("over the limit")


@workflow("fh_fine", on_failure=_on_fail)
class Fine:
    class Context(BaseModel):
        amount: int

    @step(start=True)
    def go(self, ctx):
        return None


@on_event("fh_order_placed", on_failure=_record_handler_failure)
def place_order(event) -> None:
    raise ValueError(f"no stock for order {event.data['n']}")


@pytest.fixture(autouse=True)
def _clean() -> None:
    CALLS.clear()


def test_a_step_that_runs_out_of_retries_runs_the_hook_once_with_error_and_context(
    time_machine: TimeMachine,
) -> None:
    run = engine.start("fh_charge", amount=40)
    with pytest.raises(RunFailedError, match="card declined"):
        run.result(timeout=30)
    assert run.status() == "failed"
    assert len(CALLS) == 1
    kind, amount, charged, reason, failed_step, error_type, run_id = CALLS[0]
    assert (kind, amount, failed_step, error_type, run_id) == (
        "workflow", 40, "charge", "RuntimeError", run.id)
    assert "card declined" in reason
    # The Context as the run last saved it: the failed step's changes are not kept.
    assert charged is False


def test_fail_runs_a_function_hook_and_a_completed_run_does_not(
    time_machine: TimeMachine,
) -> None:
    with pytest.raises(RunFailedError, match="over the limit"):
        engine.start("fh_gives_up", amount=7).result(timeout=20)
    assert engine.start("fh_fine", amount=8).result(timeout=20) == {}
    assert CALLS == [("fail", 7, "over the limit")]


def test_a_failing_handler_runs_its_hook_with_the_event(time_machine: TimeMachine) -> None:
    (run,) = engine.emit("fh_order_placed", data={"n": 3})
    with pytest.raises(RunFailedError, match="no stock"):
        run.result(timeout=20)
    assert len(CALLS) == 1
    assert CALLS[0][:2] == ("handler", 3) and "no stock for order 3" in CALLS[0][2]
    assert CALLS[0][3:] == ("handle", "ValueError")


# ── decoration time ──────────────────────────────────────────────────────────────


class _Ctx(BaseModel):
    n: int = 0


def _define(on_failure) -> None:
    class Bad:
        Context = _Ctx

        @step(start=True)
        def go(self, ctx):
            return None

        def one_arg(self, ctx):
            return None

    workflow("fh_bad", on_failure=on_failure)(Bad)


@pytest.mark.parametrize(("on_failure", "message"), [
    ("missing", "on_failure names 'missing', which is not a method of"),
    ("one_arg", "must take (self, ctx, error)"),
    (lambda ctx: None, "must take two arguments (ctx, error)"),
    (42, "on_failure must be a function (ctx, error) or the name of a method"),
])
def test_bad_workflow_hooks_fail_at_decoration(on_failure, message) -> None:
    with pytest.raises(DefinitionError, match="Bad") as info:
        _define(on_failure)
    assert message in str(info.value)


@pytest.mark.parametrize(("options", "message"), [
    ({"on_failure": "refund"}, "on_failure must be a function (event, error)"),
    ({"on_failure": lambda event: None}, "must take two arguments (event, error)"),
    ({"on_failure": lambda e, err: None, "debounce_window": 10},
     "on_failure= cannot be combined with debounce_window"),
])
def test_bad_handler_hooks_fail_at_decoration(options, message) -> None:
    with pytest.raises(DefinitionError, match="fh_never_handler") as info:
        on_event("fh_never", **options)(fh_never_handler)
    assert message in str(info.value)


def fh_never_handler(event) -> None:
    """Never registered: every decoration above fails."""
