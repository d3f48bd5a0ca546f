"""Flow control options (what ``concurrency=``, ``throttle=``, ``rate_limit=``,
``priority=`` and ``fairness_key=`` mean) and the messages of the per-key limiter.

Plain data and pure functions, shared by the decorators (which check the options),
the engine (which renders the key and starts a limited run through its limiter), the
limiter workflow (``flow/_limiter.py``) and the run's own gate
(``_worker/flow_gate.py``). The machinery is described in ``flow/_limiter.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from .flow_wire import (
    AcquireRequest,
    DroppedRun,
    FlowGrant,
    LimiterState,
    LimitRequest,
)
from .match import MissingValue, entity_value, key_string
from .wire import StartInput

__all__ = [
    "ACQUIRE_ACTIVITY",
    "FLOW_GRANT_MEMO",
    "FLOW_GRANT_SIGNAL",
    "LIMITER_ACQUIRE_SIGNAL",
    "LIMITER_ASK_SIGNAL",
    "LIMITER_ENQUEUE_UPDATE",
    "LIMITER_RELEASE_SIGNAL",
    "LIMITER_STATE_QUERY",
    "LIMITER_WORKFLOW",
    "AcquireRequest",
    "Concurrency",
    "DroppedRun",
    "FlowControl",
    "FlowGrant",
    "LimitRequest",
    "LimiterState",
    "RateLimit",
    "Throttle",
    "check_flow_options",
    "flow_of",
    "flow_starter",
    "limiter_id",
    "register_flow",
    "render_key",
    "set_flow_starter",
]

LIMITER_WORKFLOW = "durable_automation.limiter"
LIMITER_ENQUEUE_UPDATE = "enqueue"
LIMITER_ASK_SIGNAL = "ask"
LIMITER_STATE_QUERY = "limiter_state"
LIMITER_ACQUIRE_SIGNAL = "acquire"
LIMITER_RELEASE_SIGNAL = "release"
FLOW_GRANT_SIGNAL = "__da_flow_grant"
# A run the limiter let through as it started it carries its grant in this memo key.
FLOW_GRANT_MEMO = "da_flow_grant"

# ``{{ ctx.guest_id }}``, ``{{ event.data.guest_id }}``, ``{{ event.entity_id }}``.
_PLACEHOLDER = re.compile(r"\{\{\s*(ctx|event)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}")
_KEY_LIMIT = 120


# ── the options (public) ─────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Concurrency:
    """At most ``limit`` runs of an automation at once per key; the others wait, in order.

    Attributes:
        limit: Runs of one key that may be in flight at once (at least 1).
        key: A template such as ``"{{ ctx.guest_id }}"`` (workflows) or
            ``"{{ event.entity_id }}"`` (event handlers and event workflows), or a
            literal; ``None``: one key for every run of the automation.
    """

    limit: int
    key: str | None = None


@dataclass(frozen=True)
class Throttle:
    """At most ``limit`` runs start per ``period`` per key; the others are delayed, in
    order, to the next moment the window has room."""

    limit: int
    period: timedelta
    key: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` runs per ``period`` per key; the others are dropped (they end at
    once with ``{"dropped": ...}`` and the limiter records them)."""

    limit: int
    period: timedelta
    key: str | None = None


Limiter = Concurrency | Throttle | RateLimit


@dataclass(frozen=True)
class FlowControl:
    """The flow options of one automation, checked at decoration time."""

    limiter: Limiter | None = None
    priority: int | None = None
    fairness_key: str | None = None
    fairness_weight: float | None = None

    @property
    def mode(self) -> Literal["concurrency", "throttle", "rate_limit"] | None:
        """Which limiter: ``concurrency``, ``throttle`` or ``rate_limit``."""
        if isinstance(self.limiter, Concurrency):
            return "concurrency"
        if isinstance(self.limiter, Throttle):
            return "throttle"
        if isinstance(self.limiter, RateLimit):
            return "rate_limit"
        return None


_flows: dict[str, FlowControl] = {}


def register_flow(name: str, flow: FlowControl | None) -> None:
    """Remember an automation's flow options (``None`` forgets them)."""
    if flow is None:
        _flows.pop(name, None)
    else:
        _flows[name] = flow


def flow_of(name: str) -> FlowControl | None:
    """The flow options of automation ``name``, if it declared any."""
    return _flows.get(name)


def check_flow_options(
    *,
    concurrency: Any,
    throttle: Any,
    rate_limit: Any,
    priority: Any,
    fairness_key: Any,
    fairness_weight: Any,
    sources: tuple[str, ...],
) -> tuple[FlowControl | None, list[str]]:
    """Check the flow arguments of a decorator; return the options and every problem.

    Args:
        sources: What key templates may read: ``ctx`` and/or ``event``.
    """
    problems: list[str] = []
    given = {name: value for name, value in (("concurrency", concurrency), ("throttle", throttle),
                                             ("rate_limit", rate_limit)) if value is not None}
    expected: dict[str, type[Limiter]] = {
        "concurrency": Concurrency, "throttle": Throttle, "rate_limit": RateLimit}
    for name, value in given.items():
        cls = expected[name]
        if not isinstance(value, cls):
            problems.append(f"{name} must be a {cls.__name__}(...), got {value!r}")
            continue
        if isinstance(value.limit, bool) or not isinstance(value.limit, int) or value.limit < 1:
            problems.append(f"{name}: limit must be a positive int, got {value.limit!r}")
        period = getattr(value, "period", None)
        if not isinstance(value, Concurrency) and (
                not isinstance(period, timedelta) or period <= timedelta(0)):
            problems.append(f"{name}: period must be a positive timedelta, got {period!r}")
        problems.extend(_template_problems(f"{name}: key", value.key, sources))
    if len(given) > 1:
        problems.append(
            f"{' and '.join(given)} cannot be combined on one automation (one limiter per "
            "automation); keep one, or split the work into two automations")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not 1 <= priority <= 5):
        problems.append(f"priority must be an int from 1 (first) to 5 (last), got {priority!r}")
    if fairness_key is not None:
        if not isinstance(fairness_key, str) or not fairness_key:
            problems.append(f"fairness_key must be a non-empty string, got {fairness_key!r}")
        else:
            problems.extend(_template_problems("fairness_key", fairness_key, sources))
    if fairness_weight is not None and (
            isinstance(fairness_weight, bool) or not isinstance(fairness_weight, (int, float))
            or not 0.001 <= fairness_weight <= 1000):
        problems.append(f"fairness_weight must be a number from 0.001 to 1000, got "
                        f"{fairness_weight!r}")
    if fairness_weight is not None and fairness_key is None:
        problems.append("fairness_weight needs a fairness_key")
    if problems or not (given or priority is not None or fairness_key is not None):
        return None, problems
    limiter = next(iter(given.values()), None)
    weight = float(fairness_weight) if fairness_weight is not None else None
    return FlowControl(limiter, priority, fairness_key, weight), problems


def _template_problems(what: str, template: Any, sources: tuple[str, ...]) -> list[str]:
    if template is None:
        return []
    if not isinstance(template, str):
        return [f"{what} must be a template string such as "
                f"'{{{{ {sources[0]}.field }}}}', got {template!r}"]
    leftover = _PLACEHOLDER.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        return [f"{what} {template!r} has a placeholder that is not "
                f"'{{{{ ctx.<field> }}}}' or '{{{{ event.<field> }}}}'"]
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in sources:
            return [f"{what} {template!r} reads {match.group(1)}, but this automation has "
                    f"only {' and '.join(sources)} when it starts"]
    return []


# ── keys ─────────────────────────────────────────────────────────────────────────


def render_key(template: str | None, context: Mapping[str, Any], event: Any) -> str:
    """Render a key template against a run's Context (JSON form) and event.

    Raises:
        ValueError: A placeholder names a value the run does not have.
    """
    if template is None:
        return "all"

    def value(match: re.Match[str]) -> str:
        source, path = match.group(1), match.group(2)[1:].split(".")
        root: Any = context if source == "ctx" else event
        try:
            return key_string(entity_value(root, path))
        except MissingValue:
            raise ValueError(f"{match.group(0)} names {source}.{'.'.join(path)}, which this "
                             "run does not have") from None

    key = _PLACEHOLDER.sub(value, template)
    if len(key) > _KEY_LIMIT:  # it becomes part of a workflow id
        key = f"{key[:_KEY_LIMIT - 17]}~{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return key


def limiter_id(task_queue: str, automation: str, key: str) -> str:
    """Workflow id of the limiter of ``automation``'s runs with ``key``.

    The task queue is part of it, as for signal hubs: deployments (or tests) sharing a
    namespace must not share limiters.
    """
    return f"limit:{task_queue}:{automation}:{key}"


# ── the start path (installed by ``durable_automation.flow``) ─────────────────────

# (engine, name, run_id, start, summary, idempotent) -> whether a new run was started.
FlowStarter = Callable[[Any, str, str, StartInput, str, bool], Awaitable[bool]]
_starter: FlowStarter | None = None


def set_flow_starter(starter: FlowStarter | None) -> None:
    """Install how the engine starts a run whose automation has a limiter."""
    global _starter
    _starter = starter


def flow_starter() -> FlowStarter | None:
    """The installed start path for limited runs, if ``durable_automation.flow`` is imported."""
    return _starter


def period_of(flow: FlowControl) -> timedelta:
    """The limiter's period (zero for concurrency)."""
    return getattr(flow.limiter, "period", timedelta(0))


def priority_fields(flow: FlowControl | None, start: StartInput) -> dict[str, Any]:
    """Fields of temporalio's ``Priority`` for a run (empty: the server's defaults).

    Raises:
        ValueError: The fairness key template names a value the run does not have.
    """
    if flow is None:
        return {}
    fields: dict[str, Any] = {}
    if flow.priority is not None:
        fields["priority_key"] = flow.priority
    if flow.fairness_key is not None:
        fields["fairness_key"] = render_key(flow.fairness_key, start.context, start.event)[:64]
    if flow.fairness_weight is not None:
        fields["fairness_weight"] = flow.fairness_weight
    return fields


_FLOW_ARGUMENTS = ("concurrency", "throttle", "rate_limit", "priority", "fairness_key",
                   "fairness_weight")


def check_flow_arguments(options: Mapping[str, Any], sources: tuple[str, ...]
                         ) -> tuple[FlowControl | None, list[str]]:
    """:func:`check_flow_options` over a decorator's ``**flow`` keyword arguments; an
    unknown keyword is a problem too (the decorators take flow options as ``**flow``)."""
    unknown = [name for name in options if name not in _FLOW_ARGUMENTS]
    values = {name: options.get(name) for name in _FLOW_ARGUMENTS}
    flow, problems = check_flow_options(**values, sources=sources)
    if unknown:
        problems.insert(0, f"unexpected argument(s) {', '.join(map(repr, unknown))} (flow "
                        f"options are {', '.join(_FLOW_ARGUMENTS)})")
    return flow, problems


ACQUIRE_ACTIVITY = "durable_automation.limiter_acquire"
