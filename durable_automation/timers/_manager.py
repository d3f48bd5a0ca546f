"""``TimerConfig`` and ``TimerManager``: timers that emit events (seed 003), on Temporal.

Each timer is a ``durable_automation.timer`` workflow with id
``timer-manager:<manager name>:<timer_id>``;
each firing emits the event (default name: the timer id) with seed 003's payload::

    {"type": "interval", "fired_at": "...", "interval_seconds": 10.0, ...}
    {"type": "cron", "fired_at": "...", "scheduled_at": "...", ...}

so ``@on_event("<event>")`` automations receive it in ``event.data``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    field_validator,
    model_validator,
)
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from .._client.engine import engine
from .._core.settings import get_settings
from ..exceptions import InvalidScheduleError
from ._cron import next_fire_times, parse_cron, resolve_zone
from ._deferred import DEFERRED, CallQueue
from ._local_worker import atask_queue_for
from ._timer import astop_timer_workflow_ex
from ._wire import TIMER_WORKFLOW, TimerSpec, TimerStatus

__all__ = ["CronConfig", "IntervalConfig", "OneShotConfig", "TimerConfig", "TimerManager"]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntervalConfig(_Config):
    """``{"type": "interval", "seconds": 10, "minutes": 0, "hours": 0}``: every so long."""

    type: Literal["interval"] = "interval"
    seconds: float = 0
    minutes: float = 0
    hours: float = 0

    @model_validator(mode="after")
    def _positive(self) -> IntervalConfig:
        if self.every <= timedelta(0):
            raise ValueError("an interval timer needs a positive seconds/minutes/hours total")
        return self

    @property
    def every(self) -> timedelta:
        """The interval as a timedelta."""
        return timedelta(seconds=self.seconds, minutes=self.minutes, hours=self.hours)


class CronConfig(_Config):
    """``{"type": "cron", "expression": "0 0 * * * *", "timezone": "Europe/Berlin"}``.

    5 fields, or 6 with leading seconds; ``timezone`` is an IANA name (default UTC).
    """

    type: Literal["cron"] = "cron"
    expression: str
    timezone: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> CronConfig:
        parse_cron(self.expression)
        resolve_zone(self.timezone)
        return self


class OneShotConfig(_Config):
    """``{"type": "one_shot", "fire_at": "2026-01-20T15:00:00Z"}`` (naive times are UTC)."""

    type: Literal["one_shot"] = "one_shot"
    fire_at: datetime

    @field_validator("fire_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_AnyConfig = Annotated[IntervalConfig | CronConfig | OneShotConfig, Field(discriminator="type")]


class TimerConfig(RootModel[_AnyConfig]):
    """A timer's configuration: seed 003's JSON forms (interval, cron, one_shot).

    ``TimerConfig.model_validate({"type": "cron", "expression": "0 0 * * * *"})``,
    ``TimerConfig.interval(seconds=10)``, ``TimerConfig.cron("0 9 * * 1-5", "Europe/Berlin")``,
    ``TimerConfig.one_shot(datetime(...))``; ``.model_dump()`` gives the JSON form back.
    """

    @classmethod
    def parse(cls, data: TimerConfig | dict[str, Any] | str) -> TimerConfig:
        """From a config, a dict or a JSON string.

        Raises:
            InvalidScheduleError: The data is not a valid timer config (says why).
        """
        if isinstance(data, TimerConfig):
            return data
        try:
            if isinstance(data, str):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except InvalidScheduleError:
            raise
        except ValidationError as exc:
            cause = exc.errors()[0].get("ctx", {}).get("error")
            if isinstance(cause, InvalidScheduleError):
                raise cause from None
            raise InvalidScheduleError(f"Invalid timer config {data!r}: {exc}") from None

    @classmethod
    def interval(cls, seconds: float = 0, minutes: float = 0, hours: float = 0) -> TimerConfig:
        """An interval timer."""
        return cls.parse({"type": "interval", "seconds": seconds, "minutes": minutes,
                          "hours": hours})

    @classmethod
    def cron(cls, expression: str, timezone: str | None = None) -> TimerConfig:
        """A cron timer (5 fields, or 6 with leading seconds), in ``timezone`` (IANA)."""
        return cls.parse({"type": "cron", "expression": expression, "timezone": timezone})

    @classmethod
    def one_shot(cls, fire_at: datetime) -> TimerConfig:
        """A timer that fires once at ``fire_at``."""
        return cls.parse({"type": "one_shot", "fire_at": fire_at})

    def next_fire_times(self, after: datetime, count: int = 5) -> list[datetime]:
        """The next fire times after ``after`` (cron: with the DST policy of ``_cron``)."""
        config = self.root
        if isinstance(config, CronConfig):
            return next_fire_times(config.expression, config.timezone, after, count)
        if isinstance(config, OneShotConfig):
            return [config.fire_at] if config.fire_at > after else []
        return [after + config.every * (i + 1) for i in range(count)]


class TimerManager:
    """Starts and stops event-emitting timers (seed 003's TimerManager, durable).

    Timers live in Temporal, not in this object: a timer keeps firing while no
    process holds a manager, and ``start_timer`` with the id of a running timer
    attaches to it (keeping its phase), which is how a restarted service picks its
    timers back up.

    A manager has a *name*, its scope: its timers are the workflows
    ``timer-manager:<name>:<timer_id>``. ``timer_count()`` and ``stop_all()`` see
    every running timer of that scope on the server, whichever process or manager
    object started it, and never a timer of another scope. The default name is the
    configured ``TASK_QUEUE``, which tells apps sharing a namespace apart; give
    managers of one app distinct names to keep their timers apart.

    ``start_timer``, ``stop_timer`` and ``stop_all`` also work when called
    synchronously inside a running event loop: they are queued and return at once
    (``stop_timer``/``stop_all`` then return ``None``), take effect in call order,
    and a queued call's error surfaces on the next call or :meth:`aflush`.

    Args:
        name: The manager's scope (no ``:``). Default: the ``TASK_QUEUE`` setting.

    Raises:
        InvalidScheduleError: The name is empty or contains ``:``.
    """

    def __init__(self, name: str | None = None) -> None:
        name = name if name is not None else get_settings().task_queue
        if not name or ":" in name:
            raise InvalidScheduleError(
                f"TimerManager name {name!r} must be non-empty and contain no ':'")
        self.name = name
        self._prefix = f"timer-manager:{name}:"
        self._ids: dict[str, None] = {}
        # Stopped through this object: visibility may list them as running for a moment.
        self._stopped: set[str] = set()
        self._calls = CallQueue(f"TimerManager {name!r}")

    def __repr__(self) -> str:
        return f"TimerManager(name={self.name!r})"

    def workflow_id(self, timer_id: str) -> str:
        """The workflow id of this manager's timer ``timer_id``."""
        return f"{self._prefix}{timer_id}"

    async def _start_timer(
        self, timer_id: str, parsed: IntervalConfig | CronConfig | OneShotConfig,
        event_name: str, fire_if_past: bool,
    ) -> str:
        now = await engine.anow()
        base: dict[str, Any] = {"name": timer_id, "event": event_name, "timer_type": parsed.type,
                                "config": parsed.model_dump(mode="json")}
        if isinstance(parsed, IntervalConfig):
            spec = TimerSpec(kind="fixed", interval=parsed.every, **base)
            what = f"every {parsed.every}"
        elif isinstance(parsed, CronConfig):
            spec = TimerSpec(kind="cron", cron=parsed.expression, timezone=parsed.timezone, **base)
            zone = f" ({parsed.timezone})" if parsed.timezone else ""
            what = f"cron {parsed.expression}{zone}"
        else:
            fire_at = parsed.fire_at
            if fire_at <= now:
                if not fire_if_past:
                    raise InvalidScheduleError(
                        f"One-shot timer {timer_id!r} is set for {fire_at.isoformat()}, which "
                        f"is in the past (now {now.isoformat()}); pick a later time or pass "
                        "fire_if_past=True to fire it at once"
                    )
                fire_at = now
            spec = TimerSpec(kind="one_shot", fire_at=fire_at, **base)
            what = f"once at {fire_at.isoformat()}"
        workflow_id = self.workflow_id(timer_id)
        task_queue = await atask_queue_for(None)
        await engine._ensure().client.start_workflow(
            TIMER_WORKFLOW, spec, id=workflow_id, task_queue=task_queue,
            static_summary=f"Timer {timer_id} ({self.name}): emits {event_name} {what}",
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            memo={"timer_manager": self.name, "timer_id": timer_id},
        )
        engine._track(workflow_id)
        self._ids[timer_id] = None
        self._stopped.discard(timer_id)
        return workflow_id

    async def astart_timer(
        self,
        timer_id: str,
        config: TimerConfig | dict[str, Any] | str,
        *,
        event: str | None = None,
        fire_if_past: bool = False,
    ) -> str:
        """Start (or attach to) the timer ``timer_id``; return its workflow id.

        Args:
            timer_id: Unique id within this manager.
            config: A :class:`TimerConfig`, or its dict/JSON form.
            event: Event emitted on each firing (default: ``timer_id``).
            fire_if_past: A one-shot time in the past fires at once instead of raising.

        Raises:
            InvalidScheduleError: Bad config, or a one-shot in the past.
        """
        parsed = TimerConfig.parse(config).root
        return await self._calls.acall(
            lambda: self._start_timer(timer_id, parsed, event or timer_id, fire_if_past),
            name="TimerManager.start_timer")

    def start_timer(
        self,
        timer_id: str,
        config: TimerConfig | dict[str, Any] | str,
        *,
        event: str | None = None,
        fire_if_past: bool = False,
    ) -> str:
        """Sync twin of :meth:`astart_timer` (queued inside a running loop; the id is
        returned either way, and a bad config raises at once)."""
        parsed = TimerConfig.parse(config).root
        self._calls.call(
            lambda: self._start_timer(timer_id, parsed, event or timer_id, fire_if_past),
            name="TimerManager.start_timer")
        return self.workflow_id(timer_id)

    async def _stop_timer(self, timer_id: str) -> bool:
        self._ids.pop(timer_id, None)
        self._stopped.add(timer_id)
        stopped, _ = await astop_timer_workflow_ex(self.workflow_id(timer_id))
        return stopped

    async def astop_timer(self, timer_id: str) -> bool:
        """Stop a timer (a firing in progress finishes); ``False`` if it was not running."""
        return await self._calls.acall(lambda: self._stop_timer(timer_id),
                                       name="TimerManager.stop_timer")

    def stop_timer(self, timer_id: str) -> bool | None:
        """Sync twin of :meth:`astop_timer` (``None`` when queued inside a running loop)."""
        result = self._calls.call(lambda: self._stop_timer(timer_id),
                                  name="TimerManager.stop_timer", run_anyway=True)
        return None if result is DEFERRED else result  # type: ignore[return-value]

    async def _running_ids(self) -> list[str]:
        """Timer ids of this scope running on the server (visibility), plus this object's."""
        binding = engine._ensure()
        found: dict[str, None] = {}
        if binding.clock is None:  # the time-skipping server has no visibility API
            query = (f"WorkflowType = '{TIMER_WORKFLOW}' AND ExecutionStatus = 'Running' "
                     f"AND WorkflowId STARTS_WITH '{_quote(self._prefix)}'")
            try:
                async for execution in binding.client.list_workflows(query):
                    if execution.id.startswith(self._prefix):
                        found[execution.id[len(self._prefix):]] = None
            except RPCError as err:
                if err.status not in (RPCStatusCode.UNIMPLEMENTED,
                                      RPCStatusCode.INVALID_ARGUMENT):
                    raise
        # Visibility lags a little behind starts and stops: check this object's own
        # timers directly.
        for timer_id in [*self._ids, *(t for t in self._stopped if t in found)]:
            if timer_id in found and timer_id not in self._stopped:
                continue
            found.pop(timer_id, None)
            try:
                description = await binding.client.get_workflow_handle(
                    self.workflow_id(timer_id)).describe()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                self._ids.pop(timer_id, None)
                continue
            if description.status == WorkflowExecutionStatus.RUNNING:
                found[timer_id] = None
            else:
                self._ids.pop(timer_id, None)
        return sorted(found)

    async def _stop_all(self) -> int:
        # Side by side: each stop may wait for a firing in progress (or for a worker).
        results = await asyncio.gather(*(self._stop_timer(timer_id)
                                         for timer_id in await self._running_ids()))
        return sum(results)

    async def astop_all(self) -> int:
        """Stop every running timer of this manager's scope; return how many were running."""
        return await self._calls.acall(self._stop_all, name="TimerManager.stop_all")

    def stop_all(self) -> int | None:
        """Sync twin of :meth:`astop_all` (``None`` when queued inside a running loop)."""
        result = self._calls.call(self._stop_all, name="TimerManager.stop_all",
                                  run_anyway=True)
        return None if result is DEFERRED else result  # type: ignore[return-value]

    async def aflush(self) -> None:
        """Wait until calls queued inside a running loop have taken effect.

        Raises:
            DurableAutomationError: What a queued call raised.
        """
        await self._calls.aflush()

    async def astatus(self, timer_id: str) -> TimerStatus | None:
        """Fired count and next fire time, from the timer itself (``None``: not running)."""

        async def query() -> TimerStatus | None:
            handle = engine._ensure().client.get_workflow_handle(self.workflow_id(timer_id))
            try:
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    return None
                return await handle.query("status", result_type=TimerStatus)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise

        return await engine._on_loop(query)

    def status(self, timer_id: str) -> TimerStatus | None:
        """Sync twin of :meth:`astatus`."""
        return engine._blocking(self.astatus, timer_id, name="TimerManager.status")

    async def atimer_ids(self) -> list[str]:
        """Ids of the running timers of this manager's scope (on the server)."""
        return await self._calls.acall(self._running_ids, name="TimerManager.timer_ids")

    def timer_ids(self) -> list[str]:
        """Sync twin of :meth:`atimer_ids`."""
        return engine._blocking(self.atimer_ids, name="TimerManager.timer_ids")

    async def atimer_count(self) -> int:
        """How many timers of this manager's scope are running on the server (one-shots
        that fired are not), whichever process started them."""
        return len(await self.atimer_ids())

    def timer_count(self) -> int:
        """Sync twin of :meth:`atimer_count`."""
        return engine._blocking(self.atimer_count, name="TimerManager.timer_count")


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
