"""The codec endpoint decrypts whatever it is sent, so it answers only callers that
present its token: as a bearer token, or as the first path segment (for the Temporal
UI, which cannot add a header of its own)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from durable_automation import ConfigurationError
from durable_automation._core.settings import overridden
from durable_automation.cli import run
from durable_automation.codec import EncryptionCodec, generate_key
from durable_automation.codec_server import CodecServer

TOKEN = "s3cret-token-for-tests"
UI = "http://localhost:8233"


@pytest.fixture
def sealed_and_server() -> Iterator[tuple[bytes, CodecServer]]:
    import asyncio

    codec = EncryptionCodec.from_settings({"k": generate_key()})
    [sealed] = asyncio.run(codec.encode([Payload(data=b"ada@example.com")]))
    body = json_format.MessageToJson(Payloads(payloads=[sealed])).encode()
    server = CodecServer(codec, token=TOKEN, allowed_origin=UI).start()
    try:
        yield body, server
    finally:
        server.stop()


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _decoded(raw: bytes) -> bytes:
    return base64.b64decode(json.loads(raw)["payloads"][0]["data"])


def test_no_token_is_401_and_decodes_nothing(sealed_and_server):
    body, server = sealed_and_server
    status, raw = _post(f"{server.url}/decode", body)
    assert status == 401
    assert b"ada@example.com" not in raw


def test_a_wrong_token_is_403(sealed_and_server):
    body, server = sealed_and_server
    assert _post(f"{server.url}/decode", body, {"Authorization": "Bearer nope"})[0] == 403
    assert _post(f"{server.url}/decode", body, {"Authorization": f"Basic {TOKEN}"})[0] == 401
    assert _post(f"{server.url}/nope/decode", body)[0] == 403
    assert _post(f"{server.url}/{TOKEN}x/decode", body)[0] == 403


def test_the_right_token_decodes(sealed_and_server):
    body, server = sealed_and_server
    status, raw = _post(f"{server.url}/decode", body, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and _decoded(raw) == b"ada@example.com"
    status, raw = _post(f"{server.url}/{TOKEN}/decode", body)  # the UI's codec endpoint URL
    assert status == 200 and _decoded(raw) == b"ada@example.com"


def test_cors_preflight_needs_no_token_and_allows_only_the_ui(sealed_and_server):
    _, server = sealed_and_server
    request = urllib.request.Request(f"{server.url}/decode", method="OPTIONS",
                                     headers={"Origin": UI})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == UI
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_a_codec_server_without_a_token_is_refused():
    codec = EncryptionCodec.from_settings({"k": generate_key()})
    with pytest.raises(ConfigurationError, match="token"):
        CodecServer(codec, token="")


def test_the_command_needs_a_token(capsys):
    with overridden(encryption_keys={"k": generate_key()}, codec_token=None):
        assert run(["codec-server", "--port", "0"]) == 1
    assert "CODEC_TOKEN" in capsys.readouterr().err
