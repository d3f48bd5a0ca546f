"""Temporal's own environment configuration (``temporalio.envconfig``) sets the connection;
``DURABLE_AUTOMATION`` settings, from any source, take precedence over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings
from temporalio.service import TLSConfig

from durable_automation import ConfigurationError
from durable_automation._client.connect import connect, tls_config
from durable_automation._core import settings as _settings
from durable_automation._core.runtime import LoopThread
from durable_automation._core.settings import configure, get_settings

_TEMPORAL_VARS = ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
                  "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE")


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[pytest.MonkeyPatch]:
    """No configure() values, no DURABLE_AUTOMATION_* or TEMPORAL_* variables, no profile file."""
    monkeypatch.setattr(_settings, "_overrides", {})
    for name in _TEMPORAL_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in ("ADDRESS", "NAMESPACE", "API_KEY", "TLS"):
        monkeypatch.delenv(f"DURABLE_AUTOMATION_{name}", raising=False)
    # Keep a developer's own ~/.config/temporalio/temporal.toml out of the test.
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    _settings.reset_settings()
    yield monkeypatch
    _settings.reset_settings()


def test_temporal_env_vars_set_the_connection(clean):
    assert get_settings().address == "localhost:7233"
    clean.setenv("TEMPORAL_ADDRESS", "env.example:7233")
    clean.setenv("TEMPORAL_NAMESPACE", "env-ns")
    clean.setenv("TEMPORAL_API_KEY", "env-key")
    _settings.reset_settings()
    settings = get_settings()
    assert (settings.address, settings.namespace, settings.api_key) == (
        "env.example:7233", "env-ns", "env-key")
    assert tls_config(settings) is True  # an API key implies TLS, as in Temporal's CLI


def test_a_profile_file_sets_the_connection_and_tls(clean, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-- ca --")
    config = tmp_path / "temporal.toml"
    config.write_text(
        '[profile.default]\naddress = "dev.example:7233"\n\n'
        '[profile.prod]\naddress = "prod.example:7233"\nnamespace = "prod-ns"\n'
        f'[profile.prod.tls]\nserver_name = "prod.example"\nserver_ca_cert_path = "{ca}"\n'
    )
    clean.setenv("TEMPORAL_CONFIG_FILE", str(config))
    _settings.reset_settings()
    assert get_settings().address == "dev.example:7233"

    clean.setenv("TEMPORAL_PROFILE", "prod")
    _settings.reset_settings()
    settings = get_settings()
    assert (settings.address, settings.namespace) == ("prod.example:7233", "prod-ns")
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig)
    assert (tls.server_root_ca_cert, tls.domain) == (b"-- ca --", "prod.example")


def test_durable_automation_settings_take_precedence(clean):
    clean.setenv("TEMPORAL_ADDRESS", "env.example:7233")
    clean.setenv("TEMPORAL_NAMESPACE", "env-ns")
    clean.setenv("TEMPORAL_API_KEY", "env-key")
    clean.setenv("DURABLE_AUTOMATION_ADDRESS", "ours.example:7233")
    _settings.reset_settings()
    assert get_settings().address == "ours.example:7233"
    assert get_settings().namespace == "env-ns"  # not set by us: Temporal's value stands

    assert configure(namespace="our-ns").namespace == "our-ns"
    with override_settings(DURABLE_AUTOMATION={"API_KEY": "our-key"}):
        _settings.reset_settings()
        settings = get_settings()
        assert (settings.address, settings.namespace, settings.api_key) == (
            "ours.example:7233", "our-ns", "our-key")


def test_a_broken_temporal_profile_is_a_clear_error(clean, tmp_path):
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.default]\naddress = "dev.example:7233"\n')
    clean.setenv("TEMPORAL_CONFIG_FILE", str(config))
    clean.setenv("TEMPORAL_PROFILE", "no-such-profile")
    _settings.reset_settings()
    with pytest.raises(ConfigurationError, match="Temporal's environment configuration"):
        get_settings()


def test_connect_goes_where_temporal_env_says(clean, temporal_dev_server):
    clean.setenv("TEMPORAL_ADDRESS", temporal_dev_server.address)
    _settings.reset_settings()
    runner = LoopThread("envconfig-test")
    try:
        client = runner.run(connect(), timeout=60)
        assert client.service_client.config.target_host == temporal_dev_server.address
        runner.run(client.service_client.check_health(), timeout=30)
    finally:
        runner.stop()
