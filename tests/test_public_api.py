"""Pin the exported surface so refactors cannot change it by accident."""

from __future__ import annotations

import subprocess
import sys

import durable_automation
from durable_automation import events, exceptions, observability, testing, workflows


def test_top_level_exports():
    expected = {
        "ConfigurationError", "DefinitionError", "DurableAutomationError", "Engine", "Event",
        "InvalidCommandError", "NotConnectedError", "RegistrationError", "Retry", "Run",
        "RunCancelledError", "RunError", "RunFailedError", "RunNotFoundError", "Settings",
        "SignalPayloadError", "StepInfo", "SyncCallInEventLoopError", "UnknownAutomationError",
        "complete", "configure", "engine", "event_workflow", "fail", "get_context",
        "get_settings", "goto", "on_event", "on_event_cancelled", "on_event_created", "sleep",
        "step", "step_info", "wait", "wait_for_event", "workflow",
    }
    assert expected <= set(durable_automation.__all__)
    for name in durable_automation.__all__:
        assert getattr(durable_automation, name) is not None


def test_module_exports_resolve():
    for module in (workflows, events, exceptions, testing, observability):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    assert set(workflows.__all__) >= {
        "workflow", "event_workflow", "step", "goto", "sleep", "wait", "wait_for_event",
        "complete", "fail", "Retry", "get_context", "engine", "Run",
    }
    assert set(testing.__all__) == {"TimeMachine", "time_machine"}


def test_every_error_derives_from_the_root():
    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.DurableAutomationError)


def test_wait_for_signal_alias():
    assert workflows.wait.for_signal("x") == workflows.wait("x")


def test_core_imports_without_django():
    code = (
        "import sys, durable_automation, durable_automation.workflows, durable_automation.testing,"
        " durable_automation.worker, durable_automation.cli; "
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
