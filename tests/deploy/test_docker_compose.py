"""docker-compose.yml: the services users need, wired to each other; checked by a real
compose tool where one is installed (`.ci/run` installs Debian's docker-compose)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def test_compose_file_names_the_services():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"temporal", "postgresql", "temporal-ui", "worker"} <= set(services)
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert services["worker"]["environment"]["DURABLE_AUTOMATION_ADDRESS"] == "temporal:7233"
    assert (ROOT / services["worker"]["build"]["dockerfile"]).is_file()
    # The worker entry point it runs exists and is the thin `python -m worker`.
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    assert (ROOT / "worker" / "__main__.py").is_file()


def test_search_attributes_registered_match_the_sdk():
    from durable_automation.devserver import SEARCH_ATTRIBUTES

    setup = yaml.safe_load(COMPOSE.read_text())["services"]["temporal-setup"]["command"][0]
    for name in SEARCH_ATTRIBUTES:
        assert name in setup


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="no compose tool installed")
def test_compose_config_validates():
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
