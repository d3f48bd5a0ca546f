"""Script mode: plain Python programs using the SDK, run as subprocesses against a dev server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Script:
    """A script file and its running process; output lines are time-stamped on arrival."""

    path: Path
    address: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    def start(self, *args: str) -> Script:
        self.lines, self.errors = [], []
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
               "DURABLE_AUTOMATION_ADDRESS": self.address, **self.env}
        self.process = subprocess.Popen(
            [sys.executable, str(self.path), *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
            cwd=self.path.parent,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.lines),
                             daemon=True),
            threading.Thread(target=self._read_err, args=(self.process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return self

    def _read(self, stream: Any, into: list[tuple[float, str]]) -> None:
        for line in stream:
            into.append((time.monotonic(), line.rstrip("\n")))

    def _read_err(self, stream: Any) -> None:
        for line in stream:
            self.errors.append(line.rstrip("\n"))

    def wait(self, timeout: float = 60) -> int:
        assert self.process is not None
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def run(self, *args: str, timeout: float = 60) -> int:
        return self.start(*args).wait(timeout)

    def texts(self, prefix: str = "") -> list[str]:
        return [text for _, text in self.lines if text.startswith(prefix)]

    def stamped(self, prefix: str) -> list[float]:
        return [at for at, text in self.lines if text.startswith(prefix)]

    def wait_for(self, check: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"script exited ({self.process.returncode}):\n"
                                     f"{self.report()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout}s:\n{self.report()}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def report(self) -> str:
        out = "\n".join(text for _, text in self.lines)
        return f"stdout:\n{out}\nstderr:\n" + "\n".join(self.errors[-40:])


@pytest.fixture
def make_script(temporal_dev_server: Any, tmp_path: Path) -> Iterator[Any]:
    """``make_script(name, source, **env)``: write a script and get a :class:`Script`."""
    made: list[Script] = []

    def make(name: str, source: str, **env: str) -> Script:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source).lstrip())
        script = Script(path, temporal_dev_server.address, env=dict(env))
        made.append(script)
        return script

    yield make
    for script in made:
        script.kill()
