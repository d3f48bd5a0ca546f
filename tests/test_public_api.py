"""Pin the exported surface so refactors cannot change it by accident.

Every public module's whole ``__all__`` is written out here: a name added or removed
anywhere fails a test until this file says so too.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import durable_automation
from durable_automation import exceptions, workflows

ROOT = Path(__file__).resolve().parent.parent

TOP_LEVEL = [
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
OPERATIONS = [
    "BulkResult", "CheckReport", "ResetPoint", "RunFilter", "RunInfo", "StrandedRun",
    "acancel_runs", "acheck_stranded_runs", "afind_runs", "aretry_run", "aretry_runs",
    "cancel_runs", "check_stranded_runs", "find_runs", "retry_run", "retry_runs",
]
# Flow control (issue 14).
FLOW = ["Concurrency", "RateLimit", "Throttle"]
FLOW_EVENTS = ["Batch", "CancelOn"]
TOP_LEVEL = sorted([*TOP_LEVEL, *OPERATIONS, "ResetError", *FLOW, *FLOW_EVENTS])

MODULES: dict[str, list[str]] = {
    "durable_automation.operations": OPERATIONS,
    "durable_automation.flow": ["Concurrency", "LimiterState", "RateLimit", "Throttle",
                                "alimiter_state", "limiter_state"],
    "durable_automation.workflows": [
        "CancelOn", "Command", "Engine", "Retry", "Run", "RunStatus", "StepInfo",
        "WorkflowDefinition",
        "complete", "engine", "event_workflow", "fail", "get_context", "goto", "sleep", "step",
        "step_info", "wait", "wait_for_event", "workflow",
    ],
    "durable_automation.events": [
        "Batch", "Event", "EventBatch", "HandlerDefinition", "claims", "on_event",
        "on_event_cancelled", "on_event_created", "set_entity_resolver",
    ],
    "durable_automation.agents": [
        "AgentDefinition", "AgentHandlerDefinition", "AgentManager", "AgentRun", "AgentState",
        "AgentTimer", "Claims", "HandlerRecord", "agent", "claims", "handler",
    ],
    "durable_automation.timers": [
        "CronConfig", "DebounceHandle", "DebounceStatus", "IntervalConfig", "OneShotConfig",
        "SchedulePolicy", "TaskDefinition", "TaskHandle", "TaskInfo", "Timer", "TimerConfig",
        "TimerManager", "TimerStatus", "adebounce_task", "aschedule_task", "debounce_task",
        "resolve_task", "schedule_task", "task", "task_info", "unregister_task",
    ],
    "durable_automation.scheduler": [
        "ScheduledTask", "Scheduler", "setup_tasks_from_config", "setup_tasks_from_yaml",
    ],
    "durable_automation.testing": ["TimeMachine", "time_machine"],
    "durable_automation.exceptions": [
        "ClaimHeldError", "ConfigurationError", "DefinitionError", "DurableAutomationError",
        "EntityNotFoundError", "EventDeliveryError", "InvalidCommandError", "InvalidContextError",
        "InvalidScheduleError", "NotConnectedError", "RegistrationError", "ResetError",
        "RunCancelledError",
        "RunError", "RunFailedError", "RunNotFoundError", "RunWaitsForeverError",
        "SignalPayloadError", "SyncCallInEventLoopError", "TemporalServiceError",
        "UnknownAutomationError", "UnknownTaskError",
    ],
    "durable_automation.observability": ["StepLogFilter", "install_log_context",
                                         "metric_meter", "step_log_fields"],
    "durable_automation.status": ["StatusRow", "collect_status", "format_table", "print_status"],
    "durable_automation.worker": ["AutomationWorker", "replayer", "run_worker", "sandbox_runner",
                                  "workflow_classes"],
    "durable_automation.pytest_plugin": ["DevWorker"],
    "django_integration": ["EventDefinition"],
    "django_integration.testing": [
        "AutomationEvents", "AutomationTestCase", "EventsNotForwardedError",
        "EventsNotForwardedWarning", "unforwarded_events_message",
    ],
}

# What ../shared/DESIGN.md's Public API says is importable from the top level.
CONTRACT = {
    # workflows
    "workflow", "event_workflow", "step", "goto", "sleep", "wait", "wait_for_event", "complete",
    "fail", "Retry", "get_context", "engine", "Run",
    # events
    "on_event", "on_event_created", "on_event_cancelled", "Event",
    # agents
    "agent", "handler", "claims", "AgentManager",
    # timers
    "task", "schedule_task", "debounce_task", "Timer", "SchedulePolicy", "TimerConfig",
    "TimerManager",
    # scheduler
    "Scheduler", "ScheduledTask", "setup_tasks_from_config", "setup_tasks_from_yaml",
    # testing
    "time_machine",
}


def test_top_level_all_is_pinned():
    assert sorted(durable_automation.__all__) == TOP_LEVEL
    assert len(set(durable_automation.__all__)) == len(durable_automation.__all__)


def test_every_top_level_name_is_the_object_of_its_module():
    exports = durable_automation._EXPORTS
    assert sorted(exports) == TOP_LEVEL
    for name in TOP_LEVEL:
        module = importlib.import_module(exports[name], "durable_automation")
        assert name in module.__all__, f"{module.__name__} does not export {name}"
        assert getattr(durable_automation, name) is getattr(module, name), name
    assert set(TOP_LEVEL) <= set(dir(durable_automation))


def test_the_contract_names_import_from_the_top_level():
    from durable_automation import (  # noqa: F401 - the import is the test
        AgentManager,
        ScheduledTask,
        agent,
        claims,
        handler,
        time_machine,
    )

    exported = set(durable_automation.__all__)
    assert exported >= CONTRACT, CONTRACT - exported


@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_module_all_is_pinned(module_name: str):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == MODULES[module_name]
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} does not resolve"


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        durable_automation.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        from durable_automation import NoSuchThing  # noqa: F401


def test_submodules_are_attributes_of_the_package():
    # `import durable_automation as da; da.testing.time_machine` keeps working lazily.
    code = ("import durable_automation as da; "
            "assert da.scheduler.Scheduler is da.Scheduler; assert da.codec.EncryptionCodec")
    _python(code)


def test_star_import_gives_every_name():
    _python("from durable_automation import *; import durable_automation as da; "
            "missing = [n for n in da.__all__ if n not in globals()]; assert not missing, missing")


def test_every_error_derives_from_the_root():
    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.DurableAutomationError)


def test_wait_for_signal_alias():
    assert workflows.wait.for_signal("x") == workflows.wait("x")


def test_core_imports_without_django():
    _python(
        "import sys, durable_automation, durable_automation.workflows, durable_automation.testing,"
        " durable_automation.worker, durable_automation.cli; from durable_automation import *; "
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)"
    )


def test_importing_the_package_or_its_plugin_imports_nothing_else():
    """pytest loads the plugin before coverage measuring starts: nothing of the SDK may
    load with it, or coverage reports its module-level lines as never run."""
    _python(
        "import sys, durable_automation.pytest_plugin, durable_automation; "
        "ours = sorted(m for m in sys.modules if m.startswith(('durable_automation', "
        "'django_integration'))); "
        "assert ours == ['durable_automation', 'durable_automation.pytest_plugin'], ours; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('temporalio', 'pydantic', 'django', 'croniter', 'yaml', 'google')); "
        "assert not heavy, heavy"
    )


def test_names_import_while_the_django_app_registry_is_loading(tmp_path: Path):
    """A models.py (run while Django populates its app registry) may import the top level:
    EventDefinitions there and automations next to them."""
    app = tmp_path / "earlyapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(textwrap.dedent("""
        from django.db import models

        import durable_automation
        from durable_automation import *  # every public name, while apps are loading
        from django_integration import EventDefinition

        LOADED = [getattr(durable_automation, n) for n in durable_automation.__all__]


        class Order(models.Model):
            paid = models.BooleanField(default=False)
            events = [EventDefinition("early_order_paid", condition=lambda o: o.paid)]


        @on_event("early_order_paid")
        def early_order_paid(event):
            pass
    """))
    (tmp_path / "early_settings.py").write_text(textwrap.dedent("""
        SECRET_KEY = "x"
        USE_TZ = True
        INSTALLED_APPS = ["django.contrib.contenttypes", "django_integration", "earlyapp"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    """))
    _python(
        "import django; django.setup(); "
        "from django_integration._tracking import tracked_models; "
        "from durable_automation._registry import registry; "
        "assert [m.__name__ for m in tracked_models()] == ['Order'], tracked_models(); "
        "assert 'early_order_paid' in registry.event_names(), registry.event_names()",
        cwd=tmp_path, env={"DJANGO_SETTINGS_MODULE": "early_settings", "PYTHONPATH": f"{tmp_path}"},
    )


def _python(code: str, *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, cwd=cwd, env={"PATH": "/usr/bin:/bin", **(env or {})},
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
