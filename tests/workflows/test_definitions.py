"""Decoration-time errors: every problem reported at once, naming the class and the step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from durable_automation import (
    DefinitionError,
    RegistrationError,
    Retry,
    UnknownAutomationError,
    complete,
    engine,
    goto,
    sleep,
    step,
    wait,
    wait_for_event,
    workflow,
)


class Ctx(BaseModel):
    pass


def test_no_start_step():
    with pytest.raises(DefinitionError, match="NoStart has no start step") as caught:
        @workflow("def_no_start")
        class NoStart:
            Context = Ctx

            @step()
            def only(self):
                return complete()
    assert caught.value.target.endswith("NoStart")


def test_two_start_steps_named():
    with pytest.raises(DefinitionError, match=r"TwoStarts has 2 start steps \(a, b\)"):
        @workflow("def_two_starts")
        class TwoStarts:
            Context = Ctx

            @step(start=True)
            def a(self):
                return complete()

            @step(start=True)
            def b(self):
                return complete()


def test_unknown_targets_all_reported_with_class_and_step():
    with pytest.raises(DefinitionError) as caught:
        @workflow("def_unknown_targets")
        class UnknownTargets:
            Context = Ctx

            @step(start=True)
            def begin(self):
                if self:
                    return goto(self.finalise)
                if self:
                    return goto("nowhere")
                if self:
                    return wait("sig", timedelta(minutes=5), "fallback_doc")
                if self:
                    return wait_for_event("evt", on_timeout=self.later)
                return sleep(5, then="after_nap")

            @step()
            def finalize(self):
                return complete()

    message = str(caught.value)
    assert "for 5 reasons" in message
    for fragment in (
        "UnknownTargets.begin: goto names step 'finalise'",
        "UnknownTargets.begin: goto names step 'nowhere'",
        "UnknownTargets.begin: on_timeout names step 'fallback_doc'",
        "UnknownTargets.begin: on_timeout names step 'later'",
        "UnknownTargets.begin: then names step 'after_nap'",
    ):
        assert fragment in message
    assert "steps: begin, finalize" in message


def test_context_must_be_a_pydantic_model():
    with pytest.raises(DefinitionError, match=r"BadContext\.Context must be a pydantic BaseModel"):
        @workflow("def_bad_context")
        class BadContext:
            class Context:
                pass

            @step(start=True)
            def a(self):
                return complete()


def test_missing_context_and_bad_retry_reported_together():
    with pytest.raises(DefinitionError) as caught:
        @workflow("def_missing_context")
        class MissingContext:
            @step(start=True, retry="3 times")  # type: ignore[arg-type]
            def a(self):
                return complete()
    assert len(caught.value.problems) == 2
    assert "MissingContext has no nested Context" in str(caught.value)
    assert "MissingContext.a: retry must be a Retry" in str(caught.value)


def test_retry_validates_its_values():
    with pytest.raises(DefinitionError, match="max_attempts must be an integer >= 1"):
        Retry(max_attempts=0)
    with pytest.raises(DefinitionError, match="base_delay must be a positive timedelta"):
        Retry(base_delay=timedelta(0))


def test_names_are_unique_across_classes():
    @workflow("def_taken")
    class First:
        Context = Ctx

        @step(start=True)
        def a(self):
            return complete()

    with pytest.raises(RegistrationError, match="'def_taken' is already used by"):
        @workflow("def_taken")
        class Second:
            Context = Ctx

            @step(start=True)
            def a(self):
                return complete()


def test_starting_an_unknown_automation_names_the_fix():
    with pytest.raises(UnknownAutomationError, match="was the module defining it imported"):
        engine.start("def_never_registered")


def test_default_create_context_uses_start_kwargs():
    @workflow("def_default_create")
    class DefaultCreate:
        class Context(BaseModel):
            listing_id: int

        @step(start=True)
        def a(self):
            return complete()

    definition = DefaultCreate.__durable_automation__
    assert definition.create_context(listing_id=4).listing_id == 4
