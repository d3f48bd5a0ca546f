"""The timer workflows: repeating timers, delayed tasks and scheduled-task actions.

``durable_automation.timer`` (id ``timer:<name>``) is one loop for every repeating
or one-shot timer: it sleeps on a Temporal timer until the next tick, runs the tick
(the task through ``durable_automation.run_task``, or a TimerManager event through
``durable_automation.emit_timer_event``), then works out the next tick:

* FIXED: ``anchor + N * interval``; after a tick that overran, the next N is the
  first grid point not in the past, so missed ticks are skipped, never burst;
* DELAY: ``completion + interval``;
* cron: the next fire time after the tick (``durable_automation.cron_next``, an
  activity, so time-zone data is read outside the sandbox and recorded in history);
* one-shot: once.

One tick runs at a time (the loop awaits it), so callbacks never overlap. The
``stop`` update marks the timer stopped and returns only once a tick in progress has
finished; the loop checks the mark before every tick, so after ``stop`` returns no
tick begins. All progress lives in workflow state (and is carried across
continue-as-new), so a timer keeps its phase across worker and server restarts.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from .._core.defaults import defaults, format_duration
    from .._core.wire import STATE_QUERY, RunState
    from ._tasks import RUN_TASK_ACTIVITY, TaskCall, _tasks
    from ._wire import (
        CRON_NEXT_ACTIVITY,
        DELAYED_WORKFLOW,
        EMIT_ACTIVITY,
        SCHEDULED_TASK_WORKFLOW,
        TIMER_WORKFLOW,
        CronNextRequest,
        DelayedSpec,
        EmitRequest,
        TimerSpec,
        TimerStatus,
    )

__all__ = ["DelayedTaskWorkflow", "ScheduledTaskWorkflow", "TimerWorkflow", "run_task_options"]

# Ticks per run before continue-as-new (Temporal also suggests it as history grows).
TICKS_PER_RUN = 500
_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def run_task_options(call: TaskCall) -> dict[str, Any]:
    """Activity options for running ``call``: the task's Retry, the step timeouts."""
    definition = _tasks.get(call.task)
    retry = definition.retry if definition is not None else None
    return {
        "start_to_close_timeout": defaults.step_timeout,
        "heartbeat_timeout": defaults.heartbeat_timeout,
        # Without a Retry, the activity marks user errors non-retryable; these attempts
        # are for workers that die mid-task.
        "retry_policy": retry.to_policy() if retry is not None
        else RetryPolicy(maximum_attempts=defaults.infrastructure_attempts),
        "summary": call.task,
    }


def _ceil_ticks(elapsed: timedelta, interval: timedelta) -> int:
    step = interval // timedelta(microseconds=1)
    micros = elapsed // timedelta(microseconds=1)
    return -(-micros // step)


@workflow.defn(name=TIMER_WORKFLOW)
class TimerWorkflow:
    """A repeating (or one-shot) timer; see the module docstring."""

    def __init__(self) -> None:
        self._spec: TimerSpec | None = None
        self._stopped = False
        self._busy = False
        self._tick = 0
        self._fired = 0
        self._failures = 0
        self._next: datetime | None = None
        self._last: datetime | None = None
        self._anchor: datetime | None = None

    @workflow.run
    async def run(self, spec: TimerSpec) -> TimerStatus:
        self._spec = spec
        self._anchor = spec.anchor or workflow.now()
        self._tick, self._fired, self._failures = spec.tick, spec.fired, spec.failures
        self._last, self._next = spec.last_fired_at, spec.next_at
        ticks_this_run = 0
        while not self._stopped:
            target = await self._target()
            if target is None:
                break  # a one-shot that has fired
            self._next = target
            wait = target - workflow.now()
            if wait > timedelta(0):
                workflow.set_current_details(f"Next tick {self._tick} at {target.isoformat()}")
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._stopped, timeout=wait,
                        timeout_summary=f"tick {self._tick} ({_describe(spec)})",
                    )
            if self._stopped:
                break
            await self._fire(target)
            await self._advance(target)
            ticks_this_run += 1
            if ticks_this_run >= TICKS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._stopped:
                    workflow.continue_as_new(self._carry())
        self._next = None
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status()

    async def _target(self) -> datetime | None:
        spec = self._spec
        assert spec is not None and self._anchor is not None
        if spec.kind == "fixed":
            assert spec.interval is not None
            return self._anchor + self._tick * spec.interval
        if spec.kind == "delay":
            return self._next or self._anchor
        if spec.kind == "one_shot":
            return spec.fire_at if self._fired == 0 else None
        if self._next is None:  # cron, first tick
            self._next = await _cron_next(spec, workflow.now())
        return self._next

    async def _fire(self, target: datetime) -> None:
        spec = self._spec
        assert spec is not None
        self._busy = True
        try:
            if spec.call is not None:
                call = spec.call.model_copy(update={
                    "origin": "timer", "key": spec.name, "tick": self._tick, "scheduled_at": target,
                })
                await workflow.execute_activity(RUN_TASK_ACTIVITY, call, **run_task_options(call))
            else:
                assert spec.event is not None
                request = EmitRequest(
                    timer_id=spec.name, event=spec.event, type=spec.timer_type or spec.kind,
                    fired_at=workflow.now(), tick=self._tick, due=target,
                    interval_seconds=spec.interval.total_seconds()
                    if spec.timer_type == "interval" and spec.interval else None,
                    scheduled_at=target if spec.timer_type != "interval" else None,
                )
                await workflow.execute_activity(
                    EMIT_ACTIVITY, request, start_to_close_timeout=timedelta(minutes=1),
                    summary=f"emit {spec.event}",
                )
        except ActivityError as err:
            # A failing tick is recorded; the timer keeps its schedule (seed 004's rule).
            self._failures += 1
            workflow.logger.warning("Timer %s tick %d failed: %s", spec.name, self._tick,
                                    err.cause or err)
        finally:
            self._busy = False
            self._fired += 1
            self._last = workflow.now()

    async def _advance(self, target: datetime) -> None:
        spec = self._spec
        assert spec is not None and self._anchor is not None
        now = workflow.now()
        if spec.kind == "fixed":
            assert spec.interval is not None
            self._tick = max(self._tick + 1, _ceil_ticks(now - self._anchor, spec.interval))
        elif spec.kind == "delay":
            assert spec.interval is not None
            self._tick += 1
            self._next = now + spec.interval
        elif spec.kind == "cron":
            self._tick += 1
            self._next = await _cron_next(spec, max(now, target))
        else:
            self._tick += 1

    def _carry(self) -> TimerSpec:
        assert self._spec is not None
        return self._spec.model_copy(update={
            "anchor": self._anchor, "tick": self._tick, "next_at": self._next,
            "fired": self._fired, "failures": self._failures, "last_fired_at": self._last,
        })

    def _status(self) -> TimerStatus:
        spec = self._spec
        assert spec is not None
        return TimerStatus(
            name=spec.name, kind=spec.kind, running=not self._stopped and self._next is not None,
            fired=self._fired, failures=self._failures,
            next_fire_at=None if self._stopped else self._next, last_fired_at=self._last,
            anchor=self._anchor, config=spec.config, event=spec.event,
        )

    @workflow.update(name="stop")
    async def stop(self) -> TimerStatus:
        """Stop ticking; returns once a tick in progress has finished."""
        # An update can be handled before ``run`` started (a stop sent right after the
        # start): wait for the spec, then stop before the first tick. No command.
        await workflow.wait_condition(lambda: self._spec is not None)
        self._stopped = True
        await workflow.wait_condition(lambda: not self._busy)
        return self._status()

    @workflow.query(name="status")
    def status(self) -> TimerStatus:
        """Fired count, next fire time, and whether it is still running."""
        return self._status()

    @workflow.query(name=STATE_QUERY)
    def _state(self) -> RunState:
        # Lets time_machine tell a tick in progress from a timer that sleeps.
        return RunState(automation=TIMER_WORKFLOW, step=None,
                        phase="running" if self._busy else "sleeping", deadline=self._next)


def _describe(spec: TimerSpec) -> str:
    if spec.kind in ("fixed", "delay") and spec.interval is not None:
        return f"every {format_duration(spec.interval)}, {spec.kind}"
    if spec.kind == "cron":
        return f"cron {spec.cron}" + (f" {spec.timezone}" if spec.timezone else "")
    return "one-shot"


async def _cron_next(spec: TimerSpec, after: datetime) -> datetime:
    assert spec.cron is not None
    result: datetime = await workflow.execute_activity(
        CRON_NEXT_ACTIVITY, CronNextRequest(expression=spec.cron, timezone=spec.timezone,
                                            after=after),
        result_type=datetime, start_to_close_timeout=timedelta(seconds=30),
        summary=f"next fire of {spec.cron}",
    )
    return result


@workflow.defn(name=DELAYED_WORKFLOW)
class DelayedTaskWorkflow:
    """Runs one task once its delay is over (``schedule_task``); cancel it to call it off."""

    def __init__(self) -> None:
        self._running = False
        self._due: datetime | None = None

    @workflow.run
    async def run(self, spec: DelayedSpec) -> Any:
        self._due = workflow.info().start_time + spec.delay
        wait = self._due - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait, summary=f"{spec.call.task} in {format_duration(spec.delay)}")
        self._running = True
        call = spec.call.model_copy(update={"scheduled_at": self._due})
        return await workflow.execute_activity(RUN_TASK_ACTIVITY, call, **run_task_options(call))

    @workflow.query(name=STATE_QUERY)
    def _state(self) -> RunState:
        return RunState(automation=DELAYED_WORKFLOW, step=None,
                        phase="running" if self._running else "sleeping", deadline=self._due)


@workflow.defn(name=SCHEDULED_TASK_WORKFLOW)
class ScheduledTaskWorkflow:
    """What a Scheduler's Temporal Schedule starts: one run of its task."""

    @workflow.run
    async def run(self, call: TaskCall) -> Any:
        scheduled = workflow.info().typed_search_attributes.get(_SCHEDULED_START)
        call = call.model_copy(update={"scheduled_at": scheduled or workflow.now()})
        return await workflow.execute_activity(RUN_TASK_ACTIVITY, call, **run_task_options(call))
