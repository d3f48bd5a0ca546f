"""The pytest plugin in a user's project: coverage works, the exit is changed only when needed.

Each test writes a small project into a temporary directory and runs pytest on it in
a subprocess, as a user would: the plugin is loaded through the package's ``pytest11``
entry point (the package is installed in this environment), not by this suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import durable_automation

EXIT_LINE = "durable-automation: exiting with os._exit("

CALC = """
def add(a, b):
    return a + b


def unused(a):
    return -a
"""

PLAIN_TEST = """
import temporalio.client  # imported, but no client, worker or runtime is ever created

from calcpkg.calc import add
from durable_automation import Retry


def test_add():
    assert add(2, 3) == 5
    assert Retry(max_attempts=add(1, 1)).max_attempts == 2
"""

TEMPORAL_TEST = """
from datetime import timedelta

from calcpkg.calc import add


def test_time_moves(time_machine):
    start = time_machine.now()
    time_machine.advance(hours=1)
    assert time_machine.now() - start >= timedelta(hours=add(0, 1))


def test_fails_on_purpose():
    assert add(1, 1) == 3
"""


def _project(root: Path, test_source: str) -> Path:
    (root / "calcpkg").mkdir()
    (root / "calcpkg" / "__init__.py").write_text("")
    (root / "calcpkg" / "calc.py").write_text(CALC)
    (root / "tests").mkdir()
    (root / "tests" / "test_calc.py").write_text(textwrap.dedent(test_source))
    # A project of its own: its own rootdir and config, none of this repository's.
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\npythonpath = .\n")
    return root


def _run(root: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, check=False,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _coverage_report(root: Path) -> str:
    assert (root / ".coverage").exists(), "coverage wrote no data file"
    report = _run(root, "-m", "coverage", "report", "--show-missing")
    assert report.returncode == 0, report.stdout + report.stderr
    return report.stdout


def test_coverage_run_writes_data_in_a_project_that_never_uses_temporal(tmp_path: Path):
    root = _project(tmp_path, PLAIN_TEST)
    result = _run(root, "-m", "coverage", "run", "--source=calcpkg", "-m", "pytest", "-q",
                  "-p", "no:cacheprovider")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in output
    # temporalio and the SDK were imported but no runtime started: a normal exit.
    assert EXIT_LINE not in output
    report = _coverage_report(root)
    assert "calcpkg/calc.py" in report, report
    # add() ran, unused() did not: real measurement, not an empty file.
    calc_line = next(line for line in report.splitlines() if "calcpkg/calc.py" in line)
    assert "7" in calc_line.split()[-1], calc_line  # line 7 (unused's body) is missing


def test_coverage_run_writes_data_when_a_time_machine_ran(tmp_path: Path):
    root = _project(tmp_path, TEMPORAL_TEST)
    result = _run(root, "-m", "coverage", "run", "--source=calcpkg", "-m", "pytest", "-q",
                  "-p", "no:cacheprovider")
    output = result.stdout + result.stderr
    # The hard exit happened, kept pytest's verdict (one test failed on purpose: 1) ...
    assert f"{EXIT_LINE}1)" in output, output
    assert result.returncode == 1, output
    assert "1 failed, 1 passed" in output, output
    # ... and ran coverage's atexit handler first.
    report = _coverage_report(root)
    assert "calcpkg/calc.py" in report, report


def test_the_hard_exit_can_be_turned_off(tmp_path: Path):
    root = _project(tmp_path, TEMPORAL_TEST.split("def test_fails_on_purpose")[0])
    result = _run(root, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "-o", "durable_automation_hard_exit=false")
    output = result.stdout + result.stderr
    assert "1 passed" in output, output
    assert EXIT_LINE not in output


def test_pytest_main_inside_a_program_returns_to_it(tmp_path: Path):
    """Only a process whose program is pytest is ended by the plugin; a program that
    calls pytest.main() gets control (and the exit status) back."""
    root = _project(tmp_path, TEMPORAL_TEST)
    (root / "runner.py").write_text(textwrap.dedent("""
        import os, sys
        import pytest

        code = pytest.main(["-q", "-p", "no:cacheprovider", "tests"])
        print("pytest.main returned", int(code), flush=True)
        os._exit(0)  # this program's own choice (temporalio's shutdown crash, sdk-python#300)
    """))
    result = _run(root, "runner.py")
    output = result.stdout + result.stderr
    assert "pytest.main returned 1" in output, output
    assert EXIT_LINE not in output


def test_pytest_cov_measures_the_sdk_module_level_lines(tmp_path: Path):
    """pytest-cov starts measuring after entry-point plugins are imported; the SDK's
    modules load later (lazily), so their module-level lines count as run."""
    pytest.importorskip("pytest_cov")
    root = _project(tmp_path, """
        from durable_automation.workflows import Retry


        def test_retry():
            assert Retry(max_attempts=2).max_attempts == 2
    """)
    result = _run(root, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "--cov=durable_automation", "--cov-report=json:cov.json")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    files = json.loads((root / "cov.json").read_text())["files"]
    package = Path(durable_automation.__file__).parent
    workflows = next(data for name, data in files.items()
                     if Path(name).resolve() == (package / "workflows" / "__init__.py").resolve())
    source = (package / "workflows" / "__init__.py").read_text().splitlines()
    module_level = [n for n, text in enumerate(source, 1)
                    if text.startswith(("from ", "import ", "__all__"))]
    assert module_level
    assert not set(module_level) & set(workflows["missing_lines"]), workflows["missing_lines"]
