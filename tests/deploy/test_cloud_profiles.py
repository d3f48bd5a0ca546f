"""Connecting to Temporal Cloud (API key, mTLS, namespace) as docs/operations.md says,
validated offline: the example profile file (deploy/temporal/temporal.example.toml) and
the variables the Kubernetes example sets resolve to the settings and TLS the SDK's
``connect()`` would use. (No Cloud account here; the connection itself is
``temporalio``'s, exercised against the dev server in tests/cli/test_temporal_envconfig.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from durable_automation._client.connect import tls_config
from durable_automation._core import settings as _settings
from durable_automation._core.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "temporal" / "temporal.example.toml"
_VARS = ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
         "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE", "DURABLE_AUTOMATION_ADDRESS",
         "DURABLE_AUTOMATION_NAMESPACE", "DURABLE_AUTOMATION_API_KEY", "DURABLE_AUTOMATION_TLS")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setattr(_settings, "_overrides", {})
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    _settings.reset_settings()
    yield monkeypatch
    _settings.reset_settings()


def _use(env: pytest.MonkeyPatch, config: Path, profile: str) -> None:
    env.setenv("TEMPORAL_CONFIG_FILE", str(config))
    env.setenv("TEMPORAL_PROFILE", profile)
    _settings.reset_settings()


def test_self_hosted_default_profile(env):
    _use(env, EXAMPLE, "default")
    settings = get_settings()
    assert (settings.address, settings.namespace, settings.api_key) == (
        "localhost:7233", "default", None)
    assert tls_config(settings) is False


def test_cloud_api_key_profile(env):
    _use(env, EXAMPLE, "cloud")
    settings = get_settings()
    assert settings.address == "us-east-1.aws.api.temporal.io:7233"
    assert settings.namespace == "your-namespace.a1b2c"
    assert settings.api_key == "replace-with-your-api-key"
    assert tls_config(settings) is True  # an API key implies TLS
    # The key from a secret (TEMPORAL_API_KEY), as the Kubernetes example sets it, wins
    # over the file's placeholder.
    env.setenv("TEMPORAL_API_KEY", "from-the-secret")
    _settings.reset_settings()
    assert get_settings().api_key == "from-the-secret"


def test_cloud_mtls_profile(env, tmp_path):
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"-- client cert --")
    key.write_bytes(b"-- client key --")
    # The example's paths point at /etc/temporal/tls; here they point at the files above.
    config = tmp_path / "temporal.toml"
    config.write_text(EXAMPLE.read_text().replace("/etc/temporal/tls/client.pem", str(cert))
                      .replace("/etc/temporal/tls/client.key", str(key)))
    _use(env, config, "cloud-mtls")
    settings = get_settings()
    assert settings.address == "your-namespace.a1b2c.tmprl.cloud:7233"
    assert settings.namespace == "your-namespace.a1b2c"
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"-- client cert --",
                                                         b"-- client key --")


def test_env_variables_alone_as_in_the_kubernetes_example(env):
    import yaml

    [deployment] = list(yaml.safe_load_all((ROOT / "deploy/k8s/worker.yaml").read_text()))
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for item in container["env"]:
        if item["name"].startswith(("TEMPORAL_", "DURABLE_AUTOMATION_")):
            env.setenv(item["name"], item.get("value") or "secret-value")
    _settings.reset_settings()
    settings = get_settings()
    assert settings.address.endswith(".tmprl.cloud:7233")
    assert settings.api_key == "secret-value" and tls_config(settings) is True
    assert (settings.health_port, settings.metrics_port) == (8081, 9464)
    assert settings.drain_timeout.total_seconds() == 60
    assert settings.search_attributes is True
