"""Script mode: a worker inside this process for the callables only this process has.

A timer's callback runs in a worker, looked up by its task name. A worker started
with ``durable-automation worker`` imports the ``AUTOMATION_MODULES`` and can run
their module-level functions. It cannot run a lambda, a closure, a bound method or
a function of a script's ``__main__``: those exist only in the process that made
them. So the SDK serves them from an in-process worker, on a task queue of this
process's own.

Which queue a timer or task runs on (:func:`atask_queue_for`):

1. The engine was *bound* to a client (a worker process, ``time_machine``, test
   fixtures): that binding's queue. Its worker runs in this process and serves this
   process's callables already.
2. Otherwise, with ``TIMERS_IN_PROCESS = True``: the local queue, for everything
   started here (seed 000's "dev: background thread").
3. With ``TIMERS_IN_PROCESS = False``: the configured queue; a callable no configured
   worker can run raises :class:`~durable_automation.exceptions.ConfigurationError`.
4. With the default (``None``): the local queue when no configured worker can run the
   callable (for a ``TimerManager``, which runs no callable: outside Django when no
   ``AUTOMATION_MODULES`` are configured, i.e. a plain script) (it is local, see ``_tasks.is_local_callable``, or, outside Django, its
   module is not among ``AUTOMATION_MODULES``), else the configured queue. In a
   Django process (Django settings configured) the local worker never starts
   implicitly: a web process has a configured worker for the project's tasks, and
   several forked web workers must not each run timers. There a local callable
   raises ``ConfigurationError`` saying to use a module-level ``@task`` or set
   ``TIMERS_IN_PROCESS``.

The local queue's name stays the same across restarts of the same program:
``<TASK_QUEUE>-local-<host>-<script stem>-<hash of its absolute path>``. So a durable
timer whose callback only this script can run *pauses* while the script is gone:
the workflow stays Running on the server, its next workflow task waits on that
queue (the UI shows it pending, the task queue shows no pollers, and
``durable-automation status`` lists it as running), nothing fails and nothing is
lost. When the script starts again and starts the same timer (same name) it
attaches to it and ticks resume: a FIXED timer skips the ticks it missed (no
burst), a DELAY timer ticks at once; a callback that was running when the script
died runs again (at least once). Stopping such a timer from another process works
too: the stop finds no worker to take it and terminates the timer. Two copies of the same script on one host
share the queue, and either may run the other's ticks.

Lifecycle: the worker starts on the engine's loop the first time it is needed. At
interpreter exit it drains: deferred calls (``_deferred``) finish first, then the
worker stops polling and lets running callbacks finish. Then, because temporalio's
core can crash while the interpreter shuts down (sdk-python #300), the process ends
with ``os._exit(status)`` after running the other ``atexit`` handlers and flushing
output. ``status`` is the script's own: the code given to ``sys.exit()``/``exit()``,
1 after an uncaught exception, the SIGINT death after an uncaught
``KeyboardInterrupt``, 0 otherwise. (A ``SystemExit`` raised directly with ``raise``
is not seen on Python 3.11 and reads as 0; use ``sys.exit``.) The hard exit is
skipped under pytest, whose plugin does its own.

Fork safety: a forked child (gunicorn) never reuses its parent's worker, loop or
engine connection. A child of a process that never used Temporal (gunicorn's master
only imports the app; the engine connects lazily) connects on its own when it needs
to; children of such a parent share the program's queue (like copies of one script),
so their timers outlive any one child. A child of a process that had
already used Temporal gets a ``ConfigurationError`` saying to use the SDK only after
forking: temporalio's core does not survive a fork.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import hashlib
import os
import re
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from . import _deferred
from ._settings import get_settings
from ._tasks import TaskDefinition
from .exceptions import ConfigurationError

__all__ = ["atask_queue_for", "install_exit_handler", "local_task_queue", "running_local_queue"]


@dataclass
class _Local:
    pid: int
    task_queue: str
    worker: Any
    loop: asyncio.AbstractEventLoop


_state: _Local | None = None
_start_lock: asyncio.Lock | None = None
_start_lock_loop: asyncio.AbstractEventLoop | None = None


# ── which queue ──────────────────────────────────────────────────────────────────


def _django_configured() -> bool:
    if "django.conf" not in sys.modules:
        return False
    from django.conf import settings as dj

    return bool(dj.configured)


def _served_by_configured_worker(definition: TaskDefinition) -> bool:
    if definition.local:
        return False
    if _django_configured():
        return True  # the project's worker imports its apps' automations
    modules = get_settings().automation_modules
    return any(definition.module == m or definition.module.startswith(m + ".") for m in modules)


def local_task_queue() -> str:
    """This program's own task queue: the same every time the same script runs here."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    if path and path not in ("-c", "-"):
        ident = str(Path(path).resolve())
        stem = Path(path).stem
    else:
        ident, stem = f"interactive-{os.getpid()}", "interactive"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:40] or "script"
    digest = hashlib.sha256(f"{socket.gethostname()}:{ident}".encode()).hexdigest()[:10]
    return (f"{get_settings().task_queue}-local-{socket.gethostname()[:30]}-{stem}-{digest}"
            f"{_fork_suffix}")


async def atask_queue_for(definition: TaskDefinition | None) -> str:
    """The task queue a timer or task for ``definition`` must run on (see the module doc).

    ``definition`` is ``None`` for timers that run no callable (TimerManager events).
    Runs on the engine's loop; starts the local worker when the answer is its queue.

    Raises:
        ConfigurationError: Only this process can run the callable, and the settings
            (or a Django process) rule out the in-process worker.
    """
    from ._engine import engine

    binding = engine._ensure()
    if binding.owner is None:
        return binding.task_queue
    settings = get_settings()
    mode = settings.timers_in_process
    if definition is None:
        # TimerManager timers run no callable, but their firings still need a worker.
        # Outside Django with no AUTOMATION_MODULES nothing points at a configured
        # worker (a plain script, seed 003): serve them here, or they would never fire.
        needs_here = not _django_configured() and not settings.automation_modules
    else:
        needs_here = not _served_by_configured_worker(definition)
    if mode is True:
        return await _ensure_started(binding)
    if not needs_here or (definition is None and mode is False):
        return binding.task_queue
    if definition is None:
        return await _ensure_started(binding)
    if mode is False or _django_configured():
        why = ("TIMERS_IN_PROCESS is False" if mode is False
               else "this is a Django process, where no in-process worker starts implicitly")
        raise ConfigurationError(
            f"The task {definition.name!r} ({definition.qualname}) can only run in this "
            f"process, and {why}. Make it a module-level @task in a module the worker "
            "imports (AUTOMATION_MODULES), or set DURABLE_AUTOMATION['TIMERS_IN_PROCESS'] "
            "= True to run timers inside this process."
        )
    return await _ensure_started(binding)


def running_local_queue() -> str | None:
    """The local worker's queue if it runs in this process, else ``None``."""
    state = _state
    return state.task_queue if state is not None and state.pid == os.getpid() else None


async def _ensure_started(binding: Any) -> str:
    global _state, _start_lock, _start_lock_loop
    state = _state
    if state is not None and state.pid == os.getpid():
        return state.task_queue
    loop = asyncio.get_running_loop()
    if _start_lock is None or _start_lock_loop is not loop:
        _start_lock, _start_lock_loop = asyncio.Lock(), loop
    async with _start_lock:
        state = _state
        if state is not None and state.pid == os.getpid():
            return state.task_queue
        from .worker import AutomationWorker

        task_queue = local_task_queue()
        worker = AutomationWorker(binding.client, task_queue, bind_engine=False,
                                  graceful_shutdown=timedelta(seconds=10))
        await worker.__aenter__()
        _state = _Local(os.getpid(), task_queue, worker, binding.loop)
        install_exit_handler()
        return task_queue


# ── exit ─────────────────────────────────────────────────────────────────────────

_exit_installed_pid: int | None = None
_exit_status: int | str | None = None
_in_hard_exit = False


def _record_exit(code: Any) -> None:
    global _exit_status
    if threading.current_thread() is not threading.main_thread():
        return  # sys.exit in another thread ends that thread only
    if code is None:
        _exit_status = 0
    elif isinstance(code, int) and not isinstance(code, bool):
        _exit_status = code & 0xFF
    elif isinstance(code, bool):
        _exit_status = int(code)
    else:
        _exit_status = 1  # Python prints the object and exits with 1


def _install_status_hooks() -> None:
    original_exit = sys.exit

    def exit_recording(status: Any = None, /) -> Any:
        _record_exit(status)
        original_exit(status)

    exit_recording.__doc__ = original_exit.__doc__
    sys.exit = exit_recording

    for name in ("exit", "quit"):
        quitter = getattr(builtins, name, None)
        if quitter is None or getattr(quitter, "_da_wrapped", False):
            continue

        class _Quitter:
            _da_wrapped = True

            def __init__(self, inner: Any) -> None:
                self._inner = inner

            def __repr__(self) -> str:
                return repr(self._inner)

            def __call__(self, code: object = None) -> Any:
                _record_exit(code)
                return self._inner(code)

        setattr(builtins, name, _Quitter(quitter))

    original_hook = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        global _exit_status
        if threading.current_thread() is threading.main_thread():
            _exit_status = "sigint" if issubclass(kind, KeyboardInterrupt) else 1
        original_hook(kind, value, tb)

    sys.excepthook = hook


_hard_exit_pid: int | None = None


def install_exit_handler(*, hard_exit: bool = True) -> None:
    """Drain deferred calls and the local worker at exit and, with ``hard_exit``, exit
    with the script's status (see the module docstring). Idempotent; per process."""
    global _exit_installed_pid, _hard_exit_pid
    if hard_exit and _hard_exit_pid != os.getpid():
        _hard_exit_pid = os.getpid()
        atexit.register(_hard_exit)
        _install_status_hooks()
    if _exit_installed_pid == os.getpid():
        return
    _exit_installed_pid = os.getpid()
    # Before threading's own exit hooks: the default executor (sync callbacks) is
    # still accepting work while deferred calls and running callbacks finish.
    try:
        threading._register_atexit(_drain)  # type: ignore[attr-defined]
    except RuntimeError:  # already shutting down
        atexit.register(_drain)


def _drain() -> None:
    if _exit_installed_pid != os.getpid():
        return
    _deferred.flush_all()
    state = _state
    if state is None or state.pid != os.getpid() or state.loop.is_closed():
        return
    future = asyncio.run_coroutine_threadsafe(state.worker.__aexit__(None, None, None),
                                              state.loop)
    try:
        future.result(timeout=30)
    except Exception as exc:  # noqa: BLE001 - exiting anyway; say why it was not clean
        sys.stderr.write(f"durable-automation: the in-process worker did not stop cleanly: "
                         f"{exc!r}\n")


def _hard_exit() -> None:
    global _in_hard_exit
    if _in_hard_exit or _hard_exit_pid != os.getpid():
        return
    if "pytest" in sys.modules or "_pytest" in sys.modules:
        return  # the pytest plugin owns the exit of a test process
    _in_hard_exit = True
    # Run the atexit handlers registered before this one (they would run after it),
    # e.g. logging's flush and coverage's save; this handler's own re-entry returns.
    try:
        atexit._run_exitfuncs()
    except Exception:  # noqa: BLE001, S110 - a failing handler must not skip the exit
        pass
    status = _exit_status if _exit_status is not None else 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - closed or broken pipe
            pass
    if status == "sigint":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        status = 130
    os._exit(int(status))


# ── fork ─────────────────────────────────────────────────────────────────────────


# What a forked child inherited from its parent and must never use nor drop (dropping
# a temporalio object whose Rust threads did not survive the fork can hang).
_leftovers: list[Any] = []
_fork_suffix = ""


def _after_fork_in_child() -> None:
    global _state, _start_lock, _start_lock_loop, _fork_suffix
    global _exit_installed_pid, _hard_exit_pid
    # The exit handlers were inherited with the parent's atexit list: they are the
    # child's now (a child also ends with its own status, past temporalio's crash).
    if _exit_installed_pid is not None:
        _exit_installed_pid = os.getpid()
    if _hard_exit_pid is not None:
        _hard_exit_pid = os.getpid()
    # The parent's loop thread, worker and queue threads do not exist in the child.
    if _state is not None:
        # The parent serves the program's queue with its own callables; the child's
        # new ones would not be there: the child gets a queue of its own (its timers
        # pause when it exits). Children of a parent that served nothing (gunicorn's
        # master) share the program's queue, so their timers outlive any one child.
        _fork_suffix = f"-fork{os.getpid()}"
    _leftovers.append(_state)
    _state = None
    _start_lock = _start_lock_loop = None
    _deferred.reset_after_fork()
    from ._engine import engine

    engine._lock = threading.Lock()
    binding = engine._binding
    if binding is not None and binding.owner is not None:
        _leftovers.append(binding)
        engine._binding = None  # connect anew on first use; never touch the parent's loop
    # temporalio's core does not survive a fork once it ran in the parent ("Runtimes do
    # not work across forks"; a child that connects anyway crashes now and then). A
    # child of a process that never touched it is fine and connects on its own.
    runtime_module = sys.modules.get("temporalio.runtime")
    ref = getattr(runtime_module, "_runtime_ref", None)
    observability = sys.modules.get("durable_automation._observability")
    runtimes = getattr(observability, "_runtimes", None)
    if (ref is not None and getattr(ref, "_default_runtime", None) is not None) or runtimes:
        _leftovers.append(engine._ensure)
        engine._ensure = _refuse_after_fork  # type: ignore[method-assign]


def _refuse_after_fork() -> Any:
    raise ConfigurationError(
        "This process was forked from one that had already used Temporal, and "
        "temporalio's core does not survive a fork. Use the SDK only after forking: "
        "with gunicorn, do not start timers or runs at import time with --preload (the "
        "engine connects lazily, so importing automations is fine); with "
        "multiprocessing, use the 'spawn' start method."
    )


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
