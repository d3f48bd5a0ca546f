"""The exceptions raised by durable-automation.

Every exception the SDK raises on purpose derives from one root, so
``except DurableAutomationError`` catches them all::

    DurableAutomationError
    ├── DefinitionError            a decorated class or function is invalid (decoration time)
    ├── RegistrationError          two automations/tasks share a name, or a name is unknown
    │   ├── UnknownAutomationError
    │   └── UnknownTaskError       a timer names a task that is not registered with @task
    ├── ConfigurationError         settings are missing or wrong
    ├── EntityNotFoundError        an event's entity (model or row) no longer exists
    ├── NotConnectedError          no Temporal server could be reached
    ├── TemporalServiceError       the Temporal server refused or failed a call (gRPC status kept)
    ├── SyncCallInEventLoopError   a sync call was made where the async twin is required
    ├── SignalPayloadError         a signal payload does not validate against a waiting Context
    ├── InvalidContextError        a Context cannot be stored (not JSON-serialisable)
    ├── InvalidCommandError        a step returned something that is not a command
    ├── ClaimHeldError             events are already claimed by another agent
    ├── InvalidScheduleError       a bad cron field, time zone, interval or past one-shot
    └── RunError                   something about one run
        ├── RunFailedError         the run ended in failure (``fail()`` or an exhausted retry)
        ├── RunCancelledError      the run was cancelled
        ├── RunNotFoundError       no run has that id
        ├── ResetError             a run cannot be reset to that step or visit
        └── RunWaitsForeverError   under ``time_machine()``, an awaited run waits with no deadline
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # temporalio.service loads temporalio's native core: only for type hints
    from temporalio.service import RPCStatusCode

__all__ = [
    "ClaimHeldError",
    "ConfigurationError",
    "DefinitionError",
    "DurableAutomationError",
    "EntityNotFoundError",
    "EventDeliveryError",
    "InvalidCommandError",
    "InvalidContextError",
    "InvalidScheduleError",
    "NotConnectedError",
    "RegistrationError",
    "ResetError",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "RunNotFoundError",
    "RunWaitsForeverError",
    "SignalPayloadError",
    "SyncCallInEventLoopError",
    "TemporalServiceError",
    "UnknownAutomationError",
    "UnknownTaskError",
]


class DurableAutomationError(Exception):
    """Root of every error durable-automation raises on purpose."""


class DefinitionError(DurableAutomationError):
    """A decorated automation is invalid; raised when the decorator runs.

    Attributes:
        target: The qualified name of the class or function being decorated.
        problems: Every problem found, so all can be fixed in one pass.
    """

    def __init__(self, target: str, problems: Sequence[str]) -> None:
        self.target = target
        self.problems = list(problems)
        count = len(self.problems)
        reason = "reason" if count == 1 else "reasons"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Invalid automation {target} for {count} {reason}:\n{lines}")


class RegistrationError(DurableAutomationError):
    """A name is registered twice, or a name that was looked up is not registered."""


class UnknownAutomationError(RegistrationError):
    """No automation is registered under the given name.

    Attributes:
        name: The name that was looked up.
    """

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        hint = f" Registered automations: {', '.join(sorted(known))}." if known else ""
        super().__init__(
            f"No automation named {name!r} is registered; was the module defining it "
            f"imported (or listed in DURABLE_AUTOMATION['AUTOMATION_MODULES'])?{hint}"
        )


class ConfigurationError(DurableAutomationError):
    """A setting is missing or has a value that cannot work."""


class NotConnectedError(DurableAutomationError):
    """The Temporal server could not be reached.

    Attributes:
        status: The gRPC status of the failed call (``RPCStatusCode.UNAVAILABLE``), or
            ``None`` when no connection could be opened at all.
        rpc_message: The server's (or transport's) own message, when there was a call.
    """

    def __init__(
        self, message: str, status: RPCStatusCode | None = None, rpc_message: str = ""
    ) -> None:
        Exception.__init__(self, message)
        self._status = status
        self.rpc_message = rpc_message

    @property
    def status(self) -> RPCStatusCode | None:
        """The gRPC status code, if the failed call got one."""
        return self._status


class TemporalServiceError(DurableAutomationError):
    """The Temporal server refused or failed a call (a gRPC error), or a run refused a
    query or update. The message says what to do.

    Attributes:
        status: The gRPC status code (``temporalio.service.RPCStatusCode``), e.g.
            ``INVALID_ARGUMENT`` or ``NOT_FOUND``; ``None`` when the refusal did not come
            with one (a query or update the run itself rejected).
        rpc_message: The server's (or run's) own message, unchanged.
    """

    def __init__(
        self, message: str, *, status: RPCStatusCode | None = None, rpc_message: str = ""
    ) -> None:
        Exception.__init__(self, message)
        self._status = status
        self.rpc_message = rpc_message

    @property
    def status(self) -> RPCStatusCode | None:
        """The gRPC status code, if the server sent one."""
        return self._status


class SyncCallInEventLoopError(DurableAutomationError):
    """A blocking call was made from inside a running event loop."""


class SignalPayloadError(DurableAutomationError, ValueError):
    """A signal payload does not validate against the Context of a run waiting for it.

    Nothing was delivered: every waiting run keeps waiting with its Context intact.
    """


class InvalidCommandError(DurableAutomationError):
    """A step returned a value that is not a command, or a command naming an unknown step."""


class RunError(DurableAutomationError):
    """An error about one run.

    Attributes:
        run_id: The run's id (its Temporal workflow id).
    """

    def __init__(self, run_id: str, message: str) -> None:
        self.run_id = run_id
        super().__init__(message)


class RunFailedError(RunError):
    """The run ended in failure.

    Attributes:
        reason: The ``fail()`` reason, or the error of the step whose retries ran out.
        step: The step that failed, when known (an ``on_failure`` hook gets it).
        error_type: The failing exception's type name, when known.
    """

    def __init__(self, run_id: str, reason: str, *, step: str | None = None,
                 error_type: str | None = None) -> None:
        self.reason = reason
        self.step = step
        self.error_type = error_type
        # An empty id: a failure surfaced where the run's id is not known.
        super().__init__(run_id, f"Run {run_id} failed: {reason}" if run_id
                         else f"A run failed: {reason}")


class RunCancelledError(RunError):
    """The run was cancelled before it completed."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id, f"Run {run_id} was cancelled" if run_id
                         else "A run was cancelled")


class RunNotFoundError(RunError):
    """No run exists with the given id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id, f"No run with id {run_id!r} exists")


class ResetError(RunError):
    """``run.reset(to_step=..., visit=...)`` names a step or visit the run cannot go back to.

    Attributes:
        step: The step asked for.
        visits: The visits of that step in the run's current history (may be empty).
    """

    def __init__(self, run_id: str, step: str, visits: Sequence[int], message: str) -> None:
        self.step = step
        self.visits = list(visits)
        super().__init__(run_id, message)


class RunWaitsForeverError(RunError):
    """Under ``time_machine()``, a run whose result is awaited waits for something with no
    deadline (a signal with no timeout): no amount of virtual time would end it.

    Attributes:
        waiting_for: What the run waits for (a signal name), when known.
    """

    def __init__(self, run_id: str, waiting_for: str | None, detail: str = "") -> None:
        # ``detail`` follows the run id, e.g. " (step pause)".
        self.waiting_for = waiting_for
        what = f"the signal {waiting_for!r}" if waiting_for else "something"
        hint = (
            f"send it first (engine.signal({waiting_for!r}, ...) or run.signal(...))"
            if waiting_for else "make the run's wait end first (send its signal or event)"
        )
        super().__init__(
            run_id,
            f"Run {run_id}{detail} waits for {what} with no timeout, so advancing virtual "
            f"time cannot finish it. Before awaiting its result, {hint}, or give the wait "
            "a timeout.",
        )


class ClaimHeldError(DurableAutomationError):
    """``claims.hold`` found the events already claimed by another agent (nothing changed).

    Attributes:
        event_name: The claimed event.
        key: The claimed match, as a key (``sender_id=5``).
        holder: Id of the agent that holds the claim.
    """

    def __init__(self, event_name: str, key: str, holder: str) -> None:
        self.event_name = event_name
        self.key = key
        self.holder = holder
        super().__init__(
            f"{event_name!r} events matching {key} are already claimed by {holder}; wait for "
            "it to release them (claims.release, or AgentManager.complete on that agent)"
        )


class EntityNotFoundError(DurableAutomationError, LookupError):
    """An event's entity cannot be loaded: its model no longer exists, or the row is gone.

    Attributes:
        entity_type: ``app_label.model`` of the entity.
        entity_id: Its primary key, as a string.
    """

    def __init__(self, entity_type: str, entity_id: str, message: str) -> None:
        self.entity_type = entity_type
        self.entity_id = entity_id
        super().__init__(message)


class UnknownTaskError(RegistrationError):
    """No ``@task`` is registered under the given name (timers run registered tasks only).

    Attributes:
        name: The name that was looked up.
    """

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        hint = f" Registered tasks: {', '.join(sorted(known))}." if known else ""
        super().__init__(
            f"No task named {name!r} is registered; decorate the function with @task (from "
            f"durable_automation.timers) and import its module in the worker.{hint}"
        )


class InvalidScheduleError(DurableAutomationError, ValueError):
    """A timer or schedule cannot work as given: a bad cron field, an unknown time zone,
    a non-positive interval, or a one-shot time in the past. The message names the fix."""


class InvalidContextError(DurableAutomationError, ValueError):
    """A Context cannot be stored in Temporal: it does not serialise to JSON.

    Attributes:
        automation: The automation whose Context it is.
    """

    def __init__(self, automation: str, detail: str) -> None:
        self.automation = automation
        super().__init__(
            f"The Context of {automation} cannot be stored: {detail}. Use JSON-compatible "
            "field types (str, int, float, bool, datetime, lists/dicts/models of them), and "
            "store references (ids) rather than objects such as model instances."
        )


class EventDeliveryError(DurableAutomationError):
    """Some targets of an event (automations, waiters, agents) could not be reached; the
    others were. Delivering the event again is safe: targets already reached start nothing
    twice.

    Attributes:
        event_name: The event.
        failures: Target name (automation, ``waiters``, ``agents``) -> its error.
        delivered: How many targets were reached.
    """

    def __init__(self, event_name: str, failures: dict[str, BaseException],
                 delivered: int = 0) -> None:
        self.event_name = event_name
        self.failures = failures
        self.delivered = delivered
        detail = "; ".join(f"{target}: {type(exc).__name__}: {exc}"
                           for target, exc in failures.items())
        super().__init__(
            f"Event {event_name!r} reached {delivered} target(s) but not {len(failures)}: "
            f"{detail}. Fix the failing automation (or reach Temporal) and deliver it again; "
            "the targets already reached are not started twice."
        )
