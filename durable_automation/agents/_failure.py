"""``on_failure=`` on agent ``@handler``\\s: a hook run once when a handler call fails for good.

An agent outlives its handler calls, so a failed call does not end it (it is recorded
as ``failed`` and the agent waits for its next event, as without a hook). With a hook,
the agent then runs ``hook(ctx, event, error)`` (a function) or ``method(self, ctx,
event, error)`` (the name of a method of the agent class) as the activity
``<agent>.<handler>:on_failure``: the handler's retry policy and timeout, no flow
control, and the same machinery as a handler, so the hook may change the Context
(kept), hold or release claims, and return ``complete()`` to end the agent.
A hook that raises is logged and recorded; the agent lives on.

The hook's command is behind ``workflow.patched("da-agent-on-failure")``: an agent
whose handler failed before the hook existed replays without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._core.definitions import takes_positional as _positional

__all__ = ["HOOK_SUFFIX", "PATCH", "check_hook", "failure_of", "hook_activity", "hook_label"]

HOOK_SUFFIX = ":on_failure"
PATCH = "da-agent-on-failure"
_WHAT = "(ctx, event, error)"


def check_hook(on_failure: Any, cls: type, handler_mark: str) -> list[str]:
    """Problems with a handler's ``on_failure=`` (``handler_mark``: the attribute that marks
    ``@handler`` methods)."""
    if on_failure is None:
        return []
    if isinstance(on_failure, str):
        method = getattr(cls, on_failure, None)
        if not callable(method):
            return [f"on_failure names {on_failure!r}, which is not a method of "
                    f"{cls.__qualname__}"]
        if getattr(method, handler_mark, None) is not None:
            # A handler runs for its own event; calling it as a hook would run it twice.
            return [f"on_failure names {on_failure!r}, a @handler; a hook is a plain method"]
        if not _positional(method, 4):
            return [f"on_failure method {cls.__qualname__}.{on_failure} must take "
                    f"(self, ctx, event, error)"]
        return []
    if not callable(on_failure):
        return [f"on_failure must be a function {_WHAT} or the name of a method, "
                f"got {on_failure!r}"]
    if not _positional(on_failure, 3):
        return [f"on_failure function {getattr(on_failure, '__qualname__', on_failure)!r} "
                f"must take three arguments {_WHAT}"]
    return []


def hook_activity(agent: str, handler: str) -> str:
    """The hook's activity type (its prefix is the agent, so the router finds the kind)."""
    return f"{agent}.{handler}{HOOK_SUFFIX}"


def hook_label(on_failure: str | Callable[..., Any]) -> str:
    """How the hook is named in the UI and the logs."""
    return on_failure if isinstance(on_failure, str) else str(
        getattr(on_failure, "__qualname__", on_failure))


def failure_of(cause: BaseException | None, fallback: str) -> dict[str, Any]:
    """What the hook's ``error`` is built from: ``{"message", "type"}`` of the activity
    failure's cause (the handler's exception)."""
    message = getattr(cause, "message", None) or str(cause or fallback)
    kind = getattr(cause, "type", None) or (type(cause).__name__ if cause else None)
    return {"message": message, "type": kind}
