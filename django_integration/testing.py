"""Testing model events: see them reach Temporal from a Django test.

A model event is forwarded to Temporal by ``transaction.on_commit``, and its steps run
on the worker's threads, each with its own database connection. A test that runs in a
transaction which is rolled back at the end, never committed (pytest-django's
``django_db`` mark or ``db`` fixture, Django's ``TestCase``), therefore never sees its
events fire: ``on_commit`` does not run, and even if it did (``captureOnCommitCallbacks
(execute=True)``), the forwarding thread and the steps could not read the uncommitted
rows. Such tests need a database that commits:

pytest-django::

    def test_welcome_email(time_machine, automation_events):
        Reservation.objects.create(status="confirmed", checkin_at=...)
        automation_events.forward()      # everything committed so far reached Temporal
        time_machine.settle()            # and the runs it started have reacted
        assert Effect.objects.filter(automation="send_welcome_email").exists()

(``automation_events`` is a fixture of this package's pytest plugin; it is
pytest-django's ``transactional_db`` plus waiting for forwarding, also before the
database is flushed. ``@pytest.mark.django_db(transaction=True)`` alone works too.)

Django's test classes: subclass :class:`AutomationTestCase` (a ``TransactionTestCase``)
and call ``self.forward_events()``.

A test that gets this wrong is told so: the plugin adds a note to a failing test that
left events unforwarded in its rolled-back transaction (and warns for a passing one
that started Temporal for them), and :meth:`AutomationEvents.forward` raises
:class:`EventsNotForwardedError` with the same advice.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from django.db import DEFAULT_DB_ALIAS, connections
from django.test import TransactionTestCase

from durable_automation.exceptions import DurableAutomationError

__all__ = [
    "AutomationEvents",
    "AutomationTestCase",
    "EventsNotForwardedError",
    "EventsNotForwardedWarning",
    "unforwarded_events_message",
]

_ADVICE = (
    "Use @pytest.mark.django_db(transaction=True) or the `automation_events` fixture "
    "(then `automation_events.forward()` waits until they reached Temporal); with Django's "
    "test classes, use django_integration.testing.AutomationTestCase (a TransactionTestCase). "
    "captureOnCommitCallbacks(execute=True) is not enough: the events are forwarded, and "
    "the steps run, on other threads with their own database connections, which cannot see "
    "rows that were never committed."
)


class EventsNotForwardedError(DurableAutomationError):
    """Model events of a test did not reach Temporal (and the message says why)."""


class EventsNotForwardedWarning(UserWarning):
    """A test saved model events that can never reach Temporal, yet it passed."""


def _is_ours(callback: Any) -> bool:
    # The delivery requests django_integration queues with transaction.on_commit: a
    # function, a functools.partial or a bound method of one of its modules.
    target = getattr(callback, "func", callback)
    owner = getattr(target, "__self__", None)
    module = type(owner).__module__ if owner is not None else getattr(target, "__module__", "")
    return str(module or "").startswith("django_integration.")


def unforwarded_events_message(using: str | None = None) -> str | None:
    """Explain model events waiting for a commit that will not come, if there are any.

    Looks at the open transactions of this thread's database connections: events saved
    in a test's own transaction (``django_db`` without ``transaction=True``, ``TestCase``)
    are forwarded by ``on_commit`` callbacks that never run, since that transaction is
    rolled back at the end of the test.

    Args:
        using: One database alias; all initialized connections by default.

    Returns:
        The explanation and advice, or None if no event waits for such a commit.
    """
    for alias, waiting in _waiting_for_commit(using):
        connection = connections[alias]
        if not any(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
            continue  # a transaction of the test's own code: it commits when it ends
        return (
            f"durable-automation: {_what(alias, waiting)} saved in this test on database "
            f"{alias!r} never reached Temporal: the test runs inside a transaction that is "
            "rolled back, never committed (pytest-django's `django_db` mark or `db` fixture "
            "without transaction=True, or Django's TestCase), so transaction.on_commit, which "
            f"forwards them, never runs. {_ADVICE}"
        )
    return None


def _waiting_for_commit(using: str | None) -> list[tuple[str, int]]:
    """(alias, number of delivery callbacks) for connections whose open transaction holds
    model events that are forwarded only when it commits."""
    aliases = [using] if using else [c.alias for c in connections.all(initialized_only=True)]
    found = []
    for alias in aliases:
        connection = connections[alias]
        if not connection.in_atomic_block:
            continue
        waiting = [entry for entry in connection.run_on_commit
                   if len(entry) > 1 and _is_ours(entry[1])]
        if waiting:
            found.append((alias, len(waiting)))
    return found


def _what(alias: str, callbacks: int) -> str:
    names = _pending_names(alias)
    if names:
        return f"{len(names)} model event(s) ({', '.join(sorted(set(names)))})"
    return "model events"


def _pending_names(alias: str) -> list[str]:
    from .models import Event

    try:
        return list(Event.objects.using(alias).filter(needs_delivery=True)
                    .order_by("id").values_list("name", flat=True)[:20])
    except Exception:  # noqa: BLE001 - an aborted transaction: the advice stands without names
        return []


class AutomationEvents:
    """Model events forwarded to Temporal during a test, as in production.

    Use it in a test whose database commits (``transactional_db``, ``TransactionTestCase``).
    Entering it clears any back-off the forwarding thread kept from an earlier test;
    leaving it waits until everything committed was forwarded, so that no forwarding
    thread writes into tables a test's teardown is emptying.

    Args:
        timeout: Longest :meth:`forward` (and leaving) waits, in seconds.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout

    def __enter__(self) -> Self:
        from ._dispatcher import dispatcher

        dispatcher.resume()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from ._dispatcher import dispatcher

        drained = dispatcher.flush(self.timeout)
        dispatcher.resume()
        if not drained and exc is None:
            raise EventsNotForwardedError(
                f"Committed model events were still being forwarded after {self.timeout}s. "
                "Is Temporal reachable (the time_machine or dev_worker fixture)?")

    def forward(self, timeout: float | None = None) -> None:
        """Wait until every model event committed so far was forwarded to Temporal.

        After it returns, the runs those events start exist (``time_machine.settle()``
        then waits until they have reacted).

        Raises:
            EventsNotForwardedError: the events wait for a commit that will not come (a
                test transaction), Temporal could not be reached, or forwarding took
                longer than ``timeout``.
        """
        message = unforwarded_events_message()
        if message is not None:
            raise EventsNotForwardedError(message)
        for alias, waiting in _waiting_for_commit(None):
            raise EventsNotForwardedError(
                f"{_what(alias, waiting)} on database {alias!r} are not committed yet: "
                "forward() runs inside a transaction.atomic() block. Call it after the block, "
                "once the transaction has committed.")
        from ._dispatcher import dispatcher

        limit = self.timeout if timeout is None else timeout
        if not dispatcher.flush(limit):
            raise EventsNotForwardedError(
                f"Committed model events were still being forwarded after {limit}s. "
                "Is Temporal reachable (the time_machine or dev_worker fixture)?")
        left = self.pending()
        if left:
            errors = sorted({e.last_delivery_error for e in left if e.last_delivery_error})
            raise EventsNotForwardedError(
                f"{len(left)} committed model event(s) still wait for delivery "
                f"({', '.join(sorted({e.name for e in left}))})"
                + (f"; last error: {errors[0]}" if errors else "")
                + ". Is Temporal reachable (the time_machine or dev_worker fixture), "
                "and the forwarding not paused?")

    def pending(self) -> list[Any]:
        """The committed ``Event`` rows that still wait for delivery to Temporal."""
        from .models import Event

        return list(Event.objects.using(DEFAULT_DB_ALIAS).filter(needs_delivery=True)
                    .order_by("id"))


class AutomationTestCase(TransactionTestCase):
    """A ``TransactionTestCase`` whose model events reach Temporal; see the module doc.

    Start Temporal in the test (``with time_machine() as tm:``) or in ``setUp``, save
    models, call ``self.forward_events()``, then assert on what the steps did.
    """

    def setUp(self) -> None:
        super().setUp()
        self.automation_events = AutomationEvents()
        self.automation_events.__enter__()
        # Cleanups run before TransactionTestCase empties the tables.
        self.addCleanup(self.automation_events.__exit__, None, None, None)

    def forward_events(self, timeout: float | None = None) -> None:
        """Wait until every model event committed so far was forwarded to Temporal."""
        self.automation_events.forward(timeout)
