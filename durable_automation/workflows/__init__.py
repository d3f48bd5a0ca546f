"""Step workflows: ``@workflow``, ``@event_workflow``, ``@step``, the commands, and ``engine``.

A workflow is a class with a nested pydantic ``Context``, an optional
``create_context`` classmethod, and methods marked ``@step``; exactly one is the
start step. Each step returns a command (or ``None`` to complete). See
``durable_automation._core.commands`` for how a run resumes after sleeping or waiting.
"""

from __future__ import annotations

from .._client.engine import Engine, engine
from .._client.run import Run, RunStatus
from .._core.cancel_on import CancelOn
from .._core.commands import Command, complete, fail, goto, sleep, wait, wait_for_event
from .._core.context import StepInfo, get_context, step_info
from .._core.retry import Retry
from . import _install  # noqa: F401 - plugs step workflows into the core
from ._definitions import WorkflowDefinition, event_workflow, step, workflow

__all__ = [
    "CancelOn",
    "Command",
    "Engine",
    "Retry",
    "Run",
    "RunStatus",
    "StepInfo",
    "WorkflowDefinition",
    "complete",
    "engine",
    "event_workflow",
    "fail",
    "get_context",
    "goto",
    "sleep",
    "step",
    "step_info",
    "wait",
    "wait_for_event",
    "workflow",
]
