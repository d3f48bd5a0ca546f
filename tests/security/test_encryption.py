"""Encrypted payloads: personal data never reaches Temporal in clear; operators decode
through the codec endpoint; old keys keep decoding after rotation."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Sequence

import pytest
from google.protobuf import json_format
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

from durable_automation import ConfigurationError, complete, engine, get_context, step, workflow
from durable_automation._core.runtime import call_sync
from durable_automation._core.settings import overridden
from durable_automation.codec import EncryptionCodec, generate_key
from durable_automation.codec_server import CodecServer
from durable_automation.testing import time_machine


@workflow("sec_greet_guest")
class GreetGuest:
    class Context(BaseModel):
        guest_email: str
        greeted: bool = False

    @step(start=True)
    def greet(self):
        get_context().greeted = True
        return complete(to=get_context().guest_email)


def _raw_history_payloads(run_id: str) -> list[Payload]:
    async def fetch() -> list[Payload]:
        client = await engine._aclient()
        response = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace="default", execution=WorkflowExecution(workflow_id=run_id)))
        found: list[Payload] = []

        def walk(message) -> None:
            for field, value in message.ListFields():
                if field.message_type is None:
                    continue
                listlike = isinstance(value, Sequence) or hasattr(value, "extend")
                items = value if listlike else [value]
                for item in items:
                    if isinstance(item, Payload):
                        found.append(item)
                    elif hasattr(item, "ListFields"):
                        walk(item)

        for event in response.history.events:
            walk(event)
        return found

    return call_sync(engine._ensure().loop, fetch, sync_name="t", async_name="t")


def test_context_is_stored_encrypted_and_the_codec_endpoint_decodes_it():
    keys = {"2026-11": generate_key()}
    with overridden(encryption_keys=keys), time_machine():
        run = engine.start("sec_greet_guest", guest_email="ada@example.com")
        assert run.result(timeout=20) == {"to": "ada@example.com"}
        assert run.context().greeted is True
        payloads = _raw_history_payloads(run.id)

    assert payloads, "the history has payloads"
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in payloads)
    assert not any(b"ada@example.com" in p.data for p in payloads)

    server = CodecServer(EncryptionCodec.from_settings(keys), token="t0ken").start()
    try:
        body = json_format.MessageToJson(Payloads(payloads=payloads)).encode()
        request = urllib.request.Request(f"{server.url}/decode", data=body,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": "Bearer t0ken"})
        with urllib.request.urlopen(request, timeout=10) as response:
            decoded = json.loads(response.read())
    finally:
        server.stop()
    texts = [base64.b64decode(p["data"]) for p in decoded["payloads"]]
    assert any(b"ada@example.com" in t for t in texts)


async def test_rotation_old_keys_decode_new_key_encrypts():
    old, new = generate_key(), generate_key()
    before = EncryptionCodec.from_settings({"old": old})
    [sealed] = await before.encode([Payload(data=b"secret")])
    rotated = EncryptionCodec.from_settings({"new": new, "old": old})
    assert (await rotated.decode([sealed]))[0].data == b"secret"
    [resealed] = await rotated.encode([Payload(data=b"secret")])
    assert resealed.metadata["encryption-key-id"] == b"new"
    with pytest.raises(ConfigurationError, match="key 'old', which is not in ENCRYPTION_KEYS"):
        await EncryptionCodec.from_settings({"new": new}).decode([sealed])


def test_bad_keys_are_clear_errors():
    with pytest.raises(ConfigurationError, match="not valid base64"):
        EncryptionCodec.from_settings({"k": "not base64!"})
    with pytest.raises(ConfigurationError, match="AES-256 needs 32"):
        EncryptionCodec.from_settings({"k": base64.b64encode(b"short").decode()})
