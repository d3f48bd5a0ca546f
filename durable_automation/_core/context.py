"""What a running step can see: its Context and facts about this execution."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ..exceptions import DurableAutomationError
from .wire import WakeWire

__all__ = ["StepInfo", "current", "get_context", "step_info"]


@dataclass(frozen=True)
class StepInfo:
    """Facts about the step execution in progress.

    Attributes:
        automation: Automation name.
        run_id: The run's id.
        step: Step name.
        visit: How many times this run has entered this step (1 for the first time).
        attempt: Temporal attempt number of this execution (1 unless retried).
        wake: Why the step was re-entered after a wait: the signal and its payload,
            or ``timed_out=True``; ``None`` otherwise.
        started_at: When the server started this attempt (virtual time under
            ``time_machine``).
    """

    automation: str
    run_id: str
    step: str
    visit: int
    attempt: int
    wake: WakeWire | None = None
    started_at: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        """A key stable across retries of this step visit: pass it to external APIs.

        Steps run at least once: a retry (or a worker crash mid-step) runs the step
        again with the same key, so an API that deduplicates on it acts once.
        """
        return f"{self.run_id}/{self.step}/{self.visit}"


@dataclass
class _Current:
    context: BaseModel
    info: StepInfo
    extra: dict[str, Any]


current: ContextVar[_Current | None] = ContextVar("durable_automation_step", default=None)


def get_context() -> Any:
    """Return the live Context of the running step; changes to it persist.

    Raises:
        DurableAutomationError: Called outside a step.
    """
    state = current.get()
    if state is None:
        raise DurableAutomationError(
            "get_context() was called outside a running step; call it from a method "
            "decorated with @step (or a handler)"
        )
    return state.context


def step_info() -> StepInfo:
    """Return facts about the running step (visit, attempt, idempotency key, wake reason)."""
    state = current.get()
    if state is None:
        raise DurableAutomationError("step_info() was called outside a running step")
    return state.info
