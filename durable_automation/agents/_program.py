"""The agent program: what the interpreter runs when its workflow type is an agent's name.

One workflow per agent instance (id ``agent:<name>:<key>``). It keeps the Context,
takes events as signals into an inbox and handles them one at a time, each handler
an activity (``<agent>.<handler>``). Offset handlers are durable timers kept here:
one ``wait_condition`` with the earliest due time as its timeout, so a timer never
polls and moves or drops when its event is rescheduled or cancelled. A delivery does
not cancel that timer (patch ``da-agent-alarm``, ``_worker/alarm.py``): the
time-skipping test server refused a task cancelling a timer that fired while it ran.

History stays bounded: when Temporal suggests it, the program continues-as-new with
everything in :class:`AgentStart` (Context, inbox, timers, claimed event names,
recent handler records, dedup keys).

Workflow code: deterministic, no user code, no Django. Signals and updates arrive as
plain dicts and are validated here, so a bad payload is logged, never a stuck task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import Priority, RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from .._core.defaults import defaults, format_duration
    from .._core.match import MissingValue, compare, ctx_value
    from .._core.registry import registry
    from .._core.wire import STATE_QUERY, EventWire, RunState
    from .._worker.alarm import Alarm
    from .._worker.program import RunProgram
    from ._definitions import AgentDefinition, AgentHandlerDefinition, index_id
    from ._failure import HOOK_SUFFIX, PATCH, failure_of, hook_activity, hook_label
    from ._flow import handler_flow
    from ._wire import (
        AGENT_CLAIM_SIGNAL,
        AGENT_COMPLETE_UPDATE,
        AGENT_DELIVERY_SIGNAL,
        AGENT_STATE_QUERY,
        AgentHandlerInput,
        AgentHandlerOutcome,
        AgentStart,
        AgentState,
        AgentTimer,
        HandlerRecord,
        Predicate,
        RoutedEvent,
    )

__all__ = ["HISTORY_LIMIT", "AgentProgram", "run_agent"]

# Bounds on what continue-as-new carries: the newest handler records (for the UI,
# queries and tests) and the dedup keys of recent deliveries.
HISTORY_LIMIT = 200
DEDUP_LIMIT = 1000


async def run_agent(args: Sequence[RawValue], program: RunProgram | None = None) -> Any:
    """Run the agent whose name is this workflow's type."""
    start = workflow.payload_converter().from_payload(args[0].payload, AgentStart)
    definition = registry.agents[workflow.info().workflow_type]
    return await _AgentProgram(definition, start, program or RunProgram(definition.name)).run()


class AgentProgram(RunProgram):
    """The router workflow's program for agent instances (see :func:`run_agent`)."""

    async def run(self, args: Sequence[RawValue]) -> Any:
        """Run the agent instance."""
        return await run_agent(args, self)


def _duration(value: timedelta) -> str:
    return format_duration(value)


class _AgentProgram:
    def __init__(self, definition: AgentDefinition, start: AgentStart,
                 program: RunProgram) -> None:
        self.d = definition
        self.program = program  # holds the flow grants the router's signal handler receives
        self.id = workflow.info().workflow_id
        self.key = start.key
        self.context = dict(start.context)
        self.inbox: deque[RoutedEvent] = deque(start.inbox)
        self.timers: dict[str, AgentTimer] = {t.key: t for t in start.timers}
        self.claims: list[str] = list(start.claims)
        self.history: list[HandlerRecord] = list(start.history)
        self.done: dict[str, None] = dict.fromkeys(start.done)
        self.seen: dict[str, None] = dict.fromkeys(start.seen)
        self.generation = start.generation
        self.handled = start.handled
        self.running: str | None = None
        self.completing = False
        self.released = False
        self.alarm = Alarm("da-agent-alarm")
        workflow.set_signal_handler(AGENT_DELIVERY_SIGNAL, self._on_delivery)
        workflow.set_signal_handler(AGENT_CLAIM_SIGNAL, self._on_claim)
        workflow.set_update_handler(AGENT_COMPLETE_UPDATE, self._on_complete)
        workflow.set_query_handler(AGENT_STATE_QUERY, self._state)
        workflow.set_query_handler(STATE_QUERY, self._run_state)

    # ── handlers ────────────────────────────────────────────────────────────────────

    def _on_delivery(self, raw: Any) -> None:
        try:
            self.inbox.append(RoutedEvent.model_validate(raw))
        except ValidationError as exc:
            workflow.logger.warning("Agent %s ignores a malformed delivery: %s", self.id, exc)

    def _on_claim(self, event_name: Any) -> None:
        if isinstance(event_name, str) and event_name not in self.claims:
            self.claims.append(event_name)

    async def _on_complete(self, reason: Any = None) -> dict[str, Any]:
        self.completing = True
        await workflow.wait_condition(lambda: self.released)
        return {"released": list(self.claims)}

    def _state(self) -> AgentState:
        return AgentState(
            agent=self.d.name, key=self.key, context=self.context,
            phase="completing" if self.completing else "running" if self.running else "waiting",
            running=self.running, timers=self._ordered_timers(), claims=list(self.claims),
            history=list(self.history), generation=self.generation, handled=self.handled,
        )

    def _run_state(self) -> RunState:
        timers = self._ordered_timers()
        last = self.history[-1].handler if self.history else None
        return RunState(
            automation=self.d.name, step=self.running or last,
            phase="running" if self.running or self.inbox else "waiting",
            waiting_for="events", deadline=timers[0].due if timers else None,
            context=self.context, executions=self.handled,
        )

    # ── main loop ───────────────────────────────────────────────────────────────────

    async def run(self) -> Any:
        suggested = workflow.info().is_continue_as_new_suggested
        while True:
            if self.completing:
                return await self._finish()
            if self.inbox:
                await self._process(self.inbox.popleft())
                continue
            timers = self._ordered_timers()
            now = workflow.now()
            if timers and timers[0].due <= now:
                await self._fire(timers[0])
                continue
            if suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self.inbox and not self.completing:
                    workflow.continue_as_new(self._snapshot())
                continue
            self._details(timers)
            timeout = (timers[0].due - now) if timers else None
            with contextlib.suppress(TimeoutError):
                await self.alarm.wait_condition(
                    lambda: bool(self.inbox) or self.completing, timeout=timeout,
                    timeout_summary=timers[0].label if timers else None,
                )

    def _snapshot(self) -> AgentStart:
        return AgentStart(
            agent=self.d.name, key=self.key, context=self.context, inbox=list(self.inbox),
            timers=self._ordered_timers(), claims=self.claims,
            history=self.history[-HISTORY_LIMIT:], done=list(self.done)[-DEDUP_LIMIT:],
            seen=list(self.seen)[-DEDUP_LIMIT:], generation=self.generation + 1,
            handled=self.handled,
        )

    def _ordered_timers(self) -> list[AgentTimer]:
        return sorted(self.timers.values(), key=lambda t: t.due)

    def _details(self, timers: list[AgentTimer]) -> None:
        nxt = f"; next: {timers[0].label} at {timers[0].due.isoformat(timespec='seconds')}" \
            if timers else ""
        workflow.set_current_details(
            f"Agent {self.d.name} for {self.key}: {self.handled} handler run(s), "
            f"{len(self.timers)} timer(s), claims: {', '.join(self.claims) or 'none'}{nxt}"
        )

    # ── deliveries ──────────────────────────────────────────────────────────────────

    async def _process(self, delivery: RoutedEvent) -> None:
        event = delivery.event
        if delivery.kind in ("occurred", "spawn"):
            # A repeated delivery of the same occurrence (retried relay) runs nothing twice.
            if _remember(self.seen, f"occurred:{event.id}"):
                return
            for call in delivery.calls:
                spec = self.d.handlers.get(call.handler)
                if spec is None:
                    continue
                if spec.offset is not None:
                    # An occurrence the agent never saw scheduled (immediate events, or
                    # an agent spawned after the scheduling): arm at event time + offset.
                    self._arm(spec, event, call.predicates, replace=False)
                    continue
                await self._run(spec, event, call.predicates, due=None)
                if self.completing:
                    return
        elif delivery.kind in ("scheduled", "rescheduled"):
            for call in delivery.calls:
                spec = self.d.handlers.get(call.handler)
                if spec is not None and spec.offset is not None:
                    self._arm(spec, event, call.predicates, replace=True)
        elif delivery.kind == "cancelled":
            for key in [k for k, t in self.timers.items() if t.event.id == event.id]:
                timer = self.timers.pop(key)
                self._record(timer.handler, timer.event, timer.due, "dropped")

    def _arm(self, spec: AgentHandlerDefinition, event: EventWire,
             predicates: list[Predicate], *, replace: bool) -> None:
        assert spec.offset is not None
        key = f"{spec.name}:{event.id}"
        if key in self.done or (key in self.timers and not replace):
            return
        due = (event.at or workflow.now()) + spec.offset
        label = f"{spec.name}: {event.name} {_duration(spec.offset)}"
        self.timers[key] = AgentTimer(handler=spec.name, event=event, due=due,
                                      predicates=predicates, label=label)

    async def _fire(self, timer: AgentTimer) -> None:
        self.timers.pop(timer.key, None)
        spec = self.d.handlers.get(timer.handler)
        if spec is not None:
            await self._run(spec, timer.event, timer.predicates, due=timer.due)

    def _matches(self, predicates: list[Predicate]) -> bool:
        for p in predicates:
            try:
                expected = ctx_value(self.context, p.ctx_field)
            except MissingValue:
                return False
            if not compare(p.lookup, p.value, expected):
                return False
        return True

    async def _run(self, spec: AgentHandlerDefinition, event: EventWire,
                   predicates: list[Predicate], due: datetime | None) -> None:
        # Events routed through an index, or to a key with further lookups, are checked
        # against the current Context here; a mismatch means "not for this agent".
        if not self._matches(predicates):
            return
        if _remember(self.done, f"{spec.name}:{event.id}"):
            return
        self.running = spec.name
        at = workflow.now()
        workflow.set_current_details(f"Agent {self.d.name} for {self.key}: running {spec.name} "
                                     f"for {event.name}")
        slot = handler_flow(self.d.name, spec.name)
        grant = await slot.acquire(self.program, self.id, self.context, event) if slot else None
        if grant is not None and grant.dropped:
            self._record(spec.name, event, due, "dropped", at=at, error=grant.reason)
            self.running = None
            return
        failed: ActivityError | None = None
        try:
            outcome = await self._execute(
                spec, event, f"{self.d.name}.{spec.name}", f"{spec.name} ({event.name})",
                AgentHandlerInput(agent=self.d.name, handler=spec.name, agent_id=self.id,
                                  context=self.context, event=event, due=due),
                priority=slot.priority(self.context, event) if slot else Priority.default,
            )
        except ActivityError as err:
            failed = err
            failure = failure_of(err.cause, str(err))
            record = self._record(spec.name, event, due, "failed", at=at,
                                  error=failure["message"])
        else:
            self._apply(outcome)
            self._record(spec.name, event, due, "ran" if outcome.ran else "skipped", at=at)
        finally:
            if slot is not None:
                await slot.release()
            self.running = None
            self.handled += 1
        # A call cancelled with the agent is not a failure. patched() only where a hook
        # would run: histories without one never meet the marker.
        if (failed is not None and spec.on_failure is not None
                and not isinstance(failed.cause, CancelledError) and workflow.patched(PATCH)):
            record.on_failure = await self._hook(spec, event, due, failure)

    async def _execute(self, spec: AgentHandlerDefinition, event: EventWire, activity: str,
                       summary: str, data: AgentHandlerInput,
                       priority: Priority = Priority.default) -> AgentHandlerOutcome:
        retry = spec.retry.to_policy() if spec.retry else RetryPolicy(
            maximum_attempts=defaults.infrastructure_attempts)
        return await workflow.execute_activity(
            activity, data, result_type=AgentHandlerOutcome,
            start_to_close_timeout=spec.timeout or defaults.step_timeout,
            heartbeat_timeout=defaults.heartbeat_timeout, retry_policy=retry,
            summary=summary, priority=priority,
        )

    async def _hook(self, spec: AgentHandlerDefinition, event: EventWire,
                    due: datetime | None,
                    failure: dict[str, Any]) -> Literal["ran", "failed"]:
        """Run the handler's on_failure hook (agents/_failure.py); ``ran`` or ``failed``."""
        assert spec.on_failure is not None
        self.running = f"{spec.name}{HOOK_SUFFIX}"
        workflow.set_current_details(f"Agent {self.d.name} for {self.key}: {spec.name} failed; "
                                     f"running on_failure {hook_label(spec.on_failure)}")
        try:
            outcome = await self._execute(
                spec, event, hook_activity(self.d.name, spec.name),
                f"{spec.name} on_failure ({event.name})",
                AgentHandlerInput(agent=self.d.name, handler=spec.name, agent_id=self.id,
                                  context=self.context, event=event, due=due,
                                  failure=failure),
            )
        except ActivityError as err:
            # The agent lives on either way; the hook's own error is logged.
            workflow.logger.warning("on_failure hook of %s.%s failed: %s", self.d.name,
                                    spec.name, failure_of(err.cause, str(err))["message"])
            return "failed"
        else:
            self._apply(outcome)
            return "ran"
        finally:
            self.running = None

    def _apply(self, outcome: AgentHandlerOutcome) -> None:
        self.context = outcome.context
        for name in outcome.claims:
            self._on_claim(name)
        if outcome.complete:
            self.completing = True

    def _record(self, handler: str, event: EventWire, due: datetime | None, outcome: str, *,
                at: datetime | None = None, error: str | None = None) -> HandlerRecord:
        record = HandlerRecord(
            handler=handler, event=event.name, event_id=event.id, at=at or workflow.now(),
            due=due, outcome=outcome, error=error,  # type: ignore[arg-type]
        )
        self.history.append(record)
        if len(self.history) > 2 * HISTORY_LIMIT:
            del self.history[:-HISTORY_LIMIT]
        return record

    # ── the end ─────────────────────────────────────────────────────────────────────

    async def _finish(self) -> Any:
        workflow.set_current_details(f"Agent {self.d.name} for {self.key}: completing")
        # Release claims and leave index buckets before ending, so that no event is
        # held for (or routed to) an agent that is gone once complete() returns.
        signals = [
            workflow.get_external_workflow_handle(f"claims:{name}").signal(
                "release_holder", self.id)
            for name in self.claims
        ]
        for field, values in self.d.index_values(self.context).items():
            signals += [
                workflow.get_external_workflow_handle(index_id(self.d.name, field, v)).signal(
                    "remove", {"keys": [self.id]})
                for v in sorted(values)
            ]
        await asyncio.gather(*signals, return_exceptions=True)
        self.released = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return {"context": self.context, "handled": self.handled, "released": self.claims}


def _remember(keys: dict[str, None], key: str) -> bool:
    """Add ``key``; return whether it was already there (bounded, oldest dropped first)."""
    if key in keys:
        return True
    keys[key] = None
    if len(keys) > 2 * DEDUP_LIMIT:
        for old in list(keys)[:-DEDUP_LIMIT]:
            del keys[old]
    return False
