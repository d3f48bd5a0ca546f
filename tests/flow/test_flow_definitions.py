"""Flow options are checked at decoration time: every problem in one error that names
the automation and the argument, including combinations we do not support."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from durable_automation import (
    Concurrency,
    DefinitionError,
    RateLimit,
    Throttle,
    event_workflow,
    on_event,
    step,
    workflow,
)
from durable_automation._core.flow import flow_of, render_key
from durable_automation._core.registry import registry


def _workflow(name: str, decorator_kwargs: dict, *, event: str | None = None) -> type:
    class Flowing:
        class Context(BaseModel):
            guest: str = "g"

        @step(start=True)
        def go(self) -> None:
            return None

    decorate = (event_workflow(event, name=name, **decorator_kwargs) if event
                else workflow(name, **decorator_kwargs))
    return decorate(Flowing)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"concurrency": Concurrency(0)}, "concurrency: limit must be a positive int, got 0"),
    ({"concurrency": 3}, "concurrency must be a Concurrency(...), got 3"),
    ({"throttle": Throttle(2, timedelta(0))}, "throttle: period must be a positive timedelta"),
    ({"rate_limit": RateLimit(1, 60)}, "rate_limit: period must be a positive timedelta"),
    ({"concurrency": Concurrency(1), "throttle": Throttle(1, timedelta(seconds=1))},
     "concurrency and throttle cannot be combined"),
    ({"concurrency": Concurrency(1, key="{{ event.entity_id }}")},
     "reads event, but this automation has only ctx"),
    ({"concurrency": Concurrency(1, key="{{ ctx.guest")},
     "has a placeholder that is not"),
    ({"priority": 0}, "priority must be an int from 1 (first) to 5 (last), got 0"),
    ({"priority": 6}, "got 6"),
    ({"fairness_weight": 2.0}, "fairness_weight needs a fairness_key"),
    ({"concurency": Concurrency(1)}, "unexpected argument(s) 'concurency'"),
])
def test_bad_flow_options_are_refused_at_decoration(kwargs, message):
    with pytest.raises(DefinitionError, match=r"Flowing") as info:
        _workflow("flow_bad", kwargs)
    assert message in str(info.value)
    assert "flow_bad" not in registry.workflows


def test_handler_flow_options_read_the_event_and_refuse_debounce():
    with pytest.raises(DefinitionError) as info:
        @on_event("flow_evt", debounce_window=timedelta(seconds=5),
                  concurrency=Concurrency(1, key="{{ ctx.guest }}"))
        def handler(events):  # pragma: no cover - never registered
            pass
    text = str(info.value)
    assert "not with debounce_window or batch" in text
    assert "reads ctx, but this automation has only event" in text


def test_good_options_are_registered_and_keys_render():
    _workflow("flow_good", {"concurrency": Concurrency(2, key="{{ ctx.guest }}"),
                            "priority": 1, "fairness_key": "{{ ctx.guest }}"},
              event="flow_good_evt")
    try:
        flow = flow_of("flow_good")
        assert flow is not None and flow.mode == "concurrency" and flow.priority == 1
        assert render_key(flow.limiter.key, {"guest": 7}, None) == "7"
        assert render_key("{{ event.data.phone }}", {}, {"data": {"phone": "555"}}) == "555"
        assert render_key(None, {}, None) == "all"
        with pytest.raises(ValueError, match=r"ctx\.missing"):
            render_key("{{ ctx.missing }}", {}, None)
    finally:
        registry.unregister("flow_good")


def test_task_refuses_flow_options_and_agent_handlers_check_theirs():
    from durable_automation import task
    from durable_automation.agents import agent, handler

    with pytest.raises(DefinitionError, match="@task does not take concurrency="):
        @task(concurrency=Concurrency(1))
        def cleanup() -> None:  # pragma: no cover - never registered
            pass

    with pytest.raises(DefinitionError) as info:
        @agent("flow_bad_agent", spawn_on="flow_bad_agent_opened")
        class BadAgent:
            class Context(BaseModel):
                desk: int = 0

            @handler("flow_bad_agent_called", throttle=Throttle(0, timedelta(seconds=1)),
                     priority=9)
            def answer(self, ctx) -> None:  # pragma: no cover - never registered
                pass
    text = str(info.value)
    assert "BadAgent.answer: throttle: limit must be a positive int, got 0" in text
    assert "BadAgent.answer: priority must be an int from 1 (first) to 5 (last)" in text
