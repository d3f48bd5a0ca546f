"""Import no package we do not declare.

Every ``import`` / ``from ... import`` in ``durable_automation/`` and
``django_integration/`` (read with :mod:`ast`, so imports inside functions count too)
must name the standard library, our own packages, or a distribution that
``pyproject.toml`` declares where the import runs:

- at module level in ``durable_automation/``: a core dependency;
- at module level in ``django_integration/``: a core dependency or the ``django`` extra;
- inside a function (an optional feature): a core dependency or a user-facing extra
  (``test`` and ``dev`` do not count: users do not install them).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"durable_automation", "django_integration"}
DEV_ONLY_EXTRAS = {"test", "dev"}

# Import names whose distribution is named otherwise.
DISTRIBUTION_OF = {
    "yaml": "pyyaml",
    "google.protobuf": "protobuf",
    "pydantic_core": "pydantic-core",
}
# Distributions that a declared one requires and whose API it exposes as its own: we
# may import them without declaring them (checked below against the metadata).
COMES_WITH = {"protobuf": "temporalio", "pydantic-core": "pydantic"}
# Imports that need more than their own distribution.
IMPLIES = {
    # Time zones by name need a tz database; tzdata supplies one where the OS has none.
    "zoneinfo": {"tzdata"},
    # Its __init__ imports both the OpenTelemetry API and SDK.
    "temporalio.contrib.opentelemetry": {"opentelemetry-api", "opentelemetry-sdk"},
    "temporalio.contrib.pydantic": {"pydantic"},
}
# Imports that the process importing the module already has by construction.
HOST_PROVIDED = {
    # durable_automation/pytest_plugin.py is loaded by pytest itself (entry point pytest11).
    ("durable_automation/pytest_plugin.py", "pytest"),
}


@dataclass(frozen=True)
class Found:
    path: str
    line: int
    module: str
    in_function: bool


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = {
        extra: {_name(r) for r in requirements}
        for extra, requirements in project.get("optional-dependencies", {}).items()
    }
    return core, extras


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> Iterator[Found]:
    rel = path.relative_to(ROOT).as_posix()

    def visit(node: ast.AST, in_function: bool) -> Iterator[Found]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from visit(ast.Module(body=child.orelse, type_ignores=[]), in_function)
                continue  # annotations only: never imported at run time
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Found(rel, child.lineno, alias.name, in_function)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield Found(rel, child.lineno, child.module, in_function)
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from visit(child, nested)

    yield from visit(ast.parse(path.read_text(), str(path)), False)


def _all_imports() -> list[Found]:
    found = []
    for package in sorted(FIRST_PARTY):
        for path in sorted((ROOT / package).rglob("*.py")):
            found.extend(_imports(path))
    return found


def _needs(module: str) -> set[str]:
    """The distributions an import of ``module`` needs (empty: stdlib or first party)."""
    needs: set[str] = set()
    for prefix, implied in IMPLIES.items():
        if module == prefix or module.startswith(prefix + "."):
            needs |= implied
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in FIRST_PARTY:
        return needs
    for prefix, distribution in DISTRIBUTION_OF.items():
        if module == prefix or module.startswith(prefix + "."):
            return needs | {distribution}
    return needs | {top.lower().replace("_", "-")}


def _allowed(found: Found, core: set[str], extras: dict[str, set[str]]) -> set[str]:
    if not found.in_function and found.path.startswith("durable_automation/"):
        return set(core)
    if not found.in_function and found.path.startswith("django_integration/"):
        return core | extras.get("django", set())
    user_extras = [names for extra, names in extras.items() if extra not in DEV_ONLY_EXTRAS]
    return core.union(*user_extras)


def test_every_third_party_import_is_declared_where_it_runs():
    core, extras = _declared()
    missing = []
    for found in _all_imports():
        if (found.path, found.module.split(".")[0]) in HOST_PROVIDED:
            continue
        allowed = _allowed(found, core, extras)
        for distribution in _needs(found.module):
            provider = COMES_WITH.get(distribution)
            if distribution in allowed or (provider is not None and provider in allowed):
                continue
            where = "inside a function" if found.in_function else "at module level"
            missing.append(f"{found.path}:{found.line}: {found.module} ({where}) needs "
                           f"{distribution}")
    assert not missing, "undeclared imports:\n" + "\n".join(missing)


def test_what_comes_with_a_dependency_really_does():
    for distribution, provider in COMES_WITH.items():
        requires = {_name(r) for r in importlib.metadata.requires(provider) or []
                    if "extra ==" not in r}
        assert distribution in requires, f"{provider} no longer requires {distribution}"


def test_the_scan_sees_imports_inside_functions():
    found = {(f.path, f.module): f for f in _all_imports()}
    crypto = found[("durable_automation/codec.py", "cryptography.hazmat.primitives.ciphers.aead")]
    assert crypto.in_function
    assert not found[("durable_automation/timers/_cron.py", "croniter")].in_function
