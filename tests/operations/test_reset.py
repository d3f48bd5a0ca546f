"""``run.reset(to_step=..., visit=...)`` on the dev server (the time-skipping server has
no reset): the step runs again with today's code and the Context it had when it began."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from types import SimpleNamespace

import pytest

from durable_automation import AgentManager, ResetError, engine
from durable_automation.cli import run as cli
from tests.helpers.polling import eventually
from tests.operations import automations
from tests.operations.automations import CALLS, FIXED

pytestmark = pytest.mark.usefixtures("buggy_code")


def test_reset_reruns_a_step_with_the_context_it_began_with(dev_worker):
    run = engine.start("ops_reset_flow")
    assert run.result(timeout=30)["log"] == ["prepare", "notify1:buggy", "notify2:buggy"]

    FIXED["notify"] = True  # the bug fix is deployed
    point = run.reset(to_step="notify_housekeeping")  # latest visit: 2
    assert (point.step, point.visit) == ("notify_housekeeping", 2)
    # Visit 2 began with visit 1's entry in the Context, and not its own old one.
    assert run.result(timeout=30)["log"] == ["prepare", "notify1:buggy", "notify2:fixed"]

    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["runs", "reset", run.id, "--to-step", "notify_housekeeping",
                    "--visit", "1"]) == 0
    assert f"{run.id}: reset to step notify_housekeeping (visit 1)" in out.getvalue()
    assert run.result(timeout=30)["log"] == ["prepare", "notify1:fixed", "notify2:fixed"]
    assert run.status() == "completed"


def test_reset_names_unknown_steps_and_visits(dev_worker):
    run = engine.start("ops_reset_flow")
    run.result(timeout=30)
    with pytest.raises(ResetError, match=r"has no step 'notify'.*steps: prepare, "
                                         r"notify_housekeeping, finish"):
        run.reset(to_step="notify")
    with pytest.raises(ResetError, match="has visits 1, 2") as caught:
        run.reset(to_step="notify_housekeeping", visit=3)
    assert caught.value.visits == [1, 2]
    assert automations.ResetFlow  # the module registered it


def test_agent_reset_to_a_handler_visit_of_its_current_run(dev_worker):
    guest = SimpleNamespace(id=5)  # the entity (a model instance in Django)
    engine.emit("ops_agent_spawn", entity=guest, entity_type="hotel.guest", entity_id=5)
    for text in ("towels", "late checkout"):
        engine.emit("ops_agent_note", entity=guest, entity_type="hotel.guest", entity_id=5,
                    data={"text": text})
    agent_run = AgentManager.get("ops_guest_agent", "id=5")
    eventually(lambda: len(agent_run.context().notes) == 2, timeout=30)
    assert agent_run.context().notes == ["towels:buggy", "late checkout:buggy"]

    FIXED["notify"] = True
    point = agent_run.reset(to_step="note", visit=1)  # handler calls count as visits
    assert (point.step, point.visit) == ("note", 1)
    eventually(lambda: agent_run.context().notes == ["towels:fixed", "late checkout:fixed"],
               timeout=30, message="both notes handled again with the fix")
    with pytest.raises(ResetError, match=r"its current execution has visits 1, 2$"):
        agent_run.reset(to_step="note", visit=9)
    AgentManager.complete(agent_run)


def test_reset_to_a_local_step_whose_first_attempt_failed(dev_worker):
    CALLS["stamp"] = 0
    run = engine.start("ops_local_flow")
    assert run.result(timeout=30)["log"] == ["stamp:buggy"]
    assert CALLS["stamp"] == 2  # one failed attempt, retried by the workflow
    # The retry belongs to the same visit: there is one visit to go back to.
    with pytest.raises(ResetError, match=r"its current execution has visits 1$"):
        run.reset(to_step="stamp", visit=2)
    FIXED["notify"] = True
    assert run.reset(to_step="stamp").visit == 1
    assert run.result(timeout=30)["log"] == ["stamp:fixed"]
    assert CALLS["stamp"] == 3
