"""on_failure= on agent @handlers: the hook runs once when a handler call fails for good,
with the agent's Context, the event and the error; the agent lives on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from durable_automation import Retry, complete, engine
from durable_automation.agents import agent, handler
from durable_automation.exceptions import DefinitionError

CALLS: list[tuple[Any, ...]] = []


@agent("agof_account", spawn_on="agof_opened", match={"acct": "{{ ctx.acct }}"})
class Account:
    """``charge`` fails after two attempts; its hook compensates and notes it in the Context."""

    class Context(BaseModel):
        acct: int
        tried: bool = False
        compensated: int = 0
        notes: int = 0

    @handler("agof_charge", retry=Retry(max_attempts=2, base_delay=timedelta(seconds=1)),
             on_failure="compensate")
    def charge(self, ctx: Context, event: Any) -> None:
        ctx.tried = True
        CALLS.append(("attempt", event.data["amount"]))
        raise RuntimeError(f"card declined for {event.data['amount']}")

    @handler("agof_note", on_failure="compensate")
    def note(self, ctx: Context) -> None:
        ctx.notes += 1

    def compensate(self, ctx: Context, event: Any, error: Any) -> None:
        CALLS.append(("hook", ctx.acct, ctx.tried, event.data["amount"], error.reason,
                      error.step, error.error_type, error.run_id))
        ctx.compensated += 1  # kept: the agent lives on


def _alert(ctx: Any, event: Any, error: Any) -> Any:
    CALLS.append(("alert", ctx.acct, event.name, error.error_type))
    if event.data.get("give_up"):
        return complete()  # the hook may end the agent, as a handler may
    raise ValueError("the alert service is down")  # logged; the agent lives on


@agent("agof_alerting", spawn_on="agof_alerting_opened", match={"acct": "{{ ctx.acct }}"})
class Alerting:
    """A function hook on a handler without a Retry."""

    class Context(BaseModel):
        acct: int

    @handler("agof_boom", on_failure=_alert)
    def boom(self, ctx: Context) -> None:
        raise KeyError("boom")


@pytest.fixture(autouse=True)
def _clean() -> None:
    CALLS.clear()


def _outcomes(run: Any) -> list[tuple[str, str, str | None]]:
    return [(r.handler, r.outcome, r.on_failure) for r in run.history()]


def test_a_handler_failing_for_good_runs_its_hook_once_and_the_agent_lives_on(time_machine):
    tm = time_machine
    [run] = engine.emit("agof_opened", data={"acct": 1})
    engine.emit("agof_charge", data={"acct": 1, "amount": 30})
    tm.advance(seconds=5)  # past the retry's backoff
    engine.emit("agof_note", data={"acct": 1, "amount": 0})
    tm.settle()

    assert CALLS[:2] == [("attempt", 30), ("attempt", 30)]  # the handler's own retries first
    assert len(CALLS) == 3
    kind, acct, tried, amount, reason, failed, error_type, run_id = CALLS[2]
    assert (kind, acct, amount, failed, error_type, run_id) == (
        "hook", 1, 30, "charge", "RuntimeError", run.id)
    assert "card declined for 30" in reason
    assert tried is False  # the Context as the agent last saved it
    # The failure is recorded with the hook's outcome; the next event is handled as usual
    # and a handler that succeeds runs no hook.
    assert _outcomes(run) == [("charge", "failed", "ran"), ("note", "ran", None)]
    ctx = run.context()
    assert (ctx.compensated, ctx.notes) == (1, 1)
    assert run.status() == "waiting"  # alive, waiting for its next event


def test_a_raising_function_hook_is_not_retried_and_a_hook_may_complete_the_agent(
    time_machine,
):
    tm = time_machine
    [run] = engine.emit("agof_alerting_opened", data={"acct": 2})
    engine.emit("agof_boom", data={"acct": 2})
    tm.settle()
    assert CALLS == [("alert", 2, "agof_boom", "KeyError")]
    assert _outcomes(run) == [("boom", "failed", "failed")]
    assert run.status() == "waiting"  # alive, waiting for its next event

    engine.emit("agof_boom", data={"acct": 2, "give_up": True})
    result = run.result(timeout=30)
    assert result["handled"] == 2
    assert len(CALLS) == 2 and _outcomes(run)[-1] == ("boom", "failed", "ran")


# ── decoration time ──────────────────────────────────────────────────────────────


class _Ctx(BaseModel):
    acct: int = 0


def _define(on_failure: Any) -> None:
    class Bad:
        Context = _Ctx

        @handler("agof_never", on_failure=on_failure)
        def h(self, ctx):
            return None

        @handler("agof_never_either")
        def other(self, ctx, event):
            return None

        def two_args(self, ctx, error):
            return None

    agent("agof_bad", spawn_on="agof_never_spawned", match={"acct": "{{ ctx.acct }}"})(Bad)


@pytest.mark.parametrize(("on_failure", "message"), [
    ("missing", "Bad.h: on_failure names 'missing', which is not a method of"),
    ("two_args", "on_failure method _define.<locals>.Bad.two_args must take "
                 "(self, ctx, event, error)"),
    ("other", "Bad.h: on_failure names 'other', a @handler; a hook is a plain method"),
    (lambda ctx, error: None, "must take three arguments (ctx, event, error)"),
    (42, "Bad.h: on_failure must be a function (ctx, event, error) or the name of a method"),
])
def test_bad_agent_hooks_fail_at_decoration(on_failure, message) -> None:
    with pytest.raises(DefinitionError, match="Bad") as info:
        _define(on_failure)
    assert message in str(info.value)
