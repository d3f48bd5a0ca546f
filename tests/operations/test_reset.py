"""``run.reset(to_step=..., visit=...)`` on the dev server (the time-skipping server has
no reset): the step runs again with today's code and the Context it had when it began."""

from __future__ import annotations

import pytest

from durable_automation import ResetError, engine
from tests.operations import automations
from tests.operations.automations import FIXED


@pytest.fixture(autouse=True)
def _buggy_code():
    FIXED.update(notify=False, charge=False)
    yield
    FIXED.update(notify=False, charge=False)


def test_reset_reruns_a_step_with_the_context_it_began_with(dev_worker):
    run = engine.start("ops_reset_flow")
    assert run.result(timeout=30)["log"] == ["prepare", "notify1:buggy", "notify2:buggy"]

    FIXED["notify"] = True  # the bug fix is deployed
    point = run.reset(to_step="notify_housekeeping")  # latest visit: 2
    assert (point.step, point.visit) == ("notify_housekeeping", 2)
    # Visit 2 began with visit 1's entry in the Context, and not its own old one.
    assert run.result(timeout=30)["log"] == ["prepare", "notify1:buggy", "notify2:fixed"]

    run.reset(to_step="notify_housekeeping", visit=1)
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
