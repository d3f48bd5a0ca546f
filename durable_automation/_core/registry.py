"""The registry: decorators fill it at import time, before any worker or client exists.

It maps names to frozen definitions. The worker reads it to know what to run; the
engine reads it to start runs and route events. Subsystems (timers, the scheduler,
the Django relay) contribute extra Temporal workflows and activities through
:func:`~durable_automation._core.hooks.add_worker_component`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..exceptions import RegistrationError, UnknownAutomationError

if TYPE_CHECKING:
    from ..agents._definitions import AgentDefinition
    from .definitions import HandlerDefinition, WorkflowDefinition

__all__ = ["Registry", "import_automation_modules", "registry"]


@dataclass
class Registry:
    """All registered automations and event handlers."""

    workflows: dict[str, WorkflowDefinition] = field(default_factory=dict)
    handlers: dict[str, HandlerDefinition] = field(default_factory=dict)
    agents: dict[str, AgentDefinition] = field(default_factory=dict)
    # Any automation kind (agents, tasks...) registers its name here so names stay unique
    # across kinds: a name is a Temporal workflow type, and the UI lists runs by it.
    _owners: dict[str, str] = field(default_factory=dict)

    def claim_name(self, name: str, owner: str) -> None:
        """Reserve ``name`` for ``owner`` (a qualified name); re-registering the same owner is fine.

        Raises:
            RegistrationError: Another definition already has this name.
        """
        current = self._owners.get(name)
        if current is not None and current != owner:
            raise RegistrationError(
                f"The name {name!r} is already used by {current}; {owner} needs another name"
            )
        self._owners[name] = owner

    def add_workflow(self, definition: WorkflowDefinition) -> None:
        """Register a step workflow."""
        self.claim_name(definition.name, definition.qualname)
        self.workflows[definition.name] = definition

    def add_handler(self, definition: HandlerDefinition) -> None:
        """Register a single-step event handler."""
        self.claim_name(definition.name, definition.qualname)
        self.handlers[definition.name] = definition

    def add_agent(self, definition: AgentDefinition) -> None:
        """Register a long-running agent."""
        self.claim_name(definition.name, definition.qualname)
        self.agents[definition.name] = definition

    def kind_of(self, name: str) -> str | None:
        """``"workflow"``, ``"handler"`` or ``"agent"``: which program runs ``name``."""
        if name in self.agents:
            return "agent"
        if name in self.handlers:
            return "handler"
        if name in self.workflows:
            return "workflow"
        return None

    def get_workflow(self, name: str) -> WorkflowDefinition:
        """Return the step workflow named ``name``.

        Raises:
            UnknownAutomationError: No such workflow is registered.
        """
        try:
            return self.workflows[name]
        except KeyError:
            raise UnknownAutomationError(name, list(self.workflows)) from None

    def event_workflows(self, event_name: str) -> list[WorkflowDefinition]:
        """Step workflows started by ``event_name``, in registration order."""
        return [d for d in self.workflows.values() if d.event_name == event_name]

    def event_handlers(self, event_name: str, kind: str) -> list[HandlerDefinition]:
        """Handlers of ``kind`` (``occurred``/``created``/``cancelled``) for ``event_name``."""
        return [
            h for h in self.handlers.values() if h.event_name == event_name and h.kind == kind
        ]

    def event_names(self) -> set[str]:
        """Every event name some automation listens to."""
        names = {d.event_name for d in self.workflows.values() if d.event_name}
        names |= {h.event_name for h in self.handlers.values()}
        return names

    def names(self) -> list[str]:
        """Every registered automation name."""
        return sorted(self._owners)

    def unregister(self, name: str) -> None:
        """Forget ``name`` (used by tests that define throw-away automations)."""
        self.workflows.pop(name, None)
        self.handlers.pop(name, None)
        self.agents.pop(name, None)
        self._owners.pop(name, None)


registry = Registry()


def import_automation_modules(modules: Iterable[str]) -> list[str]:
    """Import modules so their decorators register; return the names imported.

    Raises:
        RegistrationError: A module cannot be imported (the message names it).
    """
    imported = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise RegistrationError(f"Cannot import automation module {module!r}: {exc}") from exc
        imported.append(module)
    return imported
