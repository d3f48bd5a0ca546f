"""Deploy safety: the check lists runs in flight that the new code cannot carry on, from
the memo a parked run writes; ``renamed_steps`` carries a run onto a renamed step."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from pydantic import BaseModel, Field
from temporalio.client import WorkflowHistory

from durable_automation import (
    DefinitionError,
    check_stranded_runs,
    complete,
    engine,
    step,
    wait,
    workflow,
)
from durable_automation._core.registry import registry
from durable_automation._core.runtime import call_sync
from durable_automation.cli import run as cli
from durable_automation.worker import replayer
from durable_automation.workflows._park_memo import CONTEXT_MEMO_LIMIT
from tests.helpers.history import step_names
from tests.helpers.polling import eventually
from tests.operations import automations  # noqa: F401 - registers ops_parked_flow

NAME = "ops_parked_flow"


@contextmanager
def deployed(build: Callable[[], type], name: str = NAME) -> Iterator[None]:
    """Replace automation ``name`` by what ``build`` registers (the code "about to run"),
    or by nothing when it registers nothing; put the original back afterwards."""
    original = registry.workflows[name]
    registry.unregister(name)
    try:
        build()
        yield
    finally:
        registry.unregister(name)
        registry.add_workflow(original)


def _memo(run_id: str) -> dict:
    async def read() -> dict:
        client = await engine._aclient()
        return dict(await (await client.get_workflow_handle(run_id).describe()).memo())

    return call_sync(engine._ensure().loop, read, sync_name="memo", async_name="memo")


def _listed_memo(run_id: str) -> dict:
    """The memo as the check reads it: from the visibility listing, which can lag
    ``describe()`` by a moment under load (seen in CI)."""

    async def read() -> dict:
        client = await engine._aclient()
        async for execution in client.list_workflows(f"WorkflowId = '{run_id}'"):
            return dict(await execution.memo())
        return {}

    return call_sync(engine._ensure().loop, read, sync_name="memo", async_name="memo")


def _parked(guest: str) -> str:
    [run] = engine.emit("ops_guest_arrived", entity_type="hotel.guest", entity_id=guest)
    eventually(lambda: "da_park" in _listed_memo(run.id), timeout=30, message="park memo listed")
    return run.id


def test_parked_run_memo_and_the_check_against_changed_code(dev_worker):
    run_id = _parked("11")
    assert _memo(run_id)["da_park"] == {
        "step": "await_docs", "kind": "wait", "targets": ["remind", "review"],
        "context": {"guest": "11", "room": 0}, "context_fields": None, "context_bytes": 23,
    }
    assert check_stranded_runs().ok  # the code it parked under

    class NeedsNights(BaseModel):
        guest: str
        nights: int  # new, required: old Contexts lack it

    class Nights(BaseModel):
        guest: str
        nights: int = 1

    renamed_remind_and_new_required_field = _parked_variant(remind="send_reminder",
                                                            context=NeedsNights)
    with deployed(renamed_remind_and_new_required_field):
        report = check_stranded_runs()
        [stranded] = [s for s in report.stranded if s.id == run_id]
        text = stranded.describe()
        assert "'remind' no longer exists" in text and "renamed_steps={'remind'" in text
        assert "Context no longer validates" in text and "nights: Field required" in text
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli(["check"]) == 1  # fails CI
        assert run_id in out.getvalue()
        from django_integration.checks import check_stranded_runs as django_check

        errors = [m for m in django_check() if run_id in m.msg]
        assert errors and all(isinstance(m, Error) and m.id == "durable_automation.E007"
                              for m in errors)
        # manage.py check --deploy fails (a non-zero exit in CI).
        with pytest.raises(SystemCheckError, match=r"durable_automation\.E007"):
            call_command("check", "--deploy", "--tag", "durable_automation")

    fixed = _parked_variant({"remind": "send_reminder"}, remind="send_reminder", context=Nights)
    with deployed(fixed):
        assert run_id not in {s.id for s in check_stranded_runs().stranded}
    with deployed(lambda: object):  # the automation is gone
        [gone] = [s for s in check_stranded_runs().stranded if s.id == run_id]
        assert f"automation {NAME!r} no longer exists" in gone.describe()
    engine.get_run(run_id).cancel()


def test_current_step_gone_and_large_context(dev_worker):
    run_id = _parked("12")
    big = engine.start("ops_big_context", blob="x" * (CONTEXT_MEMO_LIMIT + 10))
    eventually(lambda: "da_park" in _listed_memo(big.id), timeout=30)
    memo = _memo(big.id)["da_park"]
    assert memo["context"] is None and memo["context_fields"] == ["blob", "count"]

    def big_needs_more() -> type:
        @workflow("ops_big_context")
        class Big:
            class Context(BaseModel):
                blob: str
                count: int = 0
                owner: str  # required, never recorded

            @step(start=True)
            def hold(self) -> object:
                return wait("ops:big")

        return Big

    docs_step_renamed = _parked_variant(start="collect_docs")
    with deployed(docs_step_renamed), deployed(big_needs_more, "ops_big_context"):
        stranded = {s.id: s.describe() for s in check_stranded_runs().stranded}
    assert "its current step 'await_docs' no longer exists" in stranded[run_id]
    assert "only field names were checked" in stranded[big.id]
    assert "owner" in stranded[big.id]
    engine.get_run(run_id).cancel()
    big.cancel()


def test_a_run_held_at_its_start_gate_records_its_first_step(dev_worker):
    [run] = engine.emit("ops_arrival_due", entity_type="hotel.guest", entity_id="14")
    memo = eventually(lambda: _memo(run.id).get("da_park"), timeout=30)
    assert memo["kind"] == "gate" and memo["step"] == "welcome"
    assert memo["context"] == {"note": "gated"} and memo["targets"] == []
    run.cancel()


def test_renamed_step_carries_a_parked_run_on(dev_worker):
    """Fails without renamed_steps: the woken run would name a step that no longer
    exists, and its workflow task would fail forever."""
    run_id = _parked("13")

    review_renamed = _parked_variant({"review": "approve"}, review="approve")
    with deployed(review_renamed):
        # The worker still caches the run: the step activity maps the old name.
        assert engine.get_run(run_id).signal("ops:docs")
        assert engine.get_run(run_id).result(timeout=30) == {"reviewed": "13"}
        # A restarted worker replays the whole history under the new code: the
        # interpreter maps the name and schedules the activity the history recorded.
        history = _history(run_id)
        _replay(history)
    # The history keeps the name it recorded; the new step's code ran.
    assert step_names(run_id) == ["await_docs", "review"]

    def review_renamed_without_map() -> type:
        review_renamed()
        registry.workflows[NAME] = dataclasses.replace(registry.workflows[NAME],
                                                       renamed_steps={})
        return object

    unknown_step = r"message: \"'review'\""  # the interpreter's KeyError
    with deployed(review_renamed_without_map), pytest.raises(RuntimeError, match=unknown_step):
        _replay(history)


class _Guest(BaseModel):
    guest: str = "?"


def _parked_variant(renamed_steps: dict[str, str] | None = None, *, start: str = "await_docs",
                    review: str = "review", remind: str = "remind",
                    context: type[BaseModel] = _Guest) -> Callable[[], type]:
    """A build for :func:`deployed`: ops_parked_flow as changed code may have it, its
    steps named ``start`` (waits for ops:docs), ``review`` (completes with
    ``reviewed=<guest>``) and ``remind`` (on timeout), its Context ``context``.
    Steps are named by their class attribute, so the class is built with ``type``."""

    def build() -> type:
        def await_docs(self: object) -> object:
            return wait("ops:docs", timeout=3600, on_timeout=remind, then=review)

        def reviewed(self: object, ctx: Any) -> object:
            return complete(reviewed=ctx.guest)

        def reminded(self: object) -> object:
            return complete()

        body = {"Context": context, start: step(start=True)(await_docs),
                review: step(reviewed), remind: step(reminded)}
        return workflow(NAME, renamed_steps=renamed_steps)(type("Parked", (), body))

    return build


def _history(run_id: str) -> WorkflowHistory:
    async def fetch() -> WorkflowHistory:
        client = await engine._aclient()
        return await client.get_workflow_handle(run_id).fetch_history()

    return call_sync(engine._ensure().loop, fetch, sync_name="history", async_name="history")


def _replay(history: WorkflowHistory) -> None:
    asyncio.run(asyncio.wait_for(replayer().replay_workflow(history), timeout=60))


def test_renamed_steps_errors_at_decoration_time():
    with pytest.raises(DefinitionError) as caught:
        @workflow("ops_bad_renames", renamed_steps={"go": "gone", "old": "missing"})
        class Bad:
            class Context(BaseModel):
                items: list[str] = Field(default_factory=list)

            @step(start=True)
            def go(self) -> object:
                return complete()

    text = str(caught.value)
    assert "renamed_steps maps 'go', which is still a step" in text
    assert "maps 'old' to 'missing', which is not a step" in text
    assert "ops_bad_renames" not in registry.workflows


def test_renamed_start_step_replays_old_runs_and_names_new_ones(dev_worker):
    """Runs started before the start step was renamed replay their first activity under
    the old name; runs started after use the new one (patch da-renamed-start-step)."""
    run_id = _parked("15")
    history = _history(run_id)

    with deployed(_parked_variant({"await_docs": "collect_docs"}, start="collect_docs")):
        _replay(history)  # would be nondeterministic if the first activity changed name
        assert run_id not in {s.id for s in check_stranded_runs().stranded}
        new = engine.start(NAME)
        eventually(lambda: step_names(new.id) == ["collect_docs"], timeout=30)
        new.cancel()
    engine.get_run(run_id).cancel()
