"""The background dispatcher: forwards committed events without making the request wait.

``transaction.on_commit`` hands the ids of the rows just committed to
:data:`dispatcher`, which returns at once; a daemon thread claims the rows and
forwards them concurrently (on the engine's event loop, each with a timeout). The
request therefore never waits for Temporal at all.

When Temporal cannot be reached, the rows stay in the outbox (``needs_delivery``) and
the dispatcher stops trying for :attr:`Dispatcher.backoff` so that a dead server
does not cost every commit a timeout; the worker's relay (or ``manage.py
automation_outbox relay``) delivers them once Temporal is back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterable

from durable_automation.integration import engine

from ._classify import classify
from ._delivery import Delivery, Outcome, adeliver_many
from ._lease import LEASE, claim, record_many
from ._resolver import db_connections

__all__ = ["Dispatcher", "dispatcher"]

log = logging.getLogger("django_integration.dispatcher")


class Dispatcher:
    """A queue of committed event ids and the thread that forwards them.

    Args:
        timeout: Longest one event's forwarding may take before it is left to the relay.
        backoff: After a failure to reach Temporal, skip forwarding for this long.
        concurrency: Rows forwarded at the same time.
    """

    def __init__(self, timeout: float = 10.0, backoff: float = 5.0,
                 concurrency: int = 32) -> None:
        self.timeout = timeout
        self.backoff = backoff
        self.concurrency = concurrency
        self._pending: list[int] = []
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._paused_until = 0.0

    def submit(self, ids: Iterable[int]) -> None:
        """Queue rows for forwarding (called by ``on_commit``; returns immediately)."""
        if time.monotonic() < self._paused_until:
            return  # backing off: the thread would drop them; the relay delivers them
        with self._cond:
            self._pending.extend(ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="da-dispatcher",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far was handled; return False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                batch, self._pending = self._pending, []
                self._busy = True
            try:
                if time.monotonic() >= self._paused_until:
                    self._forward(batch)
            except Exception:
                log.exception("Forwarding events %s failed; the relay will retry", batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _forward(self, ids: list[int]) -> None:
        while ids and time.monotonic() >= self._paused_until:
            with db_connections():
                # All of them: a burst of commits can hand over more rows than a relay batch.
                deliveries = claim(ids, limit=len(ids))
            if not deliveries:
                return
            outcomes = self._deliver(deliveries)
            if any(o.down for o in outcomes):
                error = next(o.error for o in outcomes if o.down)
                log.warning("Cannot reach Temporal (%s); events stay in the outbox for the "
                            "relay", error)
                self._paused_until = time.monotonic() + self.backoff
            with db_connections():
                # Rows changed while they were forwarded: their new state goes out now
                # (their on_commit hand-over found them leased and skipped them).
                ids = record_many(deliveries, outcomes)

    def _deliver(self, deliveries: list[Delivery]) -> list[Outcome]:
        # On the engine's own loop, where its client lives: no loop of our own, and no
        # hop between loops for every call to Temporal.
        try:
            loop = engine._ensure().loop
        except Exception as exc:  # noqa: BLE001 - cannot even connect: nothing attempted
            error = f"{type(exc).__name__}: {exc}"
            return [Outcome(error=error, kind=classify(exc), skipped=True) for _ in deliveries]
        future = asyncio.run_coroutine_threadsafe(
            adeliver_many(deliveries, timeout=self.timeout, concurrency=self.concurrency), loop)
        # Rows past their lease are skipped, so a batch never takes longer than its lease;
        # the bound only matters if the loop itself went away (an engine closed meanwhile).
        try:
            return future.result(timeout=LEASE.total_seconds() + self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return [Outcome(error="skipped: the engine's loop did not answer", kind="down",
                            skipped=True) for _ in deliveries]

    def pause(self, seconds: float = float("inf")) -> None:
        """Forward nothing for ``seconds``: rows stay in the outbox for the relay."""
        self._paused_until = time.monotonic() + seconds

    def resume(self) -> None:
        """Stop backing off (tests; the relay after it reached Temporal)."""
        self._paused_until = 0.0


dispatcher = Dispatcher()
