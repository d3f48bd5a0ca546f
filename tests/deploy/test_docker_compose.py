"""docker-compose.yml: supported, pinned images; schema set up by admin-tools; health
checks; a worker that scales and drains within its stop grace period; gunicorn.

There is no Docker engine here: the file is parsed and checked (:func:`compose_problems`,
which the tests also run on broken copies to show it catches each problem), and
validated by a real compose tool where one is installed (`./run test` installs
Debian's docker-compose)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from durable_automation._core.settings import Settings
from durable_automation.devserver import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

# Images Temporal no longer builds or supports (auto-setup: deprecated in favour of
# temporalio/server + temporalio/admin-tools; web: replaced by temporalio/ui; tctl: by
# the temporal CLI).
DEPRECATED = {"temporalio/auto-setup", "temporalio/web", "temporalio/tctl"}
# Long-running services that need no health check: nothing waits for the UI.
NO_HEALTHCHECK_NEEDED = {"temporal-ui"}


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def duration(text: str | int) -> timedelta:
    """A compose duration (``90s``, ``1m30s``, ``2m``) or plain seconds."""
    if isinstance(text, int):
        return timedelta(seconds=text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?", text.strip())
    if not parts or not any(parts.groups()):
        raise ValueError(f"not a compose duration: {text!r}")
    h, m, s = (int(g or 0) for g in parts.groups())
    return timedelta(hours=h, minutes=m, seconds=s)


def drain_of(service: dict[str, Any]) -> timedelta:
    """The worker's DRAIN_TIMEOUT as its environment configures it (or the default)."""
    value = (service.get("environment") or {}).get("DURABLE_AUTOMATION_DRAIN_TIMEOUT")
    return Settings().drain_timeout if value is None else timedelta(seconds=float(value))


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """Everything wrong with a compose file by this project's rules (empty = fine)."""
    problems: list[str] = []
    services: dict[str, dict[str, Any]] = compose["services"]
    temporal_versions: dict[str, set[str]] = {}
    for name, service in services.items():
        long_running = service.get("restart", "no") != "no"
        if long_running and "healthcheck" not in service and name not in NO_HEALTHCHECK_NEEDED:
            problems.append(f"{name}: no healthcheck")
        image = service.get("image")
        if image is None:
            if "build" not in service:
                problems.append(f"{name}: neither image nor build")
            continue
        repo, _, tag = image.rpartition(":") if ":" in image else (image, "", "")
        if not tag or tag == "latest":
            problems.append(f"{name}: image {image!r} is not pinned to a version")
        if repo in DEPRECATED:
            problems.append(f"{name}: image {repo!r} is deprecated by Temporal")
        if repo.startswith("temporalio/"):
            if not re.fullmatch(r"\d+\.\d+\.\d+", tag):
                problems.append(f"{name}: {image!r} must name an exact x.y.z release")
            temporal_versions.setdefault(repo, set()).add(tag)
    servers = temporal_versions.get("temporalio/server", set())
    tools = temporal_versions.get("temporalio/admin-tools", set())
    if len(servers) != 1:
        problems.append(f"one temporalio/server version expected, found {sorted(servers)}")
    elif tools != servers:
        problems.append(f"admin-tools {sorted(tools)} must match the server {sorted(servers)} "
                        "(its schema files)")
    worker = services.get("worker")
    if worker is None:
        problems.append("no worker service")
    else:
        grace = duration(worker.get("stop_grace_period", "10s"))  # compose's default
        if grace <= drain_of(worker):
            problems.append(f"worker: stop_grace_period {grace} is not longer than its drain "
                            f"time {drain_of(worker)}: docker would kill running steps")
        for key in ("container_name", "ports", "hostname"):
            if key in worker:
                problems.append(f"worker: {key} keeps `--scale worker=N` from working")
    return problems


def test_the_compose_file_passes_the_checks():
    assert compose_problems(load()) == []


@pytest.mark.parametrize(("break_it", "expected"), [
    (lambda c: c["services"]["temporal"].update(image="temporalio/auto-setup:1.29.1"),
     "deprecated"),
    (lambda c: c["services"]["temporal-ui"].update(image="temporalio/ui"), "not pinned"),
    (lambda c: c["services"]["temporal-ui"].update(image="temporalio/ui:latest"), "not pinned"),
    (lambda c: c["services"]["temporal"].update(image="temporalio/server:1.30"), "exact x.y.z"),
    (lambda c: c["services"]["temporal-schema"].update(image="temporalio/admin-tools:1.29.1"),
     "must match the server"),
    (lambda c: c["services"]["worker"].pop("healthcheck"), "worker: no healthcheck"),
    (lambda c: c["services"]["temporal"].pop("healthcheck"), "temporal: no healthcheck"),
    (lambda c: c["services"]["worker"].update(stop_grace_period="45s"), "not longer than"),
    (lambda c: c["services"]["worker"].pop("stop_grace_period"), "not longer than"),
    (lambda c: c["services"]["worker"]["environment"].update(
        DURABLE_AUTOMATION_DRAIN_TIMEOUT="120"), "not longer than"),
    (lambda c: c["services"]["worker"].update(ports=["8081:8081"]), "--scale"),
])
def test_the_checks_catch_each_problem(break_it, expected):
    compose = copy.deepcopy(load())
    break_it(compose)
    problems = compose_problems(compose)
    assert any(expected in p for p in problems), problems


def test_durations():
    assert duration("90s") == timedelta(seconds=90)
    assert duration("1m30s") == timedelta(seconds=90)
    assert duration("2m") == timedelta(minutes=2)
    with pytest.raises(ValueError, match="not a compose duration"):
        duration("soon")


def test_schema_set_up_by_admin_tools_before_the_server_starts():
    services = load()["services"]
    schema = services["temporal-schema"]
    assert schema["image"].startswith("temporalio/admin-tools:")
    assert schema["entrypoint"] == ["/bin/sh", "/deploy/setup-schema.sh"]
    assert "./deploy/temporal:/deploy:ro" in schema["volumes"]
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == \
        "service_completed_successfully"
    script = (ROOT / "deploy" / "temporal" / "setup-schema.sh").read_text()
    for step in ("create", "setup-schema -v 0.0", 'update-schema -d "${dir}"'):
        assert f'--db "${{db}}" {step}' in script
    # Both stores: the default one and visibility, from the image's schema directory.
    assert '"${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:' \
           'visibility"' in script
    assert "/etc/temporal/schema/postgresql/v12" in script
    # The server reads the same database settings as the schema tool wrote.
    for key in ("DB", "DB_PORT", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD"):
        assert services["temporal"]["environment"][key] == schema["environment"][key]
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    dynamic = services["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert (ROOT / "deploy/temporal/dynamicconfig" / Path(dynamic).name).is_file()


@pytest.mark.parametrize("script", ["setup-schema.sh", "setup-cluster.sh"])
def test_setup_scripts_are_valid_sh(script):
    path = ROOT / "deploy" / "temporal" / script
    result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_search_attributes_registered_match_the_sdk():
    setup = load()["services"]["temporal-setup"]
    assert setup["entrypoint"] == ["/bin/sh", "/deploy/setup-cluster.sh"]
    pairs = dict(p.split("=") for p in setup["environment"]["SEARCH_ATTRIBUTES"].split())
    assert pairs == SEARCH_ATTRIBUTES
    script = (ROOT / "deploy" / "temporal" / "setup-cluster.sh").read_text()
    default = re.search(r'ATTRIBUTES="\$\{SEARCH_ATTRIBUTES:-([^}]*)\}"', script)
    assert default and dict(p.split("=") for p in default.group(1).split()) == SEARCH_ATTRIBUTES


def test_worker_health_drain_and_scaling_are_wired():
    services = load()["services"]
    worker = services["worker"]
    env = worker["environment"]
    assert worker["command"] == ["python", "-m", "worker"]
    assert (ROOT / "worker" / "__main__.py").is_file()
    assert (ROOT / worker["build"]["dockerfile"]).is_file()
    assert env["DURABLE_AUTOMATION_ADDRESS"] == "temporal:7233"
    # The healthcheck asks the worker's own readiness endpoint, on its configured port.
    probe = " ".join(worker["healthcheck"]["test"])
    assert f"http://127.0.0.1:{env['DURABLE_AUTOMATION_HEALTH_PORT']}/readyz" in probe
    assert str(env["DURABLE_AUTOMATION_HEALTH_PORT"]) in worker["expose"]
    assert worker["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert duration(worker["stop_grace_period"]) >= drain_of(worker) + timedelta(seconds=15)


def test_web_runs_gunicorn_with_an_app_that_loads():
    web = load()["services"]["web"]
    command = web["command"]
    assert command[0] == "gunicorn" and "runserver" not in " ".join(command)
    # The app spec is gunicorn's factory form, module:callable(); it must load.
    module, _, factory = command[-1].partition(":")
    assert factory.endswith("()")
    app = getattr(__import__(module, fromlist=["_"]), factory[:-2])()
    assert callable(app)
    graceful = int(command[command.index("--graceful-timeout") + 1])
    assert duration(web["stop_grace_period"]) > timedelta(seconds=graceful)
    assert "gunicorn==" in (ROOT / "worker" / "Dockerfile").read_text()


def _compose_tool() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True,
                               text=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_tool() is None,
                    reason="neither `docker compose` (plugin) nor `docker-compose` is "
                           "installed; `./run test` installs Debian's docker-compose")
def test_compose_config_validates():
    tool = _compose_tool()
    assert tool is not None
    # `config` validates the whole file (as `config --quiet` does) before listing.
    services = subprocess.run([*tool, "-f", str(COMPOSE), "config", "--services"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert services.returncode == 0, services.stderr
    assert set(services.stdout.split()) == set(load()["services"])
