"""The running half of :class:`~durable_automation.scheduler.Scheduler`: ``start()``,
``stop()``, ``run_task`` and bringing the schedules' pause state in line with the
two switches (see ``_scheduler.py``'s docstring for the lifecycle).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import (
    Schedule,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from .._core.runtime import _running_loop
from ..exceptions import DurableAutomationError, RunFailedError
from ..timers._deferred import CallQueue
from ..timers._local_worker import atask_queue_for
from ..timers._tasks import TaskCall, TaskDefinition, resolve_task
from ..timers._wire import SCHEDULED_TASK_WORKFLOW
from ._status import ScheduledTask, SchedulerStatus, read_facts

__all__ = ["SchedulerRunning"]

logger = logging.getLogger("durable_automation.scheduler._scheduler")
T = TypeVar("T")
# While start() runs it re-reads each task shortly after it was due (a run takes a
# moment to show in the schedule), and at least this often to notice other changes.
_REFRESH_LAG = 0.3
_REFRESH_MAX = 5.0


def _due_time_missed(description: ScheduleDescription, now: datetime,
                         added_at: datetime | None) -> bool:
    """Whether an interval schedule's latest due time passed after its last action (or,
    if it never ran, after it was added) with no action taken for it (it was paused, or
    not created yet)."""
    intervals = description.schedule.spec.intervals
    if not intervals or description.info.running_actions:
        return False
    every, offset = intervals[0].every, intervals[0].offset or timedelta(0)
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    latest_due = now - (now - epoch - offset) % every
    recent = description.info.recent_actions
    since = recent[-1].scheduled_at if recent else (added_at or description.info.created_at)
    return since < latest_due <= now


_READ_BACK_TRIES = 60  # of 50 ms: how long a pause may take to show before we go on


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (not just something it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SchedulerRunning(SchedulerStatus):
    """Starting, stopping and running tasks (the Scheduler provides what is stubbed here)."""

    _calls: CallQueue
    _stop_event: asyncio.Event | None
    _stop_loop: asyncio.AbstractEventLoop | None
    _stops: int
    _added_at: dict[str, datetime]
    logger: logging.Logger

    if TYPE_CHECKING:  # provided by Scheduler
        def _handle(self, task_name: str) -> ScheduleHandle: ...
        def _call(self, sync_name: str, op: Callable[[], Coroutine[Any, Any, Any]]) -> None: ...
        async def _settled(self) -> None: ...

    # ── the two switches ─────────────────────────────────────────────────────────

    def _pause_state(self, enabled: bool) -> tuple[bool, str]:
        """(paused, note) for a task: paused unless the scheduler runs and it is enabled."""
        if not enabled:
            return True, "task disabled (Scheduler.disable_task)"
        if not self.running:
            return True, f"scheduler {self.name!r} is not started (Scheduler.start resumes it)"
        return False, f"scheduler {self.name!r} started"

    async def _apply_pause(self, name: str, enabled: bool, paused_now: bool | None) -> None:
        """Pause or resume the task's schedule as the switches say; on the engine loop."""
        paused, note = self._pause_state(enabled)
        if paused_now is False and not paused:
            return  # running already (a paused one is paused again: its note may change)
        handle = self._handle(name)
        await (handle.pause(note=note) if paused else handle.unpause(note=note))
        await self._read_back(handle, paused)

    async def _update(self, handle: ScheduleHandle, change: Callable[[Schedule], None],
                      enabled: bool | None = None) -> None:
        """Update the schedule by ``change``, with the pause state the switches say.

        The server applies a pending pause before a pending update within one task of
        the schedule's workflow, and an update replaces the whole state: an update sent
        with the state it was read with could undo a pause sent right after it (seen in
        CI under load). So the update carries the state itself. On the engine loop.

        Args:
            enabled: The task's own switch after the change (``None``: as it is now).
        """
        client = engine._ensure().client
        paused = False

        async def update(input: ScheduleUpdateInput) -> ScheduleUpdate:
            nonlocal paused
            switch = enabled
            if switch is None:
                switch = (await read_facts(client, input.description)).enabled
            schedule = input.description.schedule
            change(schedule)
            paused, schedule.state.note = self._pause_state(switch)
            schedule.state.paused = paused
            return ScheduleUpdate(schedule=schedule)

        await handle.update(update)
        await self._read_back(handle, paused)

    @staticmethod
    async def _read_back(handle: ScheduleHandle, paused: bool) -> None:
        """Wait (bounded) until describe() shows the pause state just sent.

        The server applies a change by signalling the schedule's own workflow and
        answers describe() from its last finished task: a status asked for right after
        a call must not show the state before it.
        """
        for _ in range(_READ_BACK_TRIES):
            if (await handle.describe()).schedule.state.paused == paused:
                return
            await asyncio.sleep(0.05)

    async def run_task(self, task: ScheduledTask | str) -> None:
        """Run one task now and wait for it to finish (seed 004's ``run_task``).

        The run is outside the schedule: it happens whether or not the scheduler is
        started or the task enabled, and it does not move the schedule's phase. As in
        the seed, a failing task is logged, not raised; ``last_run`` is updated.

        Args:
            task: The task (an entry of :attr:`tasks`) or its name.
        """
        name = task if isinstance(task, str) else task.name

        async def begin() -> tuple[WorkflowHandle[Any, Any], datetime] | None:
            entry = self.tasks.get(name)
            if entry is None:
                facts = await self._describe(name)
                if facts is None:
                    return None
                entry = self._remember(name, facts)
            if entry.func is not None:
                definition: TaskDefinition | None = resolve_task(entry.func)
                task_name = definition.name if definition else entry.task
            else:  # loaded, and not registered in this process: a configured worker runs it
                definition, task_name = None, entry.task
            started = await engine.anow()
            handle = await engine._ensure().client.start_workflow(
                SCHEDULED_TASK_WORKFLOW,
                TaskCall(task=task_name, origin="schedule", key=name, scheduled_at=started),
                id=f"{self.schedule_id(name)}:run:{uuid.uuid4().hex[:12]}",
                task_queue=await atask_queue_for(definition),
                static_summary=f"{task_name} (Scheduler.run_task)",
            )
            return handle, started

        begun = await self._acall("Scheduler.run_task", begin)
        if begun is None:
            self.logger.error("Scheduler %r has no task %r to run", self.name, name)
            return
        handle, started = begun
        self.logger.info("Running task %r", name)
        try:
            # Awaited outside the call queue: a long run does not hold up other calls.
            await engine._on_loop(handle.result)
        except (WorkflowFailureError, RunFailedError) as err:
            # WorkflowFailureError > ActivityError > the task's own error.
            cause = getattr(getattr(err, "cause", None), "cause", None) or err
            self.logger.error("Error running task %r: %s", name, cause)
        entry = self.tasks.get(name)
        if entry is not None:
            entry.last_run = max(entry.last_run or started, started)
        await self._acall("Scheduler.run_task", lambda: self._refresh(name))

    arun_task = run_task

    # ── running ──────────────────────────────────────────────────────────────────

    async def _apply_all(self, names: list[str] | None = None, *, catch_up: bool = False,
                         ) -> None:
        """Pause or resume every known task (or ``names``) as the switches now say; on
        the engine loop.

        Args:
            catch_up: (``start``) an interval task that came due while the scheduler was
                stopped, and has not run since, runs once now (see :meth:`_catch_up`).
        """
        for name in list(self.tasks) if names is None else names:
            entry = self.tasks.get(name)
            if entry is None:
                continue
            handle = self._handle(name)
            try:
                description = await handle.describe() if catch_up else None
                paused_before = description.schedule.state.paused if description else None
                await self._apply_pause(name, entry.enabled, paused_before)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                # Not created yet (a sync add_task made while this was queued shows in
                # ``tasks`` at once; its own call follows) or deleted elsewhere (the next
                # status call drops it): nothing to pause or resume either way.
                continue
            if paused_before and not self._pause_state(entry.enabled)[0]:
                await self._catch_up(name)
            await self._refresh(name, forget=False)

    async def _catch_up(self, name: str) -> None:
        """Run the task once now if its latest due time passed while it could not run
        (paused, or not created yet), as seed 004's loop runs a task whose ``next_run``
        passed before it started. The phase is unchanged. On the engine loop."""
        handle = self._handle(name)
        description = await handle.describe()
        if not description.schedule.state.paused and _due_time_missed(
                description, await engine.anow(), self._added_at.get(name)):
            await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)

    def start(self, *, pause_on_cancel: bool = True) -> Coroutine[Any, Any, None]:
        """Run the scheduler until :meth:`stop` (seed 004's ``await scheduler.start()``).

        Resumes the schedules of this scheduler's enabled tasks (the ones added here or
        found by :meth:`load`), then keeps :attr:`tasks` current (``last_run`` and
        ``next_run`` are re-read shortly after each task was due) until :meth:`stop`.
        Runs happen in Temporal, on whichever worker serves the task (this process's
        own worker for lambdas and closures).

        If this coroutine is cancelled instead (Ctrl-C under ``asyncio.run``, the task
        cancelled), it pauses the schedules as :meth:`stop` does, then re-raises.

        Args:
            pause_on_cancel: ``False`` leaves the schedules running when this coroutine
                is cancelled: for jobs the application owns, installed by a worker
                that may exit while others go on serving them.

        Calls count in the order they are made: ``task = create_task(s.start());
        s.stop()`` stops it, even though the coroutine had not begun when ``stop()`` ran.
        """
        return self._run(self._stops, pause_on_cancel)

    async def _run(self, stops_before: int, pause_on_cancel: bool) -> None:
        if self.running or self._stops != stops_before:
            return  # already running, or stop() was called after this start()
        self.running = True
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._stop_loop = loop
        stop_event = self._stop_event
        try:
            if self.tasks:
                await self._acall("Scheduler.start",
                                  lambda: self._apply_all(catch_up=True))
            self.logger.info("Scheduler %r started", self.name)
            while not stop_event.is_set():
                try:
                    await asyncio.wait_for(stop_event.wait(), self._refresh_in())
                except TimeoutError:
                    await self._refresh_due()
            await self._settled()
        except asyncio.CancelledError:
            if pause_on_cancel and self._stop_event is stop_event and self.running \
                    and _cancelling():
                await self._pause_on_cancel()
            raise
        finally:
            if self._stop_event is stop_event:
                self.running = False
            self.logger.info("Scheduler %r stopped", self.name)

    async def _pause_on_cancel(self) -> None:
        """``start()`` was cancelled (Ctrl-C under ``asyncio.run``, the task cancelled):
        pause the schedules as :meth:`stop` does. Left resumed, they would go on firing
        with nobody to stop them, and runs of this program's own callables would pile
        up waiting for its worker. Bounded: a server that is gone must not hold up the
        program's exit."""
        self._signal_stop()
        if not self.tasks:
            return
        try:
            await asyncio.wait_for(self._acall("Scheduler.stop", self._apply_all), 10)
        except Exception as exc:  # noqa: BLE001 - ending anyway; say what stays resumed
            self.logger.warning("Scheduler %r: pausing its tasks after start() was "
                                "cancelled failed: %s", self.name, exc)

    def _refresh_in(self) -> float:
        now = datetime.now().astimezone()
        waits = [(entry.next_run - now).total_seconds() + _REFRESH_LAG
                 for entry in self.tasks.values() if entry.next_run is not None]
        # At least _REFRESH_LAG: a due time the server has not moved past yet (or a
        # server that is down) must not turn this into a busy loop.
        return max(_REFRESH_LAG, min([_REFRESH_MAX, *waits]))

    async def _refresh_due(self) -> None:
        now = datetime.now().astimezone()
        for name, entry in list(self.tasks.items()):
            # Tasks with no next run change only through calls, which refresh them.
            if entry.next_run is not None and entry.next_run <= now:
                try:
                    # Not through the call queue, which would hand this background
                    # read an earlier call's error meant for the user's next call.
                    await engine._on_loop(
                        lambda name=name: self._refresh(name, forget=False, background=True))
                except (RPCError, DurableAutomationError) as exc:  # a failed read must not end it
                    self.logger.warning("Scheduler %r: reading task %r failed: %s",
                                        self.name, name, exc)
                except asyncio.CancelledError:
                    if _cancelling():
                        raise  # start() itself is cancelled
                    # The read was, not start(): the loop it ran on went away (a worker
                    # that had bound the engine stopped). Read again next time.
                    self.logger.warning("Scheduler %r: reading task %r was cancelled",
                                        self.name, name)

    async def astop(self) -> None:
        """Stop the scheduler: pause its tasks' schedules (phase kept) and end :meth:`start`."""
        self._signal_stop()
        if self.tasks:  # nothing to pause: do not even connect
            await self._acall("Scheduler.stop", self._apply_all)

    def stop(self) -> None:
        """Sync twin of :meth:`astop` (seed 004's ``stop()``).

        Inside a running event loop it returns at once: the pause takes effect in
        call order, and the awaited :meth:`start` returns once it has (raising its
        error, if it failed).
        """
        self._signal_stop()
        # An earlier call's error must not keep the scheduler from pausing: queue the
        # pause first, then report the error.
        earlier = self._calls.take_errors()
        if self.tasks:  # nothing to pause: do not even connect
            self._call("Scheduler.stop", self._apply_all)
        if len(earlier) == 1:
            raise earlier[0]
        if earlier:
            raise BaseExceptionGroup(f"{len(earlier)} earlier calls on scheduler "
                                     f"{self.name!r} failed", earlier)

    def _signal_stop(self) -> None:
        self._stops += 1
        self.running = False
        event, loop = self._stop_event, self._stop_loop
        if event is not None and loop is not None and not loop.is_closed():
            if _running_loop() is loop:
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)

    def is_running(self) -> bool:
        """Whether the scheduler is started (:meth:`start` in progress, not stopped)."""
        return self.running
