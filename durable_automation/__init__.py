"""durable-automation: durable automations for Python and Django, running on Temporal.

Decorated workflows, event handlers, agents, timers and schedules compile into
Temporal workflows and activities; every sleep, wait, offset and schedule is a
Temporal timer, signal or schedule. The public API is re-exported here.

The re-exports are lazy (PEP 562): ``import durable_automation`` loads nothing
but this file, and ``from durable_automation import workflow`` imports
``durable_automation.workflows`` on first use. So the pytest plugin, which every
project that installs this package loads before coverage measurement starts,
does not drag temporalio and the whole SDK in with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it. Each is imported on first access.
_EXPORTS: dict[str, str] = {
    # settings
    "Settings": "._core.settings",
    "configure": "._core.settings",
    "get_settings": "._core.settings",
    # exceptions
    "ClaimHeldError": ".exceptions",
    "ConfigurationError": ".exceptions",
    "DefinitionError": ".exceptions",
    "DurableAutomationError": ".exceptions",
    "EntityNotFoundError": ".exceptions",
    "EventDeliveryError": ".exceptions",
    "InvalidCommandError": ".exceptions",
    "InvalidContextError": ".exceptions",
    "InvalidScheduleError": ".exceptions",
    "NotConnectedError": ".exceptions",
    "RegistrationError": ".exceptions",
    "ResetError": ".exceptions",
    "RunCancelledError": ".exceptions",
    "RunError": ".exceptions",
    "RunFailedError": ".exceptions",
    "RunNotFoundError": ".exceptions",
    "RunWaitsForeverError": ".exceptions",
    "SignalPayloadError": ".exceptions",
    "SyncCallInEventLoopError": ".exceptions",
    "TemporalServiceError": ".exceptions",
    "UnknownAutomationError": ".exceptions",
    "UnknownTaskError": ".exceptions",
    # workflows
    "Engine": ".workflows",
    "Retry": ".workflows",
    "Run": ".workflows",
    "StepInfo": ".workflows",
    "complete": ".workflows",
    "engine": ".workflows",
    "event_workflow": ".workflows",
    "fail": ".workflows",
    "get_context": ".workflows",
    "goto": ".workflows",
    "sleep": ".workflows",
    "step": ".workflows",
    "step_info": ".workflows",
    "wait": ".workflows",
    "wait_for_event": ".workflows",
    "workflow": ".workflows",
    # events
    "Event": ".events",
    "EventBatch": ".events",
    "on_event": ".events",
    "on_event_cancelled": ".events",
    "on_event_created": ".events",
    # agents
    "AgentManager": ".agents",
    "agent": ".agents",
    "claims": ".agents",
    "handler": ".agents",
    # timers
    "SchedulePolicy": ".timers",
    "TaskHandle": ".timers",
    "Timer": ".timers",
    "TimerConfig": ".timers",
    "TimerManager": ".timers",
    "adebounce_task": ".timers",
    "aschedule_task": ".timers",
    "debounce_task": ".timers",
    "schedule_task": ".timers",
    "task": ".timers",
    "task_info": ".timers",
    # scheduler
    "ScheduledTask": ".scheduler",
    "Scheduler": ".scheduler",
    "setup_tasks_from_config": ".scheduler",
    "setup_tasks_from_yaml": ".scheduler",
    # testing
    "time_machine": ".testing",
    # cancel on event, batching (issue 14)
    "Batch": ".events",
    "CancelOn": ".workflows",
    # flow control
    "Concurrency": ".flow",
    "RateLimit": ".flow",
    "Throttle": ".flow",
    # operations
    "BulkResult": ".operations",
    "CheckReport": ".operations",
    "ResetPoint": ".operations",
    "RunFilter": ".operations",
    "RunInfo": ".operations",
    "StrandedRun": ".operations",
    "acancel_runs": ".operations",
    "acheck_stranded_runs": ".operations",
    "afind_runs": ".operations",
    "aretry_run": ".operations",
    "aretry_runs": ".operations",
    "cancel_runs": ".operations",
    "check_stranded_runs": ".operations",
    "find_runs": ".operations",
    "retry_run": ".operations",
    "retry_runs": ".operations",
}


# Every name of _EXPORTS (tests/test_public_api.py pins the list and checks they agree).
__all__ = [
    "AgentManager", "ClaimHeldError", "ConfigurationError", "DefinitionError",
    "DurableAutomationError", "Engine", "EntityNotFoundError", "Event", "EventBatch",
    "EventDeliveryError", "InvalidCommandError", "InvalidContextError", "InvalidScheduleError",
    "NotConnectedError", "RegistrationError", "Retry", "Run", "RunCancelledError", "RunError",
    "RunFailedError", "RunNotFoundError", "RunWaitsForeverError", "SchedulePolicy",
    "ScheduledTask", "Scheduler", "Settings", "SignalPayloadError", "StepInfo",
    "SyncCallInEventLoopError", "TaskHandle", "TemporalServiceError", "Timer", "TimerConfig",
    "TimerManager", "UnknownAutomationError", "UnknownTaskError", "adebounce_task", "agent",
    "aschedule_task", "claims", "complete", "configure", "debounce_task", "engine",
    "event_workflow", "fail", "get_context", "get_settings", "goto", "handler", "on_event",
    "on_event_cancelled", "on_event_created", "schedule_task", "setup_tasks_from_config",
    "setup_tasks_from_yaml", "sleep", "step", "step_info", "task", "task_info", "time_machine",
    "wait", "wait_for_event", "workflow",
]
# Operating runs and deploy safety (issue 14).
__all__ += [
    "BulkResult", "CheckReport", "ResetError", "ResetPoint", "RunFilter", "RunInfo",
    "StrandedRun", "acancel_runs", "acheck_stranded_runs", "afind_runs", "aretry_run",
    "aretry_runs", "cancel_runs", "check_stranded_runs", "find_runs", "retry_run", "retry_runs",
]

# Flow control (issue 14).
__all__ += ["Concurrency", "RateLimit", "Throttle"]
# Cancel on event and batching (issue 14).
__all__ += ["Batch", "CancelOn"]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562) and return the name.

    Raises:
        AttributeError: ``name`` is neither a public name nor a public submodule.
    """
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("_"):
        # `import durable_automation as da; da.testing` worked when this file imported
        # its submodules eagerly; keep it working for the public ones.
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Every public name, imported yet or not (for ``dir()`` and completion)."""
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # the real imports, for type checkers and IDEs
    from ._core.settings import Settings, configure, get_settings
    from .agents import AgentManager, agent, claims, handler
    from .events import Batch, Event, EventBatch, on_event, on_event_cancelled, on_event_created
    from .exceptions import (
        ClaimHeldError,
        ConfigurationError,
        DefinitionError,
        DurableAutomationError,
        EntityNotFoundError,
        EventDeliveryError,
        InvalidCommandError,
        InvalidContextError,
        InvalidScheduleError,
        NotConnectedError,
        RegistrationError,
        ResetError,
        RunCancelledError,
        RunError,
        RunFailedError,
        RunNotFoundError,
        RunWaitsForeverError,
        SignalPayloadError,
        SyncCallInEventLoopError,
        TemporalServiceError,
        UnknownAutomationError,
        UnknownTaskError,
    )
    from .flow import Concurrency, RateLimit, Throttle
    from .operations import (
        BulkResult,
        CheckReport,
        ResetPoint,
        RunFilter,
        RunInfo,
        StrandedRun,
        acancel_runs,
        acheck_stranded_runs,
        afind_runs,
        aretry_run,
        aretry_runs,
        cancel_runs,
        check_stranded_runs,
        find_runs,
        retry_run,
        retry_runs,
    )
    from .scheduler import ScheduledTask, Scheduler, setup_tasks_from_config, setup_tasks_from_yaml
    from .testing import time_machine
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
    from .workflows import (
        CancelOn,
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
