"""`durable-automation dev` owns its Temporal server: the server dies with it, even on
SIGKILL, and a server someone else left on the port is refused, never silently reused."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durable_automation._binaries import dev_server_path
from durable_automation.devserver import free_port
from tests.helpers.processes import CliProcess

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _servers_on(port: int) -> list[int]:
    """Pids of ``temporal server start-dev`` processes started with ``--port <port>``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        # The server itself, not the guard that runs it (whose argv names it too).
        if (argv[0].endswith(b"temporal") and b"start-dev" in argv and b"--port" in argv
                and argv[argv.index(b"--port") + 1] == str(port).encode()):
            found.append(int(entry.name))
    return found


def _wait_gone(port: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _servers_on(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_sigkill_of_dev_takes_its_server_down_and_the_next_dev_starts_afresh(tmp_path):
    port, ui_port = free_port(), free_port()
    args = ("dev", "--db-file", str(tmp_path / "dev.sqlite3"), "--port", str(port),
            "--ui-port", str(ui_port))
    first = CliProcess(*args)
    try:
        first.wait_for("Press Ctrl-C to stop.")
        assert _servers_on(port), "the dev server runs"
        first.process.kill()
        first.process.wait(30)
        left = _wait_gone(port, timeout=10)
        assert not left, f"the Temporal server outlived `dev` (pids {left})"
    finally:
        for pid in _servers_on(port):  # do not leak a server when the assertion fails
            subprocess.run(["kill", "-9", str(pid)], check=False)

    second = CliProcess(*args)
    try:
        second.wait_for("Press Ctrl-C to stop.")
        [pid] = _servers_on(port)
    finally:
        assert second.stop(signal.SIGINT) == 0, second.output
    assert not _wait_gone(port, timeout=10)
    assert pid  # the second run started (and then stopped) a server of its own


def test_dev_refuses_a_server_it_did_not_start(tmp_path):
    port = free_port()
    stranger = subprocess.Popen(
        [dev_server_path(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    try:
        # Wait until it listens: only then could `dev` attach to it.
        import socket

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        dev = CliProcess("dev", "--db-file", str(tmp_path / "dev.sqlite3"),
                         "--port", str(port), "--ui-port", str(free_port()))
        try:
            code = dev.process.wait(60)
        finally:
            if dev.process.poll() is None:
                dev.stop(signal.SIGINT)
        dev._reader.join(5)
        assert code == 1, dev.output
        assert f"127.0.0.1:{port} is already in use" in dev.output
        assert f"pid {stranger.pid}" in dev.output  # says what is listening
        assert "Press Ctrl-C" not in dev.output
        assert stranger.poll() is None  # and leaves it alone
    finally:
        stranger.kill()
        stranger.wait(30)
