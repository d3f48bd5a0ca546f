"""The frozen definitions the decorators build: step workflows and event handlers.

Plain data, read by the engine (to start runs), the router workflow and activity (to
run them) and the decorators of ``workflows`` and ``events`` (which build them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel

from .batch import Batch
from .cancel_on import CancelOn
from .retry import Retry

__all__ = ["HandlerDefinition", "HandlerKind", "StepDefinition", "WorkflowDefinition",
           "takes_positional"]


@dataclass(frozen=True)
class StepDefinition:
    """One step of a workflow.

    Attributes:
        name: The method name (also the Temporal activity type suffix).
        retry: Its retry policy (``None`` = the class default, else no retry).
        timeout: Longest one attempt may take (``None`` = the ``STEP_TIMEOUT`` setting).
        takes_context: Whether the method accepts the Context as an argument.
        local: Run as a Temporal local activity (``@step(local=True)``, docs/workflows.md).
    """

    name: str
    retry: Retry | None = None
    timeout: timedelta | None = None
    start: bool = False
    takes_context: bool = False
    local: bool = False


@dataclass(frozen=True)
class WorkflowDefinition:
    """A registered step workflow.

    Attributes:
        name: Automation name = Temporal workflow type.
        cls: The decorated class.
        context_cls: Its nested pydantic ``Context``.
        steps: Steps by name.
        start_step: Name of the ``start=True`` step.
        event_name: For ``@event_workflow``: the event that starts it.
        offset: For ``@event_workflow``: start at event time + offset.
        default_retry: Retry for steps that do not declare one.
        renamed_steps: Old step name -> new name, for runs in flight that still name a
            step which was renamed (see docs/deploy-safety.md).
    """

    name: str
    cls: type
    context_cls: type[BaseModel]
    steps: dict[str, StepDefinition]
    start_step: str
    event_name: str | None = None
    offset: timedelta = timedelta(0)
    default_retry: Retry | None = None
    renamed_steps: dict[str, str] = field(default_factory=dict)
    # cancel_on / on_failure: see workflows/_cancel_on.py and workflows/_failure.py.
    cancel_on: tuple[CancelOn, ...] = ()
    on_failure: str | Callable[..., Any] | None = None

    @property
    def qualname(self) -> str:
        """``module.Class`` of the decorated class."""
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    @property
    def kind(self) -> str:
        """``event_workflow`` or ``workflow``."""
        return "event_workflow" if self.event_name else "workflow"

    def retry_for(self, step_name: str) -> Retry | None:
        """The effective retry of a step."""
        return self.steps[step_name].retry or self.default_retry

    def create_context(self, *args: Any, **kwargs: Any) -> BaseModel:
        """Call the class's ``create_context`` and check it returned a Context."""
        ctx = self.cls.create_context(*args, **kwargs)  # type: ignore[attr-defined]
        if not isinstance(ctx, self.context_cls):
            raise TypeError(
                f"{self.cls.__qualname__}.create_context returned {type(ctx).__name__}, "
                f"expected {self.cls.__qualname__}.Context"
            )
        return ctx


HandlerKind = Literal["occurred", "created", "cancelled"]


@dataclass(frozen=True)
class HandlerDefinition:
    """A single-step automation run when an event occurs, is created or is cancelled.

    Attributes:
        name: Automation name = Temporal workflow type (defaults to the function name).
        fn: The handler function; it receives the event.
        event_name: The event it listens to.
        kind: ``occurred``, ``created`` or ``cancelled``.
        retry: Retry policy for the handler.
        ignores_claims: Run even when an agent has claimed the event.
        timeout: Longest one attempt may run (default: the ``STEP_TIMEOUT`` setting).
        debounce_window: Set for a debounced handler: it runs once a key's events have
            been quiet this long, with all of them (see
            :class:`~durable_automation.events.EventBatch`).
        debounce_key: Groups a debounced handler's events: a function of the event or a
            ``{{ event.<field> }}`` template (``None``: one group).
        max_wait: Run a debounced handler at the latest this long after a window's first event.
    """

    name: str
    fn: Callable[..., Any]
    event_name: str
    kind: HandlerKind = "occurred"
    retry: Retry | None = None
    ignores_claims: bool = False
    timeout: timedelta | None = None
    debounce_window: timedelta | None = None
    debounce_key: Callable[[Any], Any] | str | None = None
    max_wait: timedelta | None = None
    # batch / on_failure: see events/_batch.py and workflows/_failure.py.
    batch: Batch | None = None
    on_failure: Callable[..., Any] | None = None

    @property
    def qualname(self) -> str:
        """``module.function``."""
        return f"{self.fn.__module__}.{self.fn.__qualname__}"


def takes_positional(fn: Callable[..., Any], count: int) -> bool:
    """Whether ``fn`` can be called with ``count`` positional arguments (a hook's
    signature, checked at decoration time); a callable without a readable signature
    passes, and its call will tell."""
    try:
        inspect.signature(fn).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:
        return True
    return True
