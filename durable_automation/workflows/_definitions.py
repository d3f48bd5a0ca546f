"""Decorators for step workflows: ``@step``, ``@workflow``, ``@event_workflow``.

Two phases, as in temporalio: ``@step`` only marks a method; ``@workflow`` /
``@event_workflow`` walk the class, collect *every* problem, and either raise one
:class:`DefinitionError` listing them all or register a frozen definition.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from .._core.cancel_on import CancelOn
from .._core.definitions import StepDefinition, WorkflowDefinition
from .._core.flow import check_flow_arguments, register_flow
from .._core.registry import registry
from .._core.retry import Retry
from ..exceptions import DefinitionError
from ._cancel_on import check_cancel_on
from ._failure import check_on_failure
from ._local_steps import check_local_step
from ._renames import check_renamed_steps

__all__ = ["StepDefinition", "WorkflowDefinition", "event_workflow", "step", "step_definitions",
           "workflow"]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

_STEP_MARK = "__durable_automation_step__"


# ── @step ──────────────────────────────────────────────────────────────────────────


@overload
def step(fn: F, /) -> F: ...
@overload
def step(
    *, start: bool = False, retry: Retry | None = None, timeout: timedelta | None = None,
    local: bool = False,
) -> Callable[[F], F]: ...
def step(
    fn: F | None = None,
    /,
    *,
    start: bool = False,
    retry: Retry | None = None,
    timeout: timedelta | None = None,
    local: bool = False,
) -> F | Callable[[F], F]:
    """Mark a method as a step of a workflow class.

    Args:
        start: This is the step a run begins with (exactly one per class).
        retry: Retry policy when the step raises (default: the class's ``default_retry``,
            else a raising step fails the run).
        timeout: Longest one attempt may run (default: the ``STEP_TIMEOUT`` setting; for
            a local step ``LOCAL_STEP_TIMEOUT``, 30 seconds).
        local: Run the step as a Temporal local activity, in the worker that runs the
            workflow, without a round trip through the server: for short steps (at most
            a minute; see docs/workflows.md "Local steps").
    """

    def mark(f: F) -> F:
        setattr(f, _STEP_MARK, {"start": start, "retry": retry, "timeout": timeout,
                                "local": local})
        return f

    return mark(fn) if fn is not None else mark


# ── @workflow / @event_workflow ────────────────────────────────────────────────────


def workflow(name: str, *, renamed_steps: dict[str, str] | None = None,
             cancel_on: Sequence[CancelOn] = (),
             on_failure: str | Callable[..., Any] | None = None,
             **flow: Any) -> Callable[[C], C]:
    """Register a class as a manual workflow named ``name`` (start it with ``engine.start``).

    Args:
        renamed_steps: Old step name -> new name, so runs in flight that still name a
            renamed step carry on with the new one (docs/deploy-safety.md).
        cancel_on: Events that cancel matching runs in flight (docs/cancel-on.md).
        on_failure: Method name or function ``(ctx, error)`` run once when a run fails
            for good (docs/failure-hooks.md).
        **flow: ``concurrency=``, ``throttle=``, ``rate_limit=``, ``priority=``,
            ``fairness_key=``, ``fairness_weight=`` (docs/flow-control.md).
    """
    return lambda cls: _register_workflow(cls, name=name, renamed_steps=renamed_steps,
                                          cancel_on=cancel_on, on_failure=on_failure, **flow)


def event_workflow(
    event_name: str,
    offset: timedelta = timedelta(0),
    default_retry: Retry | None = None,
    *,
    name: str | None = None,
    renamed_steps: dict[str, str] | None = None,
    cancel_on: Sequence[CancelOn] = (),
    on_failure: str | Callable[..., Any] | None = None,
    **flow: Any,
) -> Callable[[C], C]:
    """Register a class as a workflow started when ``event_name`` occurs.

    Args:
        event_name: The event that starts a run.
        offset: Run at event time + offset; negative runs before a scheduled event.
        default_retry: Retry for steps that declare none.
        name: Automation name (default: the class name).
        renamed_steps: Old step name -> new name (see :func:`workflow`).
        cancel_on: Events that cancel matching runs in flight (see :func:`workflow`).
        on_failure: Hook run once when a run fails for good (see :func:`workflow`).
        **flow: Flow control (see :func:`workflow`); key templates may read ``ctx`` and
            ``event``.
    """
    return lambda cls: _register_workflow(
        cls, name=name or cls.__name__, event_name=event_name, offset=offset,
        default_retry=default_retry, renamed_steps=renamed_steps, cancel_on=cancel_on,
        on_failure=on_failure, **flow,
    )


def _register_workflow(
    cls: C,
    *,
    name: str,
    event_name: str | None = None,
    offset: timedelta = timedelta(0),
    default_retry: Retry | None = None,
    renamed_steps: dict[str, str] | None = None,
    cancel_on: Sequence[CancelOn] = (),
    on_failure: str | Callable[..., Any] | None = None,
    **flow_options: Any,
) -> C:
    problems: list[str] = []
    label = cls.__qualname__
    flow, flow_problems = check_flow_arguments(
        flow_options, ("ctx", "event") if event_name is not None else ("ctx",))
    problems += flow_problems
    if not isinstance(name, str) or not name.strip():
        problems.append(f"the automation name must be a non-empty string, got {name!r}")
    if event_name is not None and (not isinstance(event_name, str) or not event_name):
        problems.append(f"event_name must be a non-empty string, got {event_name!r}")
    if not isinstance(offset, timedelta):
        problems.append(f"offset must be a timedelta, got {offset!r}")
    if default_retry is not None and not isinstance(default_retry, Retry):
        problems.append(f"default_retry must be a Retry, got {default_retry!r}")

    context_cls = getattr(cls, "Context", None)
    if context_cls is None:
        problems.append(f"{label} has no nested Context class (a pydantic BaseModel)")
    elif not (isinstance(context_cls, type) and issubclass(context_cls, BaseModel)):
        problems.append(f"{label}.Context must be a pydantic BaseModel subclass")

    steps: dict[str, StepDefinition] = {}
    for attr, member in vars(cls).items():
        mark = getattr(member, _STEP_MARK, None)
        if mark is None:
            continue
        if mark["retry"] is not None and not isinstance(mark["retry"], Retry):
            problems.append(f"{label}.{attr}: retry must be a Retry, got {mark['retry']!r}")
        problems += check_local_step(f"{label}.{attr}", mark)
        params = [
            p for p in inspect.signature(member).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        steps[attr] = StepDefinition(
            name=attr, retry=mark["retry"], timeout=mark["timeout"], start=mark["start"],
            local=mark.get("local") is True,
            takes_context=len(params) >= 2,
        )

    starts = [s.name for s in steps.values() if s.start]
    if not steps:
        problems.append(f"{label} has no steps; mark methods with @step")
    if not starts and steps:
        problems.append(f"{label} has no start step; mark exactly one with @step(start=True)")
    if len(starts) > 1:
        problems.append(
            f"{label} has {len(starts)} start steps ({', '.join(starts)}); exactly one may "
            "have start=True"
        )

    for step_name, targets in _step_targets(cls, steps).items():
        for keyword, target in targets:
            if target not in steps:
                problems.append(
                    f"{label}.{step_name}: {keyword} names step {target!r}, which does not "
                    f"exist (steps: {', '.join(steps)})"
                )

    problems += check_renamed_steps(label, renamed_steps, steps)
    cancel_specs, cancel_problems = check_cancel_on(cancel_on, steps)
    problems += cancel_problems + check_on_failure(on_failure, cls)

    create = inspect.getattr_static(cls, "create_context", None)
    if create is not None and not isinstance(create, classmethod | staticmethod):
        problems.append(f"{label}.create_context must be a classmethod")

    if problems:
        raise DefinitionError(f"{cls.__module__}.{label}", problems)

    if create is None:
        # A class without create_context builds its Context from the start kwargs.
        cls.create_context = classmethod(_default_create_context)  # type: ignore[attr-defined]

    definition = WorkflowDefinition(
        name=name,
        cls=cls,
        context_cls=context_cls,  # type: ignore[arg-type]
        steps=steps,
        start_step=starts[0],
        event_name=event_name,
        offset=offset,
        default_retry=default_retry,
        renamed_steps=dict(renamed_steps or {}),
        cancel_on=cancel_specs,
        on_failure=on_failure,
    )
    registry.add_workflow(definition)
    register_flow(name, flow)
    cls.__durable_automation__ = definition  # type: ignore[attr-defined]
    return cls


def _default_create_context(cls: Any, event: Any = None, **kwargs: Any) -> BaseModel:
    return cls.Context(**kwargs)


# Which argument of each command names a step, by keyword or position.
_STEP_ARGS: dict[str, dict[str, int | None]] = {
    "goto": {"step": 0},
    "sleep": {"then": None},
    "wait": {"on_timeout": 2, "then": None},
    "for_signal": {"on_timeout": 2, "then": None},
    "wait_for_event": {"on_timeout": 2, "then": None},
}


def _step_targets(cls: type, steps: dict[str, StepDefinition]) -> dict[str, list[tuple[str, str]]]:
    """Find step names that steps pass to goto/sleep/wait, by reading their source.

    Only literal names (``"finalize"``) and ``self.<name>`` references can be checked;
    anything computed is checked when the step returns it.
    """
    found: dict[str, list[tuple[str, str]]] = {}
    for name in steps:
        try:
            source = textwrap.dedent(inspect.getsource(getattr(cls, name)))
            tree = ast.parse(source)
        except (OSError, TypeError, SyntaxError):
            continue  # no source (e.g. defined in a REPL): checked at run time instead
        targets: list[tuple[str, str]] = []
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            spec = _STEP_ARGS.get(called or "")
            if spec is None:
                continue
            for keyword, position in spec.items():
                arg: ast.expr | None = None
                for kw in node.keywords:
                    if kw.arg == keyword:
                        arg = kw.value
                if arg is None and position is not None and len(node.args) > position:
                    arg = node.args[position]
                target = _literal_step(arg)
                if target is not None:
                    label = "goto" if called == "goto" else keyword
                    targets.append((label, target))
        found[name] = targets
    return found


def _literal_step(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in {"self", "cls"}
    ):
        return node.attr
    return None


def step_definitions(cls: type) -> WorkflowDefinition:
    """Return the definition attached to a decorated class."""
    definition = getattr(cls, "__durable_automation__", None)
    if not isinstance(definition, WorkflowDefinition):
        raise TypeError(f"{cls!r} is not a workflow; was it decorated with @workflow?")
    return definition

