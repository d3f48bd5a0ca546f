"""Lookups, index routing, conditions, retries and claim races, under time_machine."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from durable_automation import engine
from durable_automation.agents import AgentManager, claims
from durable_automation.events import Event

from . import routing_agents


def test_relation_traversal_and_in_lookup(time_machine, world):
    tm = time_machine
    prop = world.add("hotel.property", id=1)
    other = world.add("hotel.property", id=2)
    engine.emit("ag_property_opened", entity=prop, entity_type="hotel.property")
    engine.emit("ag_property_opened", entity=other, entity_type="hotel.property")
    for rid, where, status in [(1, prop, "confirmed"), (2, prop, "cancelled"),
                               (3, other, "confirmed"), (4, prop, "checked_in")]:
        res = world.add("hotel.reservation", id=rid, property=where, status=status)
        engine.emit("ag_reservation_updated", entity=res, entity_type="hotel.reservation")
    tm.settle()
    assert AgentManager.get("ag_property_watch", "id=1").context().seen == [
        "reservation:1", "reservation:4"]
    assert AgentManager.get("ag_property_watch", "id=2").context().seen == ["reservation:3"]


def test_index_routing_follows_context_changes(time_machine, world):
    tm = time_machine
    a, b = world.add("hotel.property", id=11), world.add("hotel.property", id=12)
    for p in (a, b):
        engine.emit("ag_property_opened", entity=p, entity_type="hotel.property")

    def alert(aid, level):
        engine.emit("ag_alert_raised", entity=world.add("ops.alert", id=aid, level=level),
                    entity_type="ops.alert")
        tm.settle()

    alert(1, "high")   # both agents index "high"
    alert(2, "low")    # nobody
    engine.emit("ag_levels_changed", entity=b, entity_type="hotel.property",
                data={"levels": ["low"]})
    tm.settle()
    alert(3, "high")   # only a now
    alert(4, "low")    # only b
    run_a = AgentManager.get("ag_property_watch", "id=11")
    run_b = AgentManager.get("ag_property_watch", "id=12")
    assert run_a.context().seen == ["alert:1", "alert:3"]
    assert run_b.context().seen == ["alert:1", "alert:4"]


def test_condition_is_checked_when_the_handler_is_due(time_machine, world):
    tm = time_machine
    t0 = tm.now()
    vip, plain = world.add("hotel.property", id=21), world.add("hotel.property", id=22)
    for p in (vip, plain):
        engine.emit("ag_property_opened", entity=p, entity_type="hotel.property")
        engine.handle_event_scheduled(Event(
            name="ag_inspection_due", id=f"insp-{p.id}", entity_type="hotel.property",
            entity_id=str(p.id), at=t0 + timedelta(hours=5), scheduled=True, _entity=p))
    tm.advance(hours=1)
    engine.emit("ag_vip_granted", entity=vip, entity_type="hotel.property")  # after scheduling
    tm.advance(hours=3)
    run_vip = AgentManager.get("ag_property_watch", "id=21")
    run_plain = AgentManager.get("ag_property_watch", "id=22")
    assert run_vip.context().seen == ["vip_inspection"]
    assert run_plain.context().seen == []
    [rec] = [r for r in run_plain.history() if r.handler == "vip_inspection"]
    assert rec.outcome == "skipped" and rec.due == t0 + timedelta(hours=4)
    [rec] = [r for r in run_vip.history() if r.handler == "vip_inspection"]
    assert rec.outcome == "ran" and rec.at >= t0 + timedelta(hours=4)


def test_handler_retry_and_failure_keep_the_agent_alive(time_machine, world):
    tm = time_machine
    p = world.add("hotel.property", id=31)
    engine.emit("ag_property_opened", entity=p, entity_type="hotel.property")
    engine.emit("ag_flaky", entity=p, entity_type="hotel.property")
    engine.emit("ag_broken", entity=p, entity_type="hotel.property")
    tm.advance(seconds=10)  # the retry's backoff, in virtual time
    run = AgentManager.get("ag_property_watch", "id=31")
    assert run.context().seen == ["flaky after 2"]
    outcomes = [(r.handler, r.outcome) for r in run.history()]
    assert outcomes == [("flaky", "ran"), ("broken", "failed")]
    assert "no retry configured" in run.history()[1].error
    assert run.status() == "waiting"


def test_racing_agents_exactly_one_claim_wins(time_machine, world):
    tm = time_machine
    racers = [world.add("ops.racer", id=40 + i, pools=["A"]) for i in range(5)]
    for r in racers:
        engine.emit("ag_racer_started", entity=r, entity_type="ops.racer")
    tm.settle()
    # One event reaches all five (index on pools); each handler tries to claim.
    engine.emit("ag_grab", entity=world.add("ops.job", id=1, pool="A"), entity_type="ops.job")
    tm.settle()
    won = {r.id: AgentManager.get("ag_claim_racer", f"id={r.id}").context().won for r in racers}
    assert sorted(won.values()) == [False, False, False, False, True]
    winner = next(f"agent:ag_claim_racer:id={i}" for i, w in won.items() if w)
    assert claims.holder("ag_job_posted", {"pool": "A"}) == winner


def test_direct_claim_race_one_winner(time_machine):
    async def race() -> list[object]:
        return await asyncio.gather(*(
            claims.ahold("ag_direct_race", {"sender_id": 1}, holder=f"agent:x:{i}")
            for i in range(8)), return_exceptions=True)

    results = asyncio.run(race())
    assert sum(r is None for r in results) == 1
    assert all(type(r).__name__ == "ClaimHeldError" for r in results if r is not None)


def test_claims_outside_a_handler_need_a_holder(time_machine):
    with pytest.raises(Exception, match="outside an agent handler"):
        claims.hold("ag_x", {"a": 1})


_ = routing_agents
