"""deploy/k8s/worker.yaml, validated offline (no cluster here): a Deployment whose
termination grace period covers the drain, with probes on the worker's health endpoint."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from durable_automation._core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


def _documents() -> list[dict[str, Any]]:
    return [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]


def _worker() -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    [deployment] = [d for d in _documents() if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    return deployment, container, env


def test_manifests_parse_and_name_their_kind():
    assert MANIFESTS, "deploy/k8s has no manifests"
    for document in _documents():
        assert {"apiVersion", "kind", "metadata"} <= set(document)
        assert document["metadata"]["name"]


def test_worker_deployment_selects_its_pods_and_runs_the_worker():
    deployment, container, _ = _worker()
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert container["command"] == ["python", "-m", "worker"]
    image = container["image"]
    tag = image.rpartition(":")[2]
    assert ":" in image and tag not in ("", "latest"), f"unpinned image {image!r}"
    # New pods are ready before old ones go: no moment without a poller.
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_termination_grace_period_covers_the_drain():
    deployment, _, env = _worker()
    drain = timedelta(seconds=float(env.get("DURABLE_AUTOMATION_DRAIN_TIMEOUT")
                                    or Settings().drain_timeout.total_seconds()))
    grace = timedelta(seconds=deployment["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"])
    assert grace >= drain + timedelta(seconds=15), (grace, drain)


def test_probes_call_the_health_endpoint_on_its_port():
    _, container, env = _worker()
    port = int(env["DURABLE_AUTOMATION_HEALTH_PORT"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == port
    assert ports["metrics"] == int(env["DURABLE_AUTOMATION_METRICS_PORT"])
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/livez")):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"]) == (path, "health"), probe


def test_connection_comes_from_temporal_env_and_a_secret():
    _, container, env = _worker()
    assert env["TEMPORAL_ADDRESS"] and env["TEMPORAL_NAMESPACE"]
    [api_key] = [e for e in container["env"] if e["name"] == "TEMPORAL_API_KEY"]
    assert "secretKeyRef" in api_key["valueFrom"]  # never a literal key in a manifest


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kubectl_decodes_the_manifests_offline():
    # `--local` decodes each object into Kubernetes' own typed structs without a cluster:
    # a wrong type or kind fails here as it would on `kubectl apply`.
    for path in MANIFESTS:
        result = subprocess.run(["kubectl", "set", "image", "--local", "-f", str(path),
                                 "worker=example:1", "-o", "name"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "deployment.apps/durable-automation-worker" in result.stdout
