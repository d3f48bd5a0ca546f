"""Decoration-time errors of @agent / @handler, and the public surface of agents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from durable_automation import agents, events
from durable_automation.agents import agent, handler
from durable_automation.exceptions import DefinitionError, RegistrationError


def test_every_problem_is_reported_at_once():
    with pytest.raises(DefinitionError) as info:
        @agent("ag_bad", spawn_on="x", match={"id": "{{ ctx.missing }}"})
        class Bad:
            class Context(BaseModel):
                present: int

            @handler("y", offset=5, match={"status__in": "prefix {{ ctx.present }}"})
            def h(self, ctx): ...

            @handler("z", match={"a": "literal"})
            def unroutable(self, ctx): ...

    text = str(info.value)
    assert "names no field of Context" in text
    assert "offset must be a timedelta" in text
    assert "exactly one template" in text
    assert "cannot find an agent" in text
    assert len(info.value.problems) == 4


def test_context_must_be_pydantic():
    with pytest.raises(DefinitionError, match="nested Context"):
        @agent("ag_no_context", spawn_on="x")
        class NoContext:
            pass


def test_names_are_unique_across_kinds():
    @agent("ag_unique_name", spawn_on="x", match={"id": "{{ ctx.id }}"})
    class First:
        class Context(BaseModel):
            id: int

    with pytest.raises(RegistrationError):
        @agent("ag_unique_name", spawn_on="x")
        class Second:
            class Context(BaseModel):
                id: int


def test_routes_are_decided_at_decoration_time():
    @agent("ag_routes", spawn_on="s", match={"id": "{{ ctx.rid }}"})
    class Routes:
        class Context(BaseModel):
            rid: int
            guest_id: int
            ok: list[str] = []

        @handler("direct", match={"reservation__id": "{{ ctx.rid }}", "state__in": "{{ ctx.ok }}"})
        def d(self, ctx): ...

        @handler("by_guest", match={"guest__id": "{{ ctx.guest_id }}"}, offset=timedelta(hours=1))
        def g(self, ctx): ...

    definition = Routes.__durable_automation__
    assert definition.handlers["d"].route.kind == "direct"
    assert [i.expr for i in definition.handlers["d"].route.predicates] == ["state__in"]
    assert definition.handlers["g"].route.kind == "index"
    assert definition.index_fields == ("guest_id",)
    assert definition.key_for({"rid": 4, "guest_id": 1}) == "id=4"


def test_public_surface():
    assert set(agents.__all__) >= {"agent", "handler", "AgentManager", "claims"}
    assert events.claims is agents.claims
