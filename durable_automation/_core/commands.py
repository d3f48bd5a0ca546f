"""Control-flow commands a step returns: ``goto``, ``sleep``, ``wait``, ``complete``, ``fail``.

Commands are plain values. The step runs in an activity; its command travels back to
the workflow (the interpreter), which turns it into a Temporal timer, a signal wait,
the next activity, or the end of the run.

Resumption: after ``sleep``/``wait``/``wait_for_event`` the run re-enters the step
that returned the command (so a step can check the Context and decide again), unless
``then=`` names the step to continue with. A ``wait`` that times out goes to
``on_timeout`` when given, and otherwise also re-enters (or goes to ``then``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..exceptions import InvalidCommandError
from .wire import CommandWire

__all__ = [
    "Command",
    "Complete",
    "Fail",
    "Goto",
    "Sleep",
    "Wait",
    "complete",
    "fail",
    "goto",
    "sleep",
    "step_name",
    "to_wire",
    "wait",
    "wait_for_event",
]

StepRef = str | Callable[..., Any]


def step_name(ref: StepRef | None) -> str | None:
    """Return the step name for a method, function or name (``None`` passes through)."""
    if ref is None or isinstance(ref, str):
        return ref
    name = getattr(ref, "__name__", None)
    if not isinstance(name, str):
        raise InvalidCommandError(f"{ref!r} is not a step: pass the step method or its name")
    return name


def _duration(value: timedelta | float, what: str) -> timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise InvalidCommandError(
            f"{what} must be a timedelta or a number of seconds, got {value!r}")
    if value < timedelta(0):
        raise InvalidCommandError(f"{what} must not be negative, got {value}")
    return value


@dataclass(frozen=True)
class Goto:
    """Continue with another step."""

    step: str


@dataclass(frozen=True)
class Sleep:
    """Sleep durably (a Temporal timer), then re-enter the step or continue with ``then``."""

    duration: timedelta
    then: str | None = None


@dataclass(frozen=True)
class Wait:
    """Wait for a signal (or an event's ``event:<name>`` channel)."""

    signal: str
    timeout: timedelta | None = None
    on_timeout: str | None = None
    then: str | None = None


@dataclass(frozen=True)
class Complete:
    """End the run successfully; ``result`` becomes the run's result."""

    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """End the run as failed with ``reason``; never retried."""

    reason: str


Command = Goto | Sleep | Wait | Complete | Fail


def goto(step: StepRef) -> Goto:
    """Continue with ``step`` (the method, e.g. ``self.finalize``, or its name)."""
    name = step_name(step)
    assert name is not None
    return Goto(name)


def sleep(duration: timedelta | float, *, then: StepRef | None = None) -> Sleep:
    """Sleep for ``duration`` (a durable timer), then re-enter this step or go to ``then``."""
    return Sleep(_duration(duration, "sleep duration"), step_name(then))


class _WaitCommand:
    """``wait(signal, ...)`` and its alias ``wait.for_signal(signal, ...)``."""

    def __call__(
        self,
        signal: str,
        timeout: timedelta | float | None = None,
        on_timeout: StepRef | None = None,
        *,
        then: StepRef | None = None,
    ) -> Wait:
        """Wait until ``engine.signal(signal, ...)`` is sent.

        Args:
            signal: The signal name.
            timeout: Give up waiting after this long (``None`` = wait forever).
            on_timeout: Step to continue with on timeout (default: re-enter this step).
            then: Step to continue with when woken (default: re-enter this step).
        """
        if not isinstance(signal, str) or not signal:
            raise InvalidCommandError(f"wait() needs a non-empty signal name, got {signal!r}")
        return Wait(
            signal=signal,
            timeout=None if timeout is None else _duration(timeout, "wait timeout"),
            on_timeout=step_name(on_timeout),
            then=step_name(then),
        )

    def for_signal(
        self,
        signal: str,
        timeout: timedelta | float | None = None,
        on_timeout: StepRef | None = None,
        *,
        then: StepRef | None = None,
    ) -> Wait:
        """Same as ``wait(signal, ...)``."""
        return self(signal, timeout, on_timeout, then=then)


wait = _WaitCommand()


def wait_for_event(
    event_name: str,
    timeout: timedelta | float | None = None,
    on_timeout: StepRef | None = None,
    *,
    then: StepRef | None = None,
) -> Wait:
    """Wait until an event named ``event_name`` occurs (channel ``event:<name>``)."""
    return wait(f"event:{event_name}", timeout, on_timeout, then=then)


def complete(**result: Any) -> Complete:
    """End the run successfully with ``result`` as its result."""
    return Complete(dict(result))


def fail(reason: str) -> Fail:
    """End the run as failed (not retried)."""
    return Fail(str(reason))


def to_wire(value: object, where: str) -> CommandWire:
    """Turn a step's return value into its wire form.

    Args:
        value: What the step returned (``None`` means complete).
        where: ``automation.step``, for the error message.

    Raises:
        InvalidCommandError: The value is not a command.
    """
    match value:
        case None:
            return CommandWire(kind="complete")
        case Complete(result=result):
            return CommandWire(kind="complete", result=result)
        case Goto(step=s):
            return CommandWire(kind="goto", step=s)
        case Sleep(duration=d, then=t):
            return CommandWire(kind="sleep", duration=d, then=t)
        case Wait(signal=s, timeout=d, on_timeout=o, then=t):
            return CommandWire(kind="wait", signal=s, duration=d, on_timeout=o, then=t)
        case Fail(reason=r):
            return CommandWire(kind="fail", reason=r)
    raise InvalidCommandError(
        f"Step {where} returned {value!r}; a step must return goto(), sleep(), wait(), "
        "wait_for_event(), complete(), fail() or None"
    )
