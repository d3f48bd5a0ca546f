"""Payload encryption: Contexts (personal data) are stored encrypted in Temporal.

Set ``ENCRYPTION_KEYS = {"2026-11": "<base64 of 32 random bytes>", "2026-01": "..."}``:
the first key encrypts, every listed key decrypts, so keys rotate by putting a new one
first and keeping the old ones until no history needs them. Each payload is sealed
with AES-256-GCM (the ``cryptography`` package) and tagged with its key id.

The Temporal UI only sees ciphertext; operators run :func:`serve_codec` (or
``durable-automation codec-server``) and set it as the UI's codec endpoint to see
decoded payloads in their browser, without the keys ever reaching the server.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from .exceptions import ConfigurationError

__all__ = ["ENCODING", "EncryptionCodec", "generate_key"]

ENCODING = b"binary/encrypted"
_NONCE_BYTES = 12


def generate_key() -> str:
    """A new random key, base64-encoded, for ``ENCRYPTION_KEYS``."""
    return base64.b64encode(os.urandom(32)).decode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec with key ids for rotation.

    Args:
        keys: ``{key_id: raw 32-byte key}``; the first encrypts.
    """

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError(
                "ENCRYPTION_KEYS needs the cryptography package: "
                "pip install 'durable-automation[crypto]'"
            ) from exc
        if not keys:
            raise ConfigurationError("ENCRYPTION_KEYS is empty; give at least one key")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ConfigurationError(
                    f"Encryption key {key_id!r} is {len(key)} bytes; AES-256 needs 32 "
                    "(make one with durable_automation.codec.generate_key())"
                )
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = next(iter(keys))

    @classmethod
    def from_settings(cls, keys: Mapping[str, str]) -> EncryptionCodec:
        """Build from the ``ENCRYPTION_KEYS`` setting (base64 values)."""
        raw: dict[str, bytes] = {}
        for key_id, value in keys.items():
            try:
                raw[str(key_id)] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError, TypeError) as exc:
                raise ConfigurationError(
                    f"Encryption key {key_id!r} is not valid base64: {exc}"
                ) from exc
        return cls(raw)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload (its metadata and data) under the current key."""
        cipher = self._ciphers[self._current]
        sealed = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            data = cipher.encrypt(nonce, payload.SerializeToString(), self._current.encode())
            sealed.append(Payload(
                metadata={"encoding": ENCODING, "encryption-key-id": self._current.encode()},
                data=nonce + data,
            ))
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt payloads sealed by any known key; others pass through unchanged."""
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)
                continue
            key_id = payload.metadata.get("encryption-key-id", b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ConfigurationError(
                    f"A payload is encrypted with key {key_id!r}, which is not in "
                    "ENCRYPTION_KEYS; keep old keys listed until no history uses them"
                )
            nonce, data = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            inner = Payload()
            inner.ParseFromString(cipher.decrypt(nonce, data, key_id.encode()))
            opened.append(inner)
        return opened
