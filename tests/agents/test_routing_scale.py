"""Routing an event to its agent touches that agent only, however many agents are live.

This is the structural half of the routing-scale property; the timing half (an
event's routing cost with 100 against 10,000 live agents, aim: ratio < 1.5) is
``benchmarks/agent_routing.py``, run by hand (speed targets belong in benchmarks, not
in timed tests). Here, with a few dozen live agents on the time-skipping server, one
event is routed through a ``direct`` route (agent id computed from the entity) and
one through an ``index`` route (one bucket named by the entity's value), and two
records show what routing touched:

* the server's histories: the target agent gained the event's signal, and no other
  agent nor any other index bucket gained a signal or an update;
* every request the engine's client sent while routing (a client interceptor on the
  real client: nothing is mocked): none names another agent or another bucket, and
  none lists or counts workflows.

A router that fanned an event out to every agent (letting each re-check the match)
fails the first; one that scanned the agents or buckets to find the target (queries
or a visibility listing, which leave no trace in histories) fails the second. Either
costs work in proportion to the live agents, which is what the benchmark times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, Interceptor, OutboundInterceptor

from durable_automation import engine
from durable_automation.agents import AgentManager, agent, handler
from durable_automation.agents._definitions import agent_id, index_id
from durable_automation.testing import TimeMachine

NAME = "rs_route_probe"
LIVE = 30  # enough that "all of them" and "one of them" cannot be confused
TARGET = 17


@agent(NAME, spawn_on="rs_opened", match={"id": "{{ ctx.n }}"})
class RouteProbe:
    class Context(BaseModel):
        n: int
        zone: str  # a non-key field: events matching on it route through its index
        seen: list[str] = []

    @classmethod
    def create_context(cls, event):
        n = event.data["id"]
        return cls.Context(n=n, zone=f"z{n}")

    # No match of its own: the agent's key (id) routes it, a direct route.
    @handler("rs_ping")
    def ping(self, ctx, event):
        ctx.seen.append(f"ping:{event.data['id']}")

    # Matches a Context field that is not the key: an index route (bucket zone=<value>).
    @handler("rs_zone_alert", match={"zone": "{{ ctx.zone }}"})
    def alert(self, ctx, event):
        ctx.seen.append(f"alert:{event.data['zone']}")


# ── what the engine's client asked the server ────────────────────────────────────────


class _Recorder(Interceptor):
    """Records ``(call, workflow id)`` for every request of the client it intercepts."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordingOutbound(next, self.calls)


class _RecordingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, calls: list[tuple[str, str]]) -> None:
        super().__init__(next)
        self._calls = calls


def _workflow_id(request: Any) -> str:
    start = getattr(request, "start_workflow_input", None)  # update-with-start
    return str(getattr(request, "id", None) or getattr(start, "id", None) or "*")


def _recording(method: str) -> Any:
    def call(self: _RecordingOutbound, request: Any) -> Any:
        self._calls.append((method, _workflow_id(request)))
        return getattr(self.next, method)(request)  # a coroutine or an iterator: as is
    return call


# Every client call there is (signal, query, update, start, describe, list, count, ...),
# so that no way of reaching the server goes unrecorded.
for _method in [m for m in vars(OutboundInterceptor) if not m.startswith("_")]:
    setattr(_RecordingOutbound, _method, _recording(_method))


@contextmanager
def _recorded(tm: TimeMachine) -> Iterator[list[tuple[str, str]]]:
    """The engine's client, with a recorder, for the ``with`` block (same connection)."""
    assert tm.env is not None
    recorder = _Recorder()
    config = tm.env.client.config()  # a copy: the service connection is shared
    config["interceptors"] = [*config["interceptors"], recorder]
    client = Client(**config)
    binding = engine._ensure()
    # The same binding with the recording client: time_machine's tracked runs, clock
    # and loop stay shared, so settle() still waits on what the event starts.
    engine.restore(dataclasses.replace(binding, client=client))
    try:
        yield recorder.calls
    finally:
        engine.restore(binding)


# ── what the server's histories say ──────────────────────────────────────────────────

_INPUTS = ("workflow_execution_signaled_event_attributes",
           "workflow_execution_update_accepted_event_attributes")


def _inputs(tm: TimeMachine, workflow_ids: list[str]) -> dict[str, int]:
    """Signals and accepted updates in each workflow's history: what reached it."""
    assert tm.env is not None
    client = tm.env.client

    async def count(wid: str) -> int:
        history = await client.get_workflow_handle(wid).fetch_history()
        return sum(1 for e in history.events if e.WhichOneof("attributes") in _INPUTS)

    return {wid: tm._run(count(wid)) for wid in workflow_ids}


def _ours(calls: list[tuple[str, str]]) -> set[str]:
    """Workflow ids of this module's agent (its agents, buckets, held lists) that were
    touched; and no listing or counting of workflows at all."""
    assert not [c for c in calls if c[0] in ("list_workflows", "count_workflows")], calls
    # The whole emit is a handful of requests (claims book, bucket, agent, event hub);
    # anything done per live agent, under whatever id, would be at least LIVE of them.
    assert len(calls) < LIVE // 2, calls
    return {wid for _, wid in calls if f":{NAME}:" in wid}


def test_an_event_reaches_only_its_agent_and_its_index_bucket(time_machine):
    tm = time_machine
    for n in range(LIVE):
        engine.emit("rs_opened", data={"id": n})
    tm.settle()
    agents = [agent_id(NAME, f"id={n}") for n in range(LIVE)]
    buckets = [index_id(NAME, "zone", f"z{n}") for n in range(LIVE)]
    target, bucket = agents[TARGET], buckets[TARGET]
    before = _inputs(tm, agents + buckets)
    # Each agent got its spawn signal, each bucket its one put: the baseline.
    assert set(before.values()) == {1}, before

    with _recorded(tm) as calls:
        engine.emit("rs_ping", data={"id": TARGET})
    assert _ours(calls) == {target}, calls  # direct: computed id, one signal
    with _recorded(tm) as calls:
        engine.emit("rs_zone_alert", data={"zone": f"z{TARGET}"})
    assert _ours(calls) == {bucket, target}, calls  # index: one bucket read, its member
    tm.settle()

    after = _inputs(tm, agents + buckets)
    gained = {wid: after[wid] - before[wid] for wid in after if after[wid] != before[wid]}
    assert gained == {target: 2}, gained  # the two events, on the target alone
    seen = {n: AgentManager.get(NAME, f"id={n}").context().seen for n in (TARGET, 0, LIVE - 1)}
    assert seen == {TARGET: [f"ping:{TARGET}", f"alert:z{TARGET}"], 0: [], LIVE - 1: []}
