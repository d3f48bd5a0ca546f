"""Connecting to Temporal with the configured address, namespace, TLS and API key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from .._core.settings import Settings, get_settings
from ..exceptions import ConfigurationError, NotConnectedError
from .observability import client_interceptors, metrics_runtime

__all__ = ["connect", "data_converter", "tls_config"]


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The data converter every client and worker uses: pydantic JSON, optionally encrypted."""
    settings = settings or get_settings()
    if settings.encryption_keys:
        from ..codec import EncryptionCodec  # optional dependency: cryptography

        return dataclasses.replace(
            pydantic_data_converter,
            payload_codec=EncryptionCodec.from_settings(settings.encryption_keys),
        )
    return pydantic_data_converter


def tls_config(settings: Settings) -> TLSConfig | bool:
    """Build temporalio's TLS config from the ``TLS`` setting (API keys imply TLS)."""
    tls = settings.tls
    if isinstance(tls, TLSConfig):
        return tls  # from Temporal's environment configuration, files already read
    if isinstance(tls, dict):
        def read(key: str) -> bytes | None:
            path = tls.get(key)
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"TLS {key}: cannot read {path}: {exc}") from exc

        return TLSConfig(
            client_cert=read("client_cert"), client_private_key=read("client_key"),
            server_root_ca_cert=read("server_root_ca_cert"), domain=tls.get("domain"),
        )
    return bool(tls) or bool(settings.api_key)


async def connect(settings: Settings | None = None) -> Client:
    """Connect a client as the settings say.

    Raises:
        NotConnectedError: The server cannot be reached; the message names the address.
    """
    settings = settings or get_settings()
    try:
        return await Client.connect(
            settings.address,
            namespace=settings.namespace,
            tls=tls_config(settings),
            api_key=settings.api_key,
            data_converter=data_converter(settings),
            # METRICS_PORT / TRACING: workers built on this client inherit both.
            interceptors=client_interceptors(settings),
            runtime=metrics_runtime(settings),
        )
    except RuntimeError as exc:
        raise NotConnectedError(
            f"Cannot connect to Temporal at {settings.address} (namespace "
            f"{settings.namespace!r}): {exc}. Is the server running? Start one with "
            "`durable-automation dev`, or set DURABLE_AUTOMATION['ADDRESS']."
        ) from exc
