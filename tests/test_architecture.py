"""The package's architecture, enforced: one-way layers, no import cycles, small modules.

The layer contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are
described in ``ARCHITECTURE.md``. These tests run them, show once that an import
against a layer breaks them, look for import cycles (imports inside functions
count), and keep every module under 400 lines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("durable_automation", "django_integration")
MAX_LINES = 400


def test_import_contracts_are_kept() -> None:
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def _lint_copy(tmp_path: Path, module: str, injected: str) -> subprocess.CompletedProcess[str]:
    """Copy the packages and the config to ``tmp_path``, inject ``injected`` at the end
    of ``module`` (a path under the copy) and run ``lint-imports`` on the copy."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + injected)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    check = subprocess.run(  # the copy, not the installed package, is what gets linted
        [sys.executable, "-c", "import durable_automation; print(durable_automation.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert check.stdout.strip().startswith(str(tmp_path)), check.stdout
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_an_import_against_a_layer_breaks_the_contracts(tmp_path: Path) -> None:
    # The core reaching up into the worker, from inside a function: a cycle waiting
    # to happen (the worker imports the core). The contracts must catch it.
    injected = (
        "\n\ndef _reaches_up() -> object:\n"
        "    from ..worker import AutomationWorker\n\n"
        "    return AutomationWorker\n"
    )
    result = _lint_copy(tmp_path, "durable_automation/_core/settings.py", injected)
    assert result.returncode != 0, result.stdout
    assert "durable_automation is layered, one way BROKEN" in result.stdout, result.stdout
    assert "durable_automation._core.settings -> durable_automation.worker" in result.stdout


def test_a_private_import_from_django_integration_breaks_the_contracts(tmp_path: Path) -> None:
    injected = "\n\nfrom durable_automation._client.engine import engine as _engine  # noqa\n"
    result = _lint_copy(tmp_path, "django_integration/outbox.py", injected)
    assert result.returncode != 0, result.stdout
    assert "django_integration uses only public modules of durable_automation BROKEN" in (
        result.stdout), result.stdout


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    modules = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    assert _cycles(graph, modules) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="c", imported="d")
    assert _cycles(graph, {"a", "b", "c", "d"}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_400_lines(package: str) -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in sorted((ROOT / package).rglob("*.py"))
        # Django migrations are written by makemigrations and never edited by hand
        # afterwards (a migration that ran is history): their length is not ours to split.
        if "migrations" not in path.parts
        and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"
