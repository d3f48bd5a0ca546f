"""A private event loop on a background thread, and the sync/async bridge over it.

Temporal's Python client is asyncio-based; Django code is mostly sync. Every client
call runs on one loop that owns the client (the engine's loop): sync calls block on
a future from that loop, async twins await it, from whatever loop they run on.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from ..exceptions import DurableAutomationError, SyncCallInEventLoopError

__all__ = ["LoopThread", "call_async", "call_sync"]

T = TypeVar("T")

# The public sync call in progress (``engine.signal``), for error messages raised deeper
# down. The loop's task inherits it: run_coroutine_threadsafe copies the caller's context.
_operation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "durable_automation_operation", default=None
)


class LoopThread:
    """An event loop running forever on a daemon thread."""

    def __init__(self, name: str = "durable-automation-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coro`` on the loop; return a concurrent future for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block until it finishes."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        """Stop the loop and join its thread (pending tasks are cancelled first)."""
        if not self.loop.is_running():
            return

        async def _cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(_cancel_rest(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def call_sync(
    loop: asyncio.AbstractEventLoop,
    fn: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
    sync_name: str,
    async_name: str,
    timeout: float | None = None,
    **kwargs: Any,
) -> T:
    """Run ``fn(*args, **kwargs)`` on ``loop`` from sync code and return its result.

    Raises:
        SyncCallInEventLoopError: Called from a thread that is running an event loop,
            where blocking would stall (or deadlock) that loop.
    """
    if _running_loop() is not None:
        raise SyncCallInEventLoopError(
            f"{sync_name}() was called while an event loop is running in this thread; "
            f"use `await {async_name}(...)` instead"
        )
    token = _operation.set(sync_name)
    try:
        return asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop).result(timeout)
    except Exception as err:
        translated = _translate(err, sync_name)
        if translated is None:
            raise
        raise translated from err
    finally:
        _operation.reset(token)


async def call_async(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> T:
    """Await ``fn(*args, **kwargs)`` on ``loop``, from any loop.

    Raises:
        TemporalServiceError: The server refused the call (instead of temporalio's
            ``RPCError``; see ``_errors``). Other temporalio errors become SDK errors too.
    """
    try:
        if _running_loop() is loop:
            return await fn(*args, **kwargs)
        coro = fn(*args, **kwargs)
        assert asyncio.iscoroutine(coro)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
    except Exception as err:
        translated = _translate(err, _operation.get() or _public_name(fn))
        if translated is None:
            raise
        raise translated from err


def _public_name(fn: Callable[..., Any]) -> str | None:
    """``Run.aresult`` for bound methods and functions of the public API, else ``None``."""
    name = getattr(fn, "__qualname__", "")
    if not name or "<" in name or name.rpartition(".")[2].startswith("_"):
        return None  # a closure or a private helper: its name would mean nothing to a user
    return name


def _translate(err: Exception, operation: str | None) -> Exception | None:
    """The SDK error to raise instead of ``err`` (``None``: raise ``err`` itself)."""
    if isinstance(err, DurableAutomationError):
        return None
    if not type(err).__module__.startswith("temporalio") and type(err) is not RuntimeError:
        return None  # not temporalio's: user code's own errors pass through untouched
    # Imported here: it loads temporalio, which this module does not need otherwise.
    from .errors import sdk_error

    return sdk_error(err, operation)
