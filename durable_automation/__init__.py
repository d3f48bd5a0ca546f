"""durable-automation: durable automations for Python and Django, running on Temporal.

Decorated workflows, event handlers, agents, timers and schedules compile into
Temporal workflows and activities; every sleep, wait, offset and schedule is a
Temporal timer, signal or schedule. The public API is re-exported here.
"""

from __future__ import annotations

from ._settings import Settings, configure, get_settings
from .events import Event, on_event, on_event_cancelled, on_event_created
from .exceptions import (
    ConfigurationError,
    DefinitionError,
    DurableAutomationError,
    InvalidCommandError,
    InvalidContextError,
    NotConnectedError,
    RegistrationError,
    RunCancelledError,
    RunError,
    RunFailedError,
    RunNotFoundError,
    SignalPayloadError,
    SyncCallInEventLoopError,
    UnknownAutomationError,
)
from .workflows import (
    Engine,
    Retry,
    Run,
    StepInfo,
    complete,
    engine,
    event_workflow,
    fail,
    get_context,
    goto,
    sleep,
    step,
    step_info,
    wait,
    wait_for_event,
    workflow,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "DefinitionError",
    "DurableAutomationError",
    "Engine",
    "Event",
    "InvalidCommandError",
    "InvalidContextError",
    "NotConnectedError",
    "RegistrationError",
    "Retry",
    "Run",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "RunNotFoundError",
    "Settings",
    "SignalPayloadError",
    "StepInfo",
    "SyncCallInEventLoopError",
    "UnknownAutomationError",
    "complete",
    "configure",
    "engine",
    "event_workflow",
    "fail",
    "get_context",
    "get_settings",
    "goto",
    "on_event",
    "on_event_cancelled",
    "on_event_created",
    "sleep",
    "step",
    "step_info",
    "wait",
    "wait_for_event",
    "workflow",
]

# Timers and the scheduler (durable_automation.timers, durable_automation.scheduler).
from .exceptions import InvalidScheduleError, UnknownTaskError
from .scheduler import Scheduler, setup_tasks_from_config, setup_tasks_from_yaml
from .timers import (
    SchedulePolicy,
    TaskHandle,
    Timer,
    TimerConfig,
    TimerManager,
    adebounce_task,
    aschedule_task,
    debounce_task,
    schedule_task,
    task,
    task_info,
)

__all__ += [
    "InvalidScheduleError",
    "SchedulePolicy",
    "Scheduler",
    "TaskHandle",
    "Timer",
    "TimerConfig",
    "TimerManager",
    "UnknownTaskError",
    "adebounce_task",
    "aschedule_task",
    "debounce_task",
    "schedule_task",
    "setup_tasks_from_config",
    "setup_tasks_from_yaml",
    "task",
    "task_info",
]
