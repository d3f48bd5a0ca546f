"""``Run``: a handle on one automation run (one Temporal workflow execution)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from .._core.channels import check_payload_size
from .._core.registry import registry
from .._core.wire import DIRECT_SIGNAL_UPDATE, STATE_QUERY, RunState
from ..exceptions import (
    RunCancelledError,
    RunFailedError,
    RunNotFoundError,
    SignalPayloadError,
)

if TYPE_CHECKING:
    from .engine import Engine
    from .reset import ResetPoint

__all__ = ["Run", "RunStatus"]

RunStatus = Literal["running", "waiting", "completed", "failed", "cancelled"]

_CLOSED: dict[WorkflowExecutionStatus, RunStatus] = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "cancelled",
}


class Run:
    """A handle on one run. Every method that talks to Temporal has an ``a``-prefixed twin.

    Attributes:
        id: The run's id (its Temporal workflow id), e.g. ``reindex_listing:listing_id=123:1f2e``.
        automation: The automation's name, when known.
    """

    def __init__(self, engine: Engine, run_id: str, automation: str | None = None) -> None:
        self.id = run_id
        self.automation = automation
        self._engine = engine

    def __repr__(self) -> str:
        return f"<Run {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    async def _handle(self) -> WorkflowHandle[Any, Any]:
        client = await self._engine._aclient()
        return client.get_workflow_handle(self.id)

    # ── result ────────────────────────────────────────────────────────────────────

    async def aresult(self, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait for the run to end and return its ``complete(...)`` result.

        Raises:
            RunFailedError: The run failed (``fail()``, or a step's retries ran out).
            RunCancelledError: The run was cancelled or terminated.
            RunWaitsForeverError: Under ``time_machine()``, the run waits for a signal
                with no timeout, so advancing virtual time cannot end it.
            TimeoutError: ``timeout`` seconds (of real time) passed first.
        """
        return await self._engine._on_loop(self._result, timeout)

    async def _result(self, timeout: float | None) -> dict[str, Any]:  # noqa: ASYNC109
        handle = await self._handle()
        # Under time_machine, the binding drives virtual time until this run ends
        # (Temporal's test server would otherwise leave it waiting forever).
        drive = self._engine._ensure().drive
        try:
            async with asyncio.timeout(timeout):
                if drive is not None:
                    await drive(self.id)
                result = await handle.result()
        except WorkflowFailureError as err:
            cause = err.cause
            if isinstance(cause, (CancelledError, TerminatedError)):
                raise RunCancelledError(self.id) from None
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise RunFailedError(self.id, reason) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFoundError(self.id) from None
            raise
        return result if isinstance(result, dict) else {"result": result}

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        """Sync twin of :meth:`aresult`."""
        return self._engine._blocking(self.aresult, timeout, name="Run.result")

    # ── status and state ─────────────────────────────────────────────────────────

    async def astatus(self) -> RunStatus:
        """``running``, ``waiting`` (sleeping, waiting or scheduled), ``completed``, ``failed``
        or ``cancelled``."""
        return await self._engine._on_loop(self._status)

    async def _status(self) -> RunStatus:
        handle = await self._handle()
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFoundError(self.id) from None
            raise
        status = description.status
        if status in _CLOSED:
            return _CLOSED[status]
        state = await self._state(handle)
        if state is not None and state.phase != "running":
            return "waiting"
        return "running"

    def status(self) -> RunStatus:
        """Sync twin of :meth:`astatus`."""
        return self._engine._blocking(self.astatus, name="Run.status")

    async def _state(self, handle: WorkflowHandle[Any, Any]) -> RunState | None:
        try:
            return await handle.query(STATE_QUERY, result_type=RunState)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFoundError(self.id) from None
            return None  # no worker is answering queries right now

    async def astate(self) -> RunState:
        """The run's live state: step, phase, what it waits for and until when, Context."""
        return await self._engine._on_loop(self._astate)

    async def _astate(self) -> RunState:
        state = await self._state(await self._handle())
        if state is None:
            raise RunNotFoundError(self.id)
        return state

    def state(self) -> RunState:
        """Sync twin of :meth:`astate`."""
        return self._engine._blocking(self.astate, name="Run.state")

    async def acontext(self) -> BaseModel | dict[str, Any]:
        """The run's current Context (the automation's Context model when it is registered here)."""
        state = await self.astate()
        definition = registry.workflows.get(state.automation)
        if definition is None:
            return state.context
        return definition.context_cls.model_validate(state.context)

    def context(self) -> Any:
        """Sync twin of :meth:`acontext`."""
        return self._engine._blocking(self.acontext, name="Run.context")

    async def acurrent_step(self) -> str | None:
        """Name of the step the run is in (or last ran)."""
        return (await self.astate()).step

    def current_step(self) -> str | None:
        """Sync twin of :meth:`acurrent_step`."""
        return self._engine._blocking(self.acurrent_step, name="Run.current_step")

    # ── control ──────────────────────────────────────────────────────────────────

    async def asignal(self, signal: str, payload: dict[str, Any] | None = None) -> bool:
        """Wake this run if it waits for ``signal``; return whether it was woken.

        Raises:
            SignalPayloadError: The payload does not fit the run's Context (it stays
                waiting, Context unchanged).
        """
        return await self._engine._on_loop(self._signal, signal, payload)

    async def _signal(self, signal: str, payload: dict[str, Any] | None) -> bool:
        handle = await self._handle()
        await check_payload_size(self._engine._ensure().client.data_converter, payload)
        try:
            return bool(
                await handle.execute_update(DIRECT_SIGNAL_UPDATE, args=[signal, payload],
                                            result_type=bool)
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            kind = getattr(cause, "type", None)
            if kind == "NotWaiting":
                return False
            if kind == "InvalidPayload":
                raise SignalPayloadError(getattr(cause, "message", str(cause))) from None
            raise
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False  # the run has ended: it is waiting for nothing
            raise

    def signal(self, signal: str, payload: dict[str, Any] | None = None) -> bool:
        """Sync twin of :meth:`asignal`."""
        return self._engine._blocking(self.asignal, signal, payload, name="Run.signal")

    async def acancel(self) -> None:
        """Request cancellation; a running step is asked to stop, the run ends ``cancelled``."""
        await self._engine._on_loop(self._cancel)

    async def _cancel(self) -> None:
        try:
            await (await self._handle()).cancel()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFoundError(self.id) from None
            raise

    def cancel(self) -> None:
        """Sync twin of :meth:`acancel`."""
        self._engine._blocking(self.acancel, name="Run.cancel")

    # ── operations ───────────────────────────────────────────────────────────────

    async def areset(self, to_step: str, visit: int | None = None) -> ResetPoint:
        """Run again from ``to_step`` (after a bug fix), with the Context it had when that
        step began, using Temporal's reset. See docs/operating-runs.md.

        Args:
            to_step: The step to run again.
            visit: Which time the run entered that step (1 = first); default the latest.

        Raises:
            ResetError: No such step, or it has no such visit in the run's current
                execution (agents and runs that continued as new go back only within it).
        """
        from .reset import reset_run

        client = await self._engine._aclient()
        return await self._engine._on_loop(reset_run, client, self.id, to_step, visit)

    def reset(self, to_step: str, visit: int | None = None) -> ResetPoint:
        """Sync twin of :meth:`areset`."""
        return self._engine._blocking(self.areset, to_step, visit, name="Run.reset")
