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
   ``AUTOMATION_MODULES`` are configured, i.e. a plain script) (it is local, see
   ``_tasks.is_local_callable``, or, outside Django, its module is not among
   ``AUTOMATION_MODULES``), else the configured queue. In a Django process (Django
   settings configured) the local worker never starts implicitly: a web process has a
   configured worker for the project's tasks, and several forked web workers must not
   each run timers. There a local callable raises ``ConfigurationError`` saying to use
   a module-level ``@task`` or set ``TIMERS_IN_PROCESS``.

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
too: the stop finds no worker to take it and terminates the timer. Two copies of the
same script on one host share the queue, and either may run the other's ticks.

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
import hashlib
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from .._core.hooks import ProgramQueues, set_program_queues
from .._core.process_exit import add_exit_drain, django_configured, install_exit_handler
from .._core.settings import get_settings
from .._worker.assembly import AutomationWorker
from ..exceptions import ConfigurationError
from ..timers._tasks import TaskDefinition

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


def _served_by_configured_worker(definition: TaskDefinition) -> bool:
    if definition.local:
        return False
    return _module_served(definition.module)


def _module_served(module: str) -> bool:
    """Whether a configured worker imports ``module`` (so it can run what it defines)."""
    if django_configured():
        return True  # the project's worker imports its apps' automations
    modules = get_settings().automation_modules
    return any(module == m or module.startswith(m + ".") for m in modules)


async def _aautomation_queue(name: str) -> str | None:
    """Where runs of the automation ``name`` start: the local queue when only this
    program can run it, else ``None`` (the engine's queue). On the engine's loop.

    The rule of tasks (module doc, case 4), for ``@on_event`` handlers,
    ``@workflow``/``@event_workflow`` automations and ``@agent`` classes: one defined in
    ``__main__`` or in a function, or (outside Django) in a module not among
    ``AUTOMATION_MODULES``, runs here, so a plain script's handlers of its TimerManager
    events run with no worker process. Never in a Django process, nor with
    ``TIMERS_IN_PROCESS = False``.
    """
    from .._client.engine import engine
    from .._core.registry import registry

    definition: Any = (registry.handlers.get(name) or registry.workflows.get(name)
                       or registry.agents.get(name))
    if definition is None or get_settings().timers_in_process is False or django_configured():
        return None
    code = definition.fn if hasattr(definition, "fn") else definition.cls
    module, qualname = getattr(code, "__module__", ""), getattr(code, "__qualname__", "")
    if module != "__main__" and "<locals>" not in qualname and _module_served(module):
        return None
    binding = engine._ensure()
    if binding.owner is None:
        return None  # bound to a worker, which serves this process's automations
    return await _ensure_started(binding)


def program_key() -> str:
    """``<script stem>-<hash of host and path>``: the same every time the same script runs
    here, different for another script (or host). Names this program's queue and timers."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    if path and path not in ("-c", "-"):
        ident = str(Path(path).resolve())
        stem = Path(path).stem
    else:
        ident, stem = f"interactive-{os.getpid()}", "interactive"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:40] or "script"
    digest = hashlib.sha256(f"{socket.gethostname()}:{ident}".encode()).hexdigest()[:10]
    return f"{stem}-{digest}{_fork_suffix}"


def local_task_queue() -> str:
    """This program's own task queue: the same every time the same script runs here."""
    return f"{get_settings().task_queue}-local-{socket.gethostname()[:30]}-{program_key()}"


async def atask_queue_for(definition: TaskDefinition | None) -> str:
    """The task queue a timer or task for ``definition`` must run on (see the module doc).

    ``definition`` is ``None`` for timers that run no callable (TimerManager events).
    Runs on the engine's loop; starts the local worker when the answer is its queue.

    Raises:
        ConfigurationError: Only this process can run the callable, and the settings
            (or a Django process) rule out the in-process worker.
    """
    from .._client.engine import engine

    binding = engine._ensure()
    if binding.owner is None:
        return binding.task_queue
    settings = get_settings()
    mode = settings.timers_in_process
    if definition is None:
        # TimerManager timers run no callable, but their firings still need a worker.
        # Outside Django with no AUTOMATION_MODULES nothing points at a configured
        # worker (a plain script, seed 003): serve them here, or they would never fire.
        needs_here = not django_configured() and not settings.automation_modules
    else:
        needs_here = not _served_by_configured_worker(definition)
    if mode is True:
        return await _ensure_started(binding)
    if not needs_here or (definition is None and mode is False):
        return binding.task_queue
    if definition is None:
        return await _ensure_started(binding)
    if mode is False or django_configured():
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

        task_queue = local_task_queue()
        worker = AutomationWorker(binding.client, task_queue, bind_engine=False,
                                  graceful_shutdown=timedelta(seconds=10))
        await worker.__aenter__()
        _state = _Local(os.getpid(), task_queue, worker, binding.loop)
        install_exit_handler()
        return task_queue


def _stop_local_worker() -> None:
    """At exit (after deferred calls): stop polling, let running callbacks finish."""
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


add_exit_drain(_stop_local_worker, order=1)
set_program_queues(ProgramQueues(for_start=_aautomation_queue, running=running_local_queue))


# ── fork ─────────────────────────────────────────────────────────────────────────


# What a forked child inherited from its parent and must never use nor drop (dropping
# a temporalio object whose Rust threads did not survive the fork can hang).
_leftovers: list[Any] = []
_fork_suffix = ""


def _after_fork_in_child() -> None:
    global _state, _start_lock, _start_lock_loop, _fork_suffix
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
    from .._client.engine import engine

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
    observability = sys.modules.get("durable_automation._client.observability")
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
