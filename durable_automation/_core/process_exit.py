"""How a process that used the SDK ends: drain at exit, exit with the script's status.

The engine installs this as soon as it opens a connection of its own (any program that
talks to Temporal has temporalio's core loaded, and so can crash at shutdown).

Deferred calls (``_deferred.py``) and the in-process worker (``_local_worker.py``) register
what must finish before the interpreter goes (:func:`add_exit_drain`);
:func:`install_exit_handler` runs them at exit and, in a plain script, ends the
process with ``os._exit(status)`` past temporalio's shutdown crash (sdk-python
#300). See ``_local_worker.py`` for the whole story.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["add_exit_drain", "django_configured", "install_exit_handler"]

# (order, drain): lower orders drain first (deferred calls before the local worker).
_drains: list[tuple[int, Callable[[], None]]] = []


def add_exit_drain(drain: Callable[[], None], order: int) -> None:
    """Call ``drain()`` at exit, before threading's own exit hooks (idempotent)."""
    if all(d is not drain for _, d in _drains):
        _drains.append((order, drain))


def django_configured() -> bool:
    """Whether Django settings are configured in this process."""
    if "django.conf" not in sys.modules:
        return False
    from django.conf import settings as dj

    return bool(dj.configured)


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
    for _order, drain in sorted(_drains, key=lambda d: d[0]):
        drain()


def _hard_exit() -> None:
    global _in_hard_exit
    if _in_hard_exit or _hard_exit_pid != os.getpid():
        return
    if "pytest" in sys.modules or "_pytest" in sys.modules:
        return  # the pytest plugin owns the exit of a test process
    _in_hard_exit = True
    # Run the atexit handlers registered before this one (they would run after it),
    # e.g. logging's flush and coverage's save; this handler's own re-entry returns.
    with contextlib.suppress(Exception):  # a failing handler must not skip the exit
        atexit._run_exitfuncs()
    status = _exit_status if _exit_status is not None else 0
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # closed, or a broken pipe
            stream.flush()
    if status == "sigint":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        status = 130
    os._exit(int(status))




def _after_fork_in_child() -> None:
    global _exit_installed_pid, _hard_exit_pid
    # The exit handlers were inherited with the parent's atexit list: they are the
    # child's now (a child also ends with its own status, past temporalio's crash).
    if _exit_installed_pid is not None:
        _exit_installed_pid = os.getpid()
    if _hard_exit_pid is not None:
        _hard_exit_pid = os.getpid()


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
