"""A codec endpoint for the Temporal UI, so operators see decrypted payloads.

The UI (and ``temporal`` CLI) POST ``{"payloads": [...]}`` in Temporal's JSON form
to ``/decode`` (and ``/encode``) and show what comes back. Run it next to the UI,
reachable only by operators, and set the UI's codec endpoint to its URL (for the dev
server: ``temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

__all__ = ["CodecServer"]


class CodecServer:
    """Serve ``/encode`` and ``/decode`` for ``codec`` on ``host:port`` in a thread.

    Args:
        codec: The payload codec (e.g. :class:`~durable_automation.codec.EncryptionCodec`).
        host: Interface to bind (keep it private: it decrypts anything sent to it).
        port: Port (0 = any free one; see :attr:`url`).
        allowed_origin: The UI's origin, for CORS (the UI calls it from the browser).
    """

    def __init__(self, codec: PayloadCodec, host: str = "127.0.0.1", port: int = 0,
                 allowed_origin: str = "http://localhost:8233") -> None:
        self.codec = codec
        self.allowed_origin = allowed_origin
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="durable-automation-codec", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the endpoint."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CodecServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", server.allowed_origin)
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers",
                                 "Content-Type, X-Namespace, Authorization")

            def do_OPTIONS(self) -> None:
                self.send_response(200)
                self._cors()
                self.end_headers()

            def do_POST(self) -> None:
                if self.path not in ("/encode", "/decode"):
                    self.send_error(404, "POST /encode or /decode")
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    payloads = json_format.Parse(self.rfile.read(length), Payloads())
                    transform = server.codec.decode if self.path == "/decode" else server.codec.encode
                    result = asyncio.run(transform(list(payloads.payloads)))
                    body = json_format.MessageToJson(Payloads(payloads=result)).encode()
                except Exception as exc:  # noqa: BLE001 - report it to the caller
                    self.send_response(400)
                    self._cors()
                    self.end_headers()
                    self.wfile.write(json.dumps({"error": str(exc)}).encode())
                    return
                self.send_response(200)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: operators' browsers call it on every page

        return Handler
