"""Bulk cancel and bulk retry by filter, with a dry run (dev server: visibility)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta

import pytest

from durable_automation import (
    ConfigurationError,
    RunFailedError,
    cancel_runs,
    engine,
    find_runs,
    retry_runs,
)
from durable_automation._core.settings import overridden
from durable_automation.cli import run as cli
from tests.helpers.history import step_names
from tests.helpers.polling import eventually
from tests.operations import automations  # noqa: F401 - registers the automations
from tests.operations.automations import CALLS, FIXED

pytestmark = pytest.mark.usefixtures("buggy_code")


def test_retry_failed_runs_goes_back_to_the_failed_step(dev_worker):
    runs = [engine.start("ops_charge_flow", guest=guest) for guest in ("ann", "bob")]
    for run in runs:
        with pytest.raises(RunFailedError, match="card gateway bug"):
            run.result(timeout=30)
    # The failure hook ran after charge; retry goes back to charge, not to the hook.
    assert step_names(runs[0].id)[-1] != "charge"
    eventually(lambda: len(find_runs(automation="ops_charge_flow", status="failed")) == 2,
               timeout=30, message="both failed runs listed")
    listing = io.StringIO()
    with redirect_stdout(listing):
        assert cli(["runs", "list", "--automation", "ops_charge_flow", "--status",
                    "failed"]) == 0
    assert all(f"{run.id}  ops_charge_flow  failed" in listing.getvalue() for run in runs)

    out = io.StringIO()
    with redirect_stdout(out):
        code = cli(["runs", "retry", "--automation", "ops_charge_flow", "--dry-run"])
    assert code == 0
    for run in runs:
        assert f"{run.id}: would reset to step charge (visit 1)" in out.getvalue()
    assert "2 run(s) to retry, 0 skipped (dry run: nothing changed)" in out.getvalue()
    assert [run.status() for run in runs] == ["failed", "failed"]  # the dry run changed nothing

    later = datetime.now(UTC) + timedelta(hours=1)
    assert retry_runs(automation="ops_charge_flow", started_after=later).runs == []

    FIXED["charge"] = True  # the fix is deployed
    reserved = CALLS["reserve"]
    result = retry_runs(automation="ops_charge_flow")
    assert sorted(result.done) == sorted(run.id for run in runs)
    # charge ran again with the Context it began with; reserve did not run again.
    assert [run.result(timeout=30)["log"] for run in runs] == [["reserve", "charge"]] * 2
    assert CALLS["reserve"] == reserved


def test_cancel_runs_by_entity_and_step(dev_worker):
    with overridden(search_attributes=True):
        ann = engine.emit("ops_guest_arrived", entity_type="hotel.guest", entity_id="7")[0]
        bob = engine.emit("ops_guest_arrived", entity_type="hotel.guest", entity_id="8")[0]
        eventually(lambda: len(find_runs(step="await_docs")) == 2, timeout=30,
                   message="both parked runs listed by step")

        dry = cancel_runs(entity="hotel.guest:7", dry_run=True)
        assert dry.done == {ann.id: "cancel (step await_docs)"}
        assert ann.status() == "waiting"

        result = cancel_runs(automation="ops_parked_flow", step="await_docs")
        assert sorted(result.done) == sorted([ann.id, bob.id])
    eventually(lambda: [ann.status(), bob.status()] == ["cancelled", "cancelled"], timeout=30)
    with pytest.raises(ConfigurationError, match="needs the SEARCH_ATTRIBUTES setting"):
        cancel_runs(step="await_docs")
