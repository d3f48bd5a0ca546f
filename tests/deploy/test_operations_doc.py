"""Every command docs/operations.md gives is checked: each shell line of the document must
match a validator here, which runs it, or checks it against the tool's own parser or
help, the compose file, the manifests and the settings (offline: no Docker engine, no
cluster, no Cloud account here). A command with no validator fails the test.

What runs for real elsewhere: setup-cluster.sh (test_cluster_setup.py), the Worker
Versioning commands (test_worker_versioning.py), the Cloud profiles
(test_cloud_profiles.py), the health and metrics endpoints (tests/observability)."""

from __future__ import annotations

import ast
import dataclasses
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, get_commands, load_command_class

from durable_automation._binaries import dev_server_path
from durable_automation._core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
SETTINGS = {f.name.upper() for f in dataclasses.fields(Settings)}
TEMPORAL_VARS = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
                 "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
                 "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME",
                 "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE"}
# Variables the deploy scripts read (deploy/temporal/*.sh).
SCRIPT_VARS = {"NAMESPACE_RETENTION", "SEARCH_ATTRIBUTES", "POSTGRES_SEEDS", "POSTGRES_USER",
               "SQL_PASSWORD", "DB_PORT"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def _commands() -> list[str]:
    lines: list[str] = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _deployment() -> dict:
    [doc] = list(yaml.safe_load_all((ROOT / "deploy/k8s/worker.yaml").read_text()))
    return doc


def _known_variable(name: str) -> None:
    if name.startswith("DURABLE_AUTOMATION_"):
        assert name.removeprefix("DURABLE_AUTOMATION_") in SETTINGS, f"no setting {name}"
    else:
        assert name in TEMPORAL_VARS | SCRIPT_VARS, f"unknown variable {name}"


def _manage(args: list[str]) -> None:
    name, rest = args[0], args[1:]
    assert name in get_commands(), f"no management command {name!r}"
    command = load_command_class(get_commands()[name], name)
    command.create_parser("manage.py", name).parse_args(rest)  # exits on bad arguments


def _python(args: list[str]) -> None:
    if args[:2] == ["-m", "worker"]:
        assert (ROOT / "worker" / "__main__.py").is_file()
        return
    script = Path(args[0])
    assert script.name == "manage.py", f"unexpected python command {args}"
    if len(script.parts) > 1:
        assert (ROOT / script).is_file(), script
    _manage(args[1:])


@cache
def _help(*path: str) -> str:
    # `temporal options` (global and connection flags) prints them without --help.
    extra = [] if path == ("options",) else ["--help"]
    result = subprocess.run([dev_server_path(), *path, *extra], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"`temporal {' '.join(path)}` is not a command"
    return result.stdout


def _temporal(args: list[str]) -> None:
    path = [a for a in args if not a.startswith("-")]
    flags = [a.split("=")[0] for a in args if a.startswith("--")]
    # The command path is the leading words; later words are flag values.
    words: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    assert words and path[: len(words)] == words
    text = _help(*words) + _help("options")
    for flag in flags:
        assert re.search(rf"{re.escape(flag)}\b", text), f"temporal {' '.join(words)}: {flag}?"


def _pg(tool: str, args: list[str]) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here")
    text = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=30).stdout
    for arg in args:
        if arg.startswith("--"):
            assert f"{arg}" in text, f"{tool}: {arg}?"
        elif arg.startswith("-"):
            assert f"  {arg[:2]}," in text, f"{tool}: {arg}?"


def _compose_command(args: list[str]) -> None:
    services = set(_compose()["services"])
    sub, rest = args[0], args[1:]
    if sub in ("up",):
        for i, arg in enumerate(rest):
            if arg == "--scale":
                assert rest[i + 1].split("=")[0] in services
            else:
                assert arg in ("--build", "-d") or "=" in arg, arg
    elif sub in ("ps", "pull", "build", "stop"):
        assert set(rest) <= services, set(rest) - services
    elif sub == "logs":
        assert rest[0] == "-f" and set(rest[1:]) <= services
    elif sub == "run":
        assert rest[0] == "--rm" and rest[1] in services and len(rest) == 2
    elif sub == "exec":
        if rest[0] == "-T":
            rest = rest[1:]
        assert rest[0] in services, rest[0]
        inner = rest[1:]
        if inner[0] == "python" and inner[1] == "-c":
            compile(inner[2], "<doc>", "exec")
        elif inner[0] == "python":
            _python(inner[1:])
        elif inner[0] in ("pg_dump", "pg_restore"):
            _pg(inner[0], [a for a in inner[1:] if a not in ("<", ">")])
            # The databases named exist in the stack: Temporal's two and the app's.
            named = [a for a in inner[1:] if not a.startswith("-") and a not in ("temporal",)]
            assert set(named) <= {"hotel", "temporal_visibility", "<", ">"} | {
                a for a in inner if a.endswith(".dump")}, named
        else:
            raise AssertionError(f"no validator for `{' '.join(inner)}` in a container")
    else:
        raise AssertionError(f"no validator for `docker compose {sub}`")


def _cli(args: list[str]) -> None:
    from durable_automation.cli import build_parser

    build_parser().parse_args(args)  # exits on an unknown command or bad arguments


def _kubectl(args: list[str]) -> None:
    deployment = _deployment()
    name = deployment["metadata"]["name"]
    if args[:2] == ["apply", "-f"]:
        assert (ROOT / args[2]).is_file()
    elif args[0] == "scale":
        assert args[1] == f"deployment/{name}" and args[2].startswith("--replicas=")
    elif args[:2] == ["rollout", "status"]:
        assert args[2] == f"deployment/{name}"
    elif args[:2] == ["set", "image"]:
        container = deployment["spec"]["template"]["spec"]["containers"][0]["name"]
        assert args[2] == f"deployment/{name}" and args[3].startswith(f"{container}=")
    elif args[:3] == ["create", "secret", "generic"]:
        refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                for c in deployment["spec"]["template"]["spec"]["containers"]
                for e in c["env"] if "valueFrom" in e}
        key = args[4].removeprefix("--from-literal=").split("=")[0]
        assert (args[3], key) in refs, (args[3], key)
    else:
        raise AssertionError(f"no validator for `kubectl {' '.join(args)}`")


def validate(command: str) -> None:
    """Check one shell line of the document (raises AssertionError if it would not work)."""
    tokens = shlex.split(command)
    while tokens and re.fullmatch(r"[A-Z_]+=.*", tokens[0]):
        _known_variable(tokens.pop(0).split("=")[0])
    head, args = tokens[0], tokens[1:]
    if head == "export":
        _known_variable(args[0].split("=")[0])
    elif head == "python":
        _python(args)
    elif head == "temporal":
        _temporal(args)
    elif head == "docker" and args[0] == "compose":
        _compose_command(args[1:])
    elif head == "kubectl":
        _kubectl(args)
    elif head == "durable-automation":
        _cli(args)
    elif head == "sh":
        assert args == ["deploy/temporal/setup-cluster.sh"], args  # run in test_cluster_setup
    elif head == "mkdir":
        assert args[0] == "-p"
    elif head == "cp":
        assert (ROOT / args[0]).is_file(), args[0]
    else:
        raise AssertionError(f"no validator for `{command}`")


@pytest.mark.parametrize("command", _commands())
def test_every_command_in_the_document_is_valid(command):
    validate(command)


def test_the_validators_reject_wrong_commands():
    for wrong in ("docker compose up -d --scale workers=3",
                  "python manage.py automation_events cleanup --dry-rum",
                  "python manage.py automation_nothing",
                  "export DURABLE_AUTOMATION_HEALTH=8081",
                  "temporal worker deployment set-current-version --deployment-nam x",
                  "kubectl scale deployment/other --replicas=2",
                  "durable-automation chek",
                  "curl http://localhost:8081/readyz"):
        with pytest.raises((AssertionError, SystemExit, CommandError)):
            validate(wrong)


def test_the_document_covers_the_issue():
    assert len(_commands()) >= 30
    text = DOC.read_text()
    for topic in ("Temporal Cloud with an API key", "Temporal Cloud with mTLS",
                  "Registering the search attributes", "Scaling workers and web processes",
                  "Graceful deploys and draining", "Safe code changes",
                  "durable-automation check", "Worker Versioning", "Upgrades",
                  "Backups, and what survives what", "Event retention", "Kubernetes"):
        assert topic in text, topic


def test_settings_in_python_examples_are_known():
    for block in _blocks("python"):
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == \
                    "DURABLE_AUTOMATION":
                keys = ast.literal_eval(node.value).keys()
                assert set(keys) <= SETTINGS, set(keys) - SETTINGS
