"""Worker health over HTTP, for orchestrators (``HEALTH_PORT``).

temporalio's Prometheus endpoint serves metrics only, so the worker answers two
questions of its own on a small HTTP server:

- ``GET /livez``: the process is running (200 while it runs, also while it drains:
  an orchestrator must not kill a worker that is finishing its steps);
- ``GET /readyz``: connected to Temporal and polling its task queue. 200 once the
  worker has started and Temporal lists this worker's identity among the pollers of
  its task queue (``DescribeTaskQueue``, cached for a few seconds); 503 while it
  connects, when Temporal cannot be reached, and from the moment it starts to drain.

Both answer a small JSON object saying why. The server is asyncio's own (no
dependency), on the worker's event loop; ``/healthz`` is an alias of ``/livez``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.service import RPCError

from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from .assembly import AutomationWorker

__all__ = ["Readiness", "WorkerHealth"]

log = logging.getLogger("durable_automation.health")

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Readiness:
    """The answer of ``/readyz``: ready or not, and why."""

    ready: bool
    detail: str
    task_queue: str | None = None
    identity: str | None = None


class WorkerHealth:
    """Liveness and readiness of one worker process, served over HTTP.

    Args:
        port: TCP port (``0`` picks a free one; see :attr:`port` once started).
        host: Interface to listen on (all of them by default, for probes from outside
            the container).
        cache: How long one readiness answer is reused (probes may come often; the
            check is one ``DescribeTaskQueue`` call).
        rpc_timeout: Longest the readiness check waits for Temporal.
    """

    def __init__(self, port: int, host: str = "0.0.0.0", *,
                 cache: timedelta = timedelta(seconds=3),
                 rpc_timeout: timedelta = timedelta(seconds=5)) -> None:
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise ConfigurationError(
                f"HEALTH_PORT must be a TCP port number (1-65535), not {port!r}; "
                "leave it unset to turn the health endpoint off")
        self.host = host
        self.port = port
        self._cache = cache.total_seconds()
        self._rpc_timeout = rpc_timeout
        self._worker: AutomationWorker | None = None
        self._draining = False
        self._last: tuple[float, Readiness] | None = None
        self._server: asyncio.Server | None = None

    # ── state the worker reports ─────────────────────────────────────────────────

    def watch(self, worker: AutomationWorker) -> None:
        """The worker whose readiness to report (it is started afterwards)."""
        self._worker = worker
        self._last = None

    def drain(self) -> None:
        """The worker is stopping: not ready from now on (still alive)."""
        self._draining = True
        self._last = None

    # ── the checks ───────────────────────────────────────────────────────────────

    async def readiness(self) -> Readiness:
        """Whether the worker is connected and polling (cached for ``cache``)."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self._cache:
            return self._last[1]
        answer = await self._check()
        self._last = (time.monotonic(), answer)
        return answer

    async def _check(self) -> Readiness:
        worker = self._worker
        if self._draining:
            return Readiness(False, "draining: running steps are finishing, no new work "
                                    "is taken")
        if worker is None:
            return Readiness(False, "starting: connecting to Temporal")
        task_queue = worker.task_queue
        if not worker.worker.is_running:
            return Readiness(False, "starting: the worker is not polling yet", task_queue)
        client = worker.client
        identity = worker.worker.config().get("identity") or client.identity
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        try:
            response = await client.workflow_service.describe_task_queue(
                request, timeout=self._rpc_timeout)
        except (RPCError, RuntimeError) as exc:  # RuntimeError: the core's connection errors
            return Readiness(False, f"Temporal at {client.service_client.config.target_host} "
                                    f"cannot be reached: {exc}", task_queue, identity)
        if any(poller.identity == identity for poller in response.pollers):
            return Readiness(True, "polling", task_queue, identity)
        return Readiness(False, "connected, but Temporal does not list this worker among "
                                "the pollers of its task queue yet", task_queue, identity)

    # ── HTTP ─────────────────────────────────────────────────────────────────────

    async def start(self) -> None:
        """Start listening.

        Raises:
            ConfigurationError: The port cannot be bound.
        """
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot serve worker health on {self.host}:{self.port}: {exc}. Is another "
                "process using HEALTH_PORT? Pick a free port or unset it.") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Worker health on http://%s:%d/livez and /readyz", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening (the process is about to exit)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def __aenter__(self) -> WorkerHealth:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            # Headers are read and ignored: the answer depends on the path alone.
            while await asyncio.wait_for(reader.readline(), 5) not in (b"\r\n", b"\n", b""):
                pass
            status, body = await self._route(request.decode("latin-1").split())
            payload = json.dumps(body).encode()
            head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(head if request.startswith(b"HEAD") else head + payload)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass  # a client that went away or sent nothing: nobody to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _route(self, parts: list[str]) -> tuple[int, dict[str, Any]]:
        if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
            return 405, {"error": "only GET /livez and GET /readyz"}
        path = parts[1].split("?", 1)[0]
        if path in ("/livez", "/healthz"):
            return 200, {"status": "alive", "draining": self._draining}
        if path == "/readyz":
            try:
                answer = await self.readiness()
            except Exception as exc:  # a probe must get an answer, not a hang-up
                log.exception("Readiness check failed")
                answer = Readiness(False, f"the readiness check failed: {exc!r}")
            body = {"status": "ready" if answer.ready else "not ready",
                    "detail": answer.detail, "task_queue": answer.task_queue,
                    "identity": answer.identity}
            return (200 if answer.ready else 503), body
        return 404, {"error": f"no {path}; try /livez or /readyz"}
