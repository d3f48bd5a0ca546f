"""Extension hooks: the one place where layers above the core plug into it.

Concept packages (``workflows``, ``events``, ``agents``, ``timers``, ``scheduler``)
and the Django app register here when they are imported; the engine, the router
workflow and the worker read from here. So the lower layers never import the
upper ones, and every extension point is listed in one module:

- **call wrappers**: context managers entered around every call of user code, on
  the thread that runs it (Django closes stale database connections in one);
- **entity resolver**: how ``event.entity`` loads the object an event is about;
- **event hooks**: subsystems that react when an event occurs, is scheduled,
  rescheduled or cancelled (agents), and the **claim filter** that says who holds
  a claim on an occurred event;
- **debounce collector**: how a debounced handler's event enters its window;
- **worker components**: extra Temporal workflows and activities every worker runs;
- **program queues**: which task queue a run starts on when only this program can
  run its automation (a script's ``@on_event`` handler: its in-process worker's queue);
- **programs**: for each kind of automation (``"workflow"``, ``"handler"``,
  ``"agent"``), the program the router workflow runs and the code the router
  activity runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .wire import EventWire

__all__ = [
    "ActivityProgram",
    "ClaimFilter",
    "DebounceCollector",
    "EntityResolver",
    "EventHook",
    "EventStage",
    "ProgramQueues",
    "WorkerComponent",
    "activity_program",
    "add_call_wrapper",
    "add_event_hook",
    "add_worker_component",
    "call_wrapped",
    "claim_filter",
    "debounce_collector",
    "entity_resolver",
    "event_hooks",
    "program_queues",
    "set_activity_program",
    "set_claim_filter",
    "set_debounce_collector",
    "set_entity_resolver",
    "set_program_queues",
    "set_workflow_program",
    "worker_components",
    "workflow_program",
    "wrapped",
]

ProgramKind = Literal["workflow", "handler", "agent"]

# ── call wrappers ─────────────────────────────────────────────────────────────────

_call_wrappers: list[Callable[[], contextlib.AbstractContextManager[Any]]] = []


def add_call_wrapper(wrapper: Callable[[], contextlib.AbstractContextManager[Any]]) -> None:
    """Enter ``wrapper()`` around every call of user code (idempotent)."""
    if wrapper not in _call_wrappers:
        _call_wrappers.append(wrapper)


@contextlib.contextmanager
def wrapped() -> Iterator[None]:
    """Enter every call wrapper (on the thread that runs user code)."""
    with contextlib.ExitStack() as stack:
        for wrapper in _call_wrappers:
            stack.enter_context(wrapper())
        yield


def call_wrapped(fn: Callable[..., Any], args: Sequence[Any] = ()) -> Any:
    """Call sync user code inside the call wrappers."""
    with wrapped():
        return fn(*args)


# ── entity resolver ───────────────────────────────────────────────────────────────

EntityResolver = Callable[[str, str], Any]
_resolver: EntityResolver | None = None


def set_entity_resolver(resolver: EntityResolver | None) -> None:
    """Install how ``event.entity`` loads an entity from ``(entity_type, entity_id)``."""
    global _resolver
    _resolver = resolver


def entity_resolver() -> EntityResolver | None:
    """The installed entity resolver, if any."""
    return _resolver


# ── events ────────────────────────────────────────────────────────────────────────

EventStage = Literal["occurred", "scheduled", "rescheduled", "cancelled"]
# A hook gets the engine, the event's wire form, the original event object and the
# holder of a claim on the event (the claim filter's answer, occurred stage only), and
# returns the runs it started or signalled.
EventHook = Callable[[Any, EventWire, Any, str | None], Awaitable[list[Any]]]
# Who holds a claim on the event (an agent's run id), or None. Claimed events reach
# only the claimant and automations declared with ignores_claims=True.
ClaimFilter = Callable[[Any, EventWire, Any], Awaitable[str | None]]
# Puts a debounced handler's event into its key's window: (engine, handler, event, wire) -> Run.
DebounceCollector = Callable[[Any, Any, Any, EventWire], Awaitable[Any]]

_event_hooks: dict[str, list[EventHook]] = {
    "occurred": [], "scheduled": [], "rescheduled": [], "cancelled": [],
}
_claim_filter: ClaimFilter | None = None
_debounce_collector: DebounceCollector | None = None


def add_event_hook(stage: EventStage, hook: EventHook) -> None:
    """Call ``hook`` whenever an event reaches ``stage`` (idempotent)."""
    hooks = _event_hooks[stage]
    if hook not in hooks:
        hooks.append(hook)


def event_hooks(stage: EventStage) -> tuple[EventHook, ...]:
    """The hooks of ``stage``, in the order they were added."""
    return tuple(_event_hooks[stage])


def set_claim_filter(claim_filter: ClaimFilter | None) -> None:
    """Install the function that says whether an occurred event is claimed."""
    global _claim_filter
    _claim_filter = claim_filter


def claim_filter() -> ClaimFilter | None:
    """The installed claim filter, if any."""
    return _claim_filter


def set_debounce_collector(collector: DebounceCollector | None) -> None:
    """Install how debounced handlers collect their events."""
    global _debounce_collector
    _debounce_collector = collector


def debounce_collector() -> DebounceCollector | None:
    """The installed debounce collector, if any."""
    return _debounce_collector


# ── worker components ─────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class WorkerComponent:
    """Temporal workflows and activities a subsystem needs on every worker.

    Attributes:
        name: Unique name of the component (re-adding it replaces it).
        workflows: Workflow classes decorated with ``@temporalio.workflow.defn``.
        activities: Activity callables decorated with ``@temporalio.activity.defn``.
    """

    name: str
    workflows: tuple[type, ...] = ()
    activities: tuple[Callable[..., Any], ...] = ()


_components: dict[str, WorkerComponent] = {}


def add_worker_component(component: WorkerComponent) -> None:
    """Make ``component``'s workflows and activities part of every worker."""
    _components[component.name] = component


def worker_components() -> tuple[WorkerComponent, ...]:
    """Every registered worker component, in registration order."""
    return tuple(_components.values())


# ── program queues ────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ProgramQueues:
    """This program's own task queue, served by a worker inside it (script mode).

    Attributes:
        for_start: Given an automation's name, on the engine's loop: the queue its runs
            start on when no configured worker can run it (starting the in-process
            worker), or ``None`` for the engine's queue.
        running: The program's queue if its worker runs in this process, else ``None``
            (signals reach runs waiting there too).
    """

    for_start: Callable[[str], Awaitable[str | None]]
    running: Callable[[], str | None]


_program_queues: ProgramQueues | None = None


def set_program_queues(queues: ProgramQueues | None) -> None:
    """Install where runs of automations only this program can run start."""
    global _program_queues
    _program_queues = queues


def program_queues() -> ProgramQueues | None:
    """The installed program queues, if any (``durable_automation.timers`` installs them)."""
    return _program_queues


# ── programs ──────────────────────────────────────────────────────────────────────

# The router activity calls it with the step runner (thread pool, heartbeats, retry
# rules) and the activity's raw arguments.
ActivityProgram = Callable[[Any, Sequence[Any]], Awaitable[Any]]

_workflow_programs: dict[str, type] = {}
_activity_programs: dict[str, ActivityProgram] = {}


def set_workflow_program(kind: ProgramKind, program: type) -> None:
    """The class the router workflow runs for automations of ``kind``."""
    _workflow_programs[kind] = program


def workflow_program(kind: str) -> type | None:
    """The workflow program of ``kind``, if that kind's package was imported."""
    return _workflow_programs.get(kind)


def set_activity_program(kind: ProgramKind, program: ActivityProgram) -> None:
    """What the router activity runs for automations of ``kind``."""
    _activity_programs[kind] = program


def activity_program(kind: str) -> ActivityProgram | None:
    """The activity program of ``kind``, if that kind's package was imported."""
    return _activity_programs.get(kind)
