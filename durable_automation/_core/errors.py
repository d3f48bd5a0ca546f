"""temporalio's errors, turned into the SDK's own (``exceptions.py``) at the public boundary.

The sync/async bridge (``_runtime.call_sync`` / ``call_async``) passes every error
through :func:`sdk_error`, so a user never sees a raw ``RPCError`` or
``WorkflowFailureError``, and always gets a message that says what to do.

SDK code written before this translation existed catches ``RPCError`` around bridged
calls (``except RPCError as err: if err.status == NOT_FOUND``). So an error that came
from a gRPC status is raised as a private subclass that is both the SDK's error and
an ``RPCError`` with the same status: that code, and users' own ``except RPCError``,
keep working. The subclasses carry their public parent's name, which is what
tracebacks and logs show.
"""

from __future__ import annotations

from types import TracebackType

from temporalio.client import (
    RPCTimeoutOrCancelledError,
    ScheduleAlreadyRunningError,
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    FailureError,
    TemporalError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError, RPCStatusCode

from ..exceptions import (
    DurableAutomationError,
    NotConnectedError,
    RunCancelledError,
    RunFailedError,
    TemporalServiceError,
)

__all__ = ["advice", "is_temporal_error", "sdk_error"]

_SERVER_FAILED = "The server failed the call: retry it, and read the server's log if it persists."

_ADVICE: dict[RPCStatusCode, str] = {
    RPCStatusCode.INVALID_ARGUMENT: (
        "The server refused the call's arguments. If a payload is involved (a Context, "
        "a signal payload, task arguments), keep it under Temporal's 2 MB limit: store "
        "large data elsewhere (the database, object storage) and pass its id."
    ),
    RPCStatusCode.NOT_FOUND: (
        "Nothing with that id exists in the namespace: check the id and the NAMESPACE "
        "setting. A run that ended is kept only for the namespace's retention period."
    ),
    RPCStatusCode.ALREADY_EXISTS: (
        "Something with that id already exists: use another id, or use the existing one."
    ),
    RPCStatusCode.FAILED_PRECONDITION: (
        "The target is not in a state that allows this call (for example, the run has "
        "already ended): check its status first."
    ),
    RPCStatusCode.PERMISSION_DENIED: (
        "These credentials may not do this: check the API_KEY / TLS settings and the "
        "namespace's permissions."
    ),
    RPCStatusCode.UNAUTHENTICATED: (
        "The server did not accept the credentials: check the API_KEY and TLS settings."
    ),
    RPCStatusCode.RESOURCE_EXHAUSTED: (
        "The server is rate-limiting or a limit was reached: retry later, or make fewer calls."
    ),
    RPCStatusCode.DEADLINE_EXCEEDED: (
        "The call timed out: check that the server is healthy and that a worker is "
        "running on the task queue, then retry."
    ),
    RPCStatusCode.CANCELLED: "The call was cancelled before it finished: retry it.",
    RPCStatusCode.UNIMPLEMENTED: (
        "This server does not support the call. The time-skipping test server "
        "(time_machine) has no schedules and no visibility list: use a dev server "
        "(`durable-automation dev`) for those."
    ),
    RPCStatusCode.OUT_OF_RANGE: "A value is out of the range the server accepts: check it.",
}


def advice(status: RPCStatusCode | None) -> str:
    """What to do about a call that failed with ``status``."""
    if status is None:
        return _SERVER_FAILED
    return _ADVICE.get(status, _SERVER_FAILED)


class _RPCServiceError(TemporalServiceError, RPCError):  # type: ignore[misc]
    """A :class:`TemporalServiceError` from a gRPC status; also an ``RPCError``."""

    def __init__(self, message: str, err: RPCError) -> None:
        RPCError.__init__(self, message, err.status, err.raw_grpc_status)
        self.rpc_message = err.message


class _RPCNotConnectedError(NotConnectedError, RPCError):  # type: ignore[misc]
    """A :class:`NotConnectedError` from a call the server did not answer (UNAVAILABLE)."""

    def __init__(self, message: str, err: RPCError) -> None:
        RPCError.__init__(self, message, err.status, err.raw_grpc_status)
        self.rpc_message = err.message


for _cls, _public in ((_RPCServiceError, TemporalServiceError),
                      (_RPCNotConnectedError, NotConnectedError)):
    # Tracebacks and ``type(err).__name__`` show the public class users catch.
    _cls.__name__ = _cls.__qualname__ = _public.__name__
    _cls.__module__ = _public.__module__


def _where(operation: str | None) -> str:
    return f"{operation}() failed" if operation else "A call to Temporal failed"


def is_temporal_error(err: BaseException) -> bool:
    """Whether ``err`` was raised by temporalio (its types, or a RuntimeError of its own)."""
    if isinstance(err, TemporalError):
        return True
    if type(err) is RuntimeError:
        # temporalio raises bare RuntimeErrors too ("Failed client connect: ...", "No
        # completion event found"): tell them from user code's by where they came from.
        tb: TracebackType | None = err.__traceback__
        module = ""
        while tb is not None:
            module = tb.tb_frame.f_globals.get("__name__", "")
            tb = tb.tb_next
        return module.startswith("temporalio.")
    return False


def sdk_error(err: BaseException, operation: str | None = None) -> DurableAutomationError | None:
    """The SDK error to raise (``from err``) instead of ``err``; ``None`` to let it through.

    Args:
        err: What a call raised.
        operation: The public call's name (``engine.start``), for the message.
    """
    if isinstance(err, DurableAutomationError) or not is_temporal_error(err):
        return None
    where = _where(operation)
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.UNAVAILABLE:
            return _RPCNotConnectedError(
                f"{where}: the Temporal server did not answer ({err.message}). Is it "
                "running and reachable? Start one with `durable-automation dev`, or check "
                "the ADDRESS setting; then retry.", err,
            )
        return _RPCServiceError(
            f"{where}: Temporal refused it with {err.status.name}: {err.message}. "
            f"{advice(err.status)}", err,
        )
    if isinstance(err, WorkflowFailureError):
        cause = err.cause
        if isinstance(cause, (CancelledError, TerminatedError)):
            return RunCancelledError("")
        reason = cause.message if isinstance(cause, FailureError) else str(cause)
        return RunFailedError("", reason)
    if isinstance(err, WorkflowAlreadyStartedError):
        return TemporalServiceError(
            f"{where}: a workflow with id {err.workflow_id!r} ({err.workflow_type}) is "
            f"already running. {advice(RPCStatusCode.ALREADY_EXISTS)}",
            status=RPCStatusCode.ALREADY_EXISTS, rpc_message=err.message,
        )
    if isinstance(err, ScheduleAlreadyRunningError):
        return TemporalServiceError(
            f"{where}: a schedule with that id already exists. "
            f"{advice(RPCStatusCode.ALREADY_EXISTS)}",
            status=RPCStatusCode.ALREADY_EXISTS, rpc_message=str(err),
        )
    if isinstance(err, RPCTimeoutOrCancelledError):
        return TemporalServiceError(
            f"{where}: no answer before the call's deadline. "
            f"{advice(RPCStatusCode.DEADLINE_EXCEEDED)}",
            status=RPCStatusCode.DEADLINE_EXCEEDED, rpc_message=str(err),
        )
    if isinstance(err, (WorkflowQueryFailedError, WorkflowQueryRejectedError)):
        detail = getattr(err, "message", None) or str(err)
        return TemporalServiceError(
            f"{where}: the run could not answer a query ({detail}). Check that the id is "
            "a run of this SDK and that a worker that registers its automation is running.",
            rpc_message=detail,
        )
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        return TemporalServiceError(f"{where}: the run refused the request: {detail}",
                                    rpc_message=detail)
    if isinstance(err, WorkflowContinuedAsNewError):
        return TemporalServiceError(
            f"{where}: the run continued as new (run {err.new_execution_run_id}); ask "
            "again for the latest run.", rpc_message=str(err),
        )
    if isinstance(err, RuntimeError) and "connect" in str(err).lower():
        return NotConnectedError(
            f"{where}: cannot connect to the Temporal server ({err}). Is it running and "
            "reachable? Start one with `durable-automation dev`, or check the ADDRESS "
            "setting; then retry."
        )
    if isinstance(err, FailureError):
        return None  # a workflow or activity failure that user code raised or handles
    return TemporalServiceError(f"{where}: {type(err).__name__}: {err}. {_SERVER_FAILED}",
                                rpc_message=str(err))
