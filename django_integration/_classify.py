"""Whether a failed delivery is worth retrying, from the error's gRPC status.

Three kinds (:func:`classify`): ``down`` (Temporal cannot be reached: stop, retry
later, counts no attempt), ``transient`` (overloaded, timed out: retry this row with
exponential backoff, dead after ``OUTBOX_MAX_ATTEMPTS``), ``permanent`` (an invalid
request, a ``create_context`` that raises: retrying cannot help, the row is dead at
once).
"""

from __future__ import annotations

from typing import Literal

from temporalio.service import RPCError, RPCStatusCode

from durable_automation.exceptions import EventDeliveryError, NotConnectedError

__all__ = ["Kind", "classify", "is_transient"]

Kind = Literal["down", "transient", "permanent"]

# Statuses that say "try again later": the server is overloaded, timed out, or hit an
# internal hiccup. UNAVAILABLE is separate: the server cannot be reached at all.
_TRANSIENT = frozenset({
    RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.ABORTED,
    RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED,
})


def classify(exc: BaseException) -> Kind:
    """Whether retrying a failed delivery can help, from the error's gRPC status.

    Returns:
        ``down``: Temporal cannot be reached (UNAVAILABLE, no connection) — retry the
        whole outbox later; ``transient``: this call may succeed later (overloaded,
        timed out) — retry this row with backoff; ``permanent``: the request itself is
        wrong (INVALID_ARGUMENT, a payload over the size limit, user code that raises)
        — retrying cannot help.
    """
    if isinstance(exc, EventDeliveryError):
        kinds = {classify(e) for e in exc.failures.values()}
        for kind in ("down", "transient"):
            if kind in kinds:
                return kind  # type: ignore[return-value]
        return "permanent"
    if isinstance(exc, (NotConnectedError, ConnectionError)):
        return "down"
    # RPCError, and the SDK's TemporalServiceError that wraps it, carry the status.
    status = getattr(exc, "status", None)
    if isinstance(exc, RPCError) or (status is not None and isinstance(status, RPCStatusCode)):
        if status == RPCStatusCode.UNAVAILABLE:
            return "down"
        return "transient" if status in _TRANSIENT else "permanent"
    if isinstance(exc, TimeoutError):
        return "transient"
    return "permanent"


def is_transient(exc: BaseException) -> bool:
    """Whether an error may go away by itself (unreachable, overloaded, timed out)."""
    return classify(exc) != "permanent"

