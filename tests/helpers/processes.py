"""Running the CLI as a real subprocess, an engine bound to an arbitrary server, and a
worker process killed mid-work and replaced."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from durable_automation import engine
from durable_automation._client.connect import connect
from durable_automation._core.runtime import LoopThread
from durable_automation._core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class CliProcess:
    """``durable-automation ...`` in a subprocess, its output collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from durable_automation.cli import main; main()", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=full_env, cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not printed within {timeout}s:\n{self.output}")
            time.sleep(0.05)

    def stop(self, sig: int, timeout: float = 60) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code


@contextlib.contextmanager
def engine_on(address: str, task_queue: str) -> Iterator[None]:
    """Bind ``engine`` to the server at ``address`` (no worker in this process)."""
    runner = LoopThread("test-engine")
    client = runner.run(connect(Settings(address=address)))
    previous = engine.bind(client, task_queue, runner.loop)
    try:
        yield
    finally:
        engine.restore(previous)
        runner.stop()


@contextlib.contextmanager
def worker_to_kill(module: str, address: str, task_queue: str,
                   ready: str) -> Iterator[Callable[[], None]]:
    """A ``durable-automation worker`` process for ``module`` on ``task_queue`` (waited
    for until it prints ``ready``), with ``engine`` bound to that queue; yields
    ``kill_and_replace``, which kills the worker (SIGKILL) and starts a second one.
    Workers still running at the end get SIGTERM."""
    args = ("worker", module, "--address", address, "--task-queue", task_queue)
    # A short heartbeat timeout so the server notices the dead worker within seconds.
    env = {"DURABLE_AUTOMATION_HEARTBEAT_TIMEOUT": "2"}
    workers = [CliProcess(*args, env=env)]

    def kill_and_replace() -> None:
        assert workers[0].stop(signal.SIGKILL) == -signal.SIGKILL
        workers.append(CliProcess(*args, env=env))

    try:
        workers[0].wait_for(ready)
        with engine_on(address, task_queue):
            yield kill_and_replace
    finally:
        for process in workers:
            if process.process.poll() is None:
                process.stop(signal.SIGTERM)
