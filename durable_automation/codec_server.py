"""A codec endpoint for the Temporal UI, so operators see decrypted payloads.

The UI (and ``temporal`` CLI) POST ``{"payloads": [...]}`` in Temporal's JSON form
to ``/decode`` (and ``/encode``) and show what comes back. Run it next to the UI,
reachable only by operators, and set the UI's codec endpoint to its URL (for the dev
server: ``temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081/<token>``).

Anyone who can call it can read every Context, so every request must carry the
``CODEC_TOKEN`` setting, either as ``Authorization: Bearer <token>`` (``temporal``
CLI: ``--codec-auth "Bearer <token>"``) or as the endpoint's first path segment,
``/<token>/decode``: the browser UI sends no header of its own, so its endpoint URL
carries the token (keep that URL as private as the token). Missing credentials get
401, wrong ones 403; tokens are compared in constant time. CORS preflights
(``OPTIONS``) carry no credentials in browsers, so they are answered without a
token, and only for the UI's origin.

This is a small :mod:`http.server` rather than a web framework: two POST routes
and a preflight do not justify a dependency.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from .exceptions import ConfigurationError

__all__ = ["CodecServer"]


class CodecServer:
    """Serve ``/encode`` and ``/decode`` for ``codec`` on ``host:port`` in a thread.

    Args:
        codec: The payload codec (e.g. :class:`~durable_automation.codec.EncryptionCodec`).
        host: Interface to bind (keep it private: it decrypts anything sent to it).
        port: Port (0 = any free one; see :attr:`url`).
        allowed_origin: The UI's origin, for CORS (the UI calls it from the browser).
        token: The secret every request must present (the ``CODEC_TOKEN`` setting).

    Raises:
        ConfigurationError: ``token`` is empty.
    """

    def __init__(self, codec: PayloadCodec, host: str = "127.0.0.1", port: int = 0,
                 allowed_origin: str = "http://localhost:8233", *, token: str) -> None:
        if not token:
            raise ConfigurationError(
                "The codec server needs a token (setting CODEC_TOKEN), since it decrypts "
                "whatever it is sent; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        self.codec = codec
        self.allowed_origin = allowed_origin
        self._token = token.encode()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="durable-automation-codec", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the endpoint."""
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):  # typeshed allows it; AF_INET servers give str
            host = host.decode()
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

            def _refuse(self, code: int, message: str) -> None:
                self.send_response(code)
                self._cors()
                if code == 401:
                    self.send_header("WWW-Authenticate", 'Bearer realm="codec"')
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"error": message}).encode())

            def _route(self) -> str | None:
                """The route (``/encode`` or ``/decode``) if the caller is authorized.

                Answers the request itself (401, 403 or 404) and returns ``None`` otherwise.
                """
                path = self.path.split("?", 1)[0]
                prefix, _, route = path.rpartition("/")
                presented: bytes | None = None
                if prefix:  # /<token>/decode
                    presented = prefix.lstrip("/").encode()
                else:
                    scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
                    if scheme.lower() == "bearer" and credentials.strip():
                        presented = credentials.strip().encode()
                if presented is None:
                    self._refuse(401, "send the codec token: Authorization: Bearer <token>")
                    return None
                if not hmac.compare_digest(presented, server._token):
                    self._refuse(403, "wrong codec token")
                    return None
                if route not in ("encode", "decode"):
                    self._refuse(404, "POST /encode or /decode")
                    return None
                return route

            def do_POST(self) -> None:
                route = self._route()
                if route is None:
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    payloads = json_format.Parse(self.rfile.read(length), Payloads())
                    transform = server.codec.decode if route == "decode" else server.codec.encode
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
