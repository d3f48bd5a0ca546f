"""Per-object call queues: sync calls that work inside a running event loop.

Seed code calls ``timer.start()`` or ``scheduler.add_task(...)`` synchronously from
inside ``async def main()``. Blocking there on a Temporal call would stall (or
deadlock) the caller's loop, so an object whose sync methods must work there owns a
:class:`CallQueue` and sends every client call through it:

* ``queue.call(fn, name=...)`` from sync code. Outside a running loop it runs ``fn``
  (after everything queued before it) and returns its result or raises its error,
  like any sync call. Inside a running loop it only enqueues ``fn`` and returns
  :data:`DEFERRED` at once; ``fn`` runs later, in call order.
* ``await queue.acall(fn, name=...)`` from async code: enqueue and await the result.
* ``await queue.aflush()`` / ``queue.flush()``: wait until everything queued so far
  has run.

Guarantees:

* Calls take effect in the order they were made, across ``call``, ``acall`` and the
  sync/async twins: one worker thread per queue runs them one after another.
* An error is never lost. The error of a call that was deferred is raised by the
  next ``call``/``acall``/``aflush``/``flush`` on the same queue (with a note naming
  the call that failed); an error nobody collected is printed to stderr at
  interpreter exit (``flush_all``).

``fn`` is a zero-argument coroutine function; it runs on the engine's loop (where
the client lives), so it may use ``engine._ensure().client`` directly. The queue's
thread connects the engine if needed, so a first call inside a running loop does
not block that loop while connecting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue as _queue
import sys
import threading
import traceback
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from .._client.engine import engine
from .._core.process_exit import add_exit_drain, django_configured, install_exit_handler
from .._core.runtime import call_sync

__all__ = ["DEFERRED", "CallQueue", "flush_all", "in_running_loop"]

T = TypeVar("T")
Op = Callable[[], Coroutine[Any, Any, Any]]


class _Deferred:
    """The value a sync call returns when it was queued to run later (one instance)."""

    def __repr__(self) -> str:
        return "DEFERRED"

    def __bool__(self) -> bool:
        return False


DEFERRED: Final = _Deferred()

_queues: weakref.WeakSet[CallQueue] = weakref.WeakSet()
# Queues holding an error nobody collected yet: kept alive, so the error is still
# printed at exit after its owner (``Timer(...)`` made inside ``main()``) was dropped.
_unreported: set[CallQueue] = set()
_queues_lock = threading.Lock()


def in_running_loop() -> bool:
    """Whether the calling thread is running an event loop (a sync call must not block)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Item:
    __slots__ = ("deferred", "fn", "future", "name")

    def __init__(self, fn: Op, name: str, deferred: bool) -> None:
        self.fn = fn
        self.name = name
        self.deferred = deferred
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()


class CallQueue:
    """Runs one object's client calls one after another, in the order they were made.

    Args:
        owner: Names the owning object in error notes (e.g. ``"Timer 'poll'"``).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._items: _queue.SimpleQueue[_Item] = _queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._errors: list[BaseException] = []
        with _queues_lock:
            _queues.add(self)

    # ── submitting ───────────────────────────────────────────────────────────────

    def call(
        self, fn: Callable[[], Coroutine[Any, Any, T]], *, name: str, run_anyway: bool = False
    ) -> T | _Deferred:
        """Run ``fn`` in order from sync code (see the module docstring).

        Args:
            fn: The call (a zero-argument coroutine function, run on the engine's loop).
            name: The public method's name, for error notes.
            run_anyway: Run ``fn`` even when an earlier deferred call's error is due,
                and raise that error afterwards (for stops, which must happen).

        Returns:
            ``fn``'s result, or :data:`DEFERRED` when called inside a running loop.

        Raises:
            Exception: An earlier deferred call's error, or ``fn``'s own (not deferred).
        """
        earlier = self._take_pending() if run_anyway else None
        if not run_anyway:
            self.raise_pending()
        try:
            if in_running_loop():
                _install_exit_drain()
                self._submit(fn, name, deferred=True)
                return DEFERRED
            result: T = self._submit(fn, name, deferred=False).result()
            # A call deferred before this one may have failed while it waited: its
            # error must not be skipped over by a result that came after it.
            if not run_anyway:
                self.raise_pending()
            return result
        finally:
            if earlier is not None:
                raise earlier

    async def acall(self, fn: Callable[[], Coroutine[Any, Any, T]], *, name: str) -> T:
        """Run ``fn`` in order and await its result.

        Raises:
            Exception: An earlier deferred call's error, or ``fn``'s own.
        """
        self.raise_pending()
        result: T = await asyncio.wrap_future(self._submit(fn, name, deferred=False))
        self.raise_pending()  # an earlier deferred call that failed while this one waited
        return result

    async def aflush(self) -> None:
        """Wait until every call queued so far has run; raise a deferred call's error."""

        async def nothing() -> None:
            return None

        await self.acall(nothing, name="flush")
        self.raise_pending()

    def flush(self, timeout: float | None = None) -> bool:
        """Sync twin of :meth:`aflush` (blocks; do not call inside a running loop).

        Returns:
            False if calls were still running after ``timeout`` seconds.
        """
        with self._lock:
            done = self._idle.wait_for(lambda: self._pending == 0, timeout)
        if done:
            self.raise_pending()
        return done

    def raise_pending(self) -> None:
        """Raise the oldest error of a deferred call not reported yet (if any)."""
        error = self._take_pending()
        if error is not None:
            raise error

    def _take_pending(self) -> BaseException | None:
        with self._lock:
            return self._errors.pop(0) if self._errors else None

    @property
    def pending(self) -> int:
        """Calls queued or running."""
        return self._pending

    def _submit(self, fn: Op, name: str, *, deferred: bool) -> concurrent.futures.Future[Any]:
        item = _Item(fn, name, deferred)
        with self._lock:
            self._pending += 1
            self._items.put(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name=f"durable-automation-calls({self.owner})",
                    daemon=True)
                self._thread.start()
        return item.future

    # ── the queue's thread ───────────────────────────────────────────────────────

    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._items.empty():
                    # Exit when idle; the next submit starts a new thread (under the lock,
                    # so no item is left without a thread).
                    self._thread = None
                    return
            item = self._items.get()
            try:
                # An awaited call whose caller was cancelled before it began (Ctrl-C while
                # it waited its turn) is not run; one that began can no longer be
                # cancelled, so its result can always be set.
                if not item.future.set_running_or_notify_cancel():
                    continue
                result = _run_on_engine(item.fn, item.name)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                if item.deferred:
                    exc.add_note(f"(raised by {self.owner}: {item.name}(), which was called "
                                 "inside a running event loop and ran after it returned)")
                    with self._lock:
                        self._errors.append(exc)
                    with _queues_lock:
                        _unreported.add(self)
                item.future.set_exception(exc)
            else:
                item.future.set_result(result)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    def _is_idle(self) -> bool:
        return self._pending == 0

    def take_errors(self) -> list[BaseException]:
        """Remove and return the deferred errors nobody collected."""
        with self._lock:
            errors, self._errors = self._errors, []
        return errors


def _install_exit_drain() -> None:
    # A deferred call must still happen if the program ends right after making it
    # (``timer.stop()`` as the last line of ``main()``): drain at exit. Outside Django
    # (a script), also end with the script's status, past temporalio's shutdown crash.
    install_exit_handler(hard_exit=not django_configured())


def _run_on_engine(fn: Op, name: str) -> Any:
    binding = engine._ensure()  # may connect: on this thread, not the caller's loop
    # Through the sync bridge, so a queued call's temporalio error becomes the SDK's
    # own, named after the public call that was queued.
    owner, _, method = name.rpartition(".")
    return call_sync(binding.loop, fn, sync_name=name,
                     async_name=f"{owner}.a{method}" if owner else f"a{method}")


def flush_all(timeout: float = 60.0) -> None:
    """At exit: let every queue finish its calls, and print errors nobody collected."""
    with _queues_lock:
        queues = list({*_queues, *_unreported})
        _unreported.clear()
    for call_queue in queues:
        with call_queue._lock:
            call_queue._idle.wait_for(call_queue._is_idle, timeout)
        for error in call_queue.take_errors():
            sys.stderr.write(f"durable-automation: a call deferred by {call_queue.owner} "
                             "failed and was never reported:\n")
            traceback.print_exception(error, file=sys.stderr)


def reset_after_fork() -> None:
    """In a forked child: the parent's queue threads do not exist here; forget them."""
    global _queues_lock
    _queues_lock = threading.Lock()
    _unreported.clear()  # the parent reports its own errors
    for call_queue in list(_queues):
        call_queue._lock = threading.Lock()
        call_queue._idle = threading.Condition(call_queue._lock)
        call_queue._thread = None
        call_queue._items = _queue.SimpleQueue()
        call_queue._pending = 0


add_exit_drain(flush_all, order=0)
if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=reset_after_fork)
