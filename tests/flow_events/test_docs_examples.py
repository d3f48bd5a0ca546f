"""The runnable examples of docs/cancel-on.md, docs/batching.md and docs/failure-hooks.md run
as written and print what the pages say they print."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _run_example(page: str, script: str, tmp_path: Path) -> list[str]:
    text = (DOCS / page).read_text()
    source = text.split(f"```python\n# {script}", 1)[1].split("```", 1)[0]
    path = tmp_path / script
    path.write_text(f"# {script}" + source)
    done = subprocess.run([sys.executable, str(path)], check=False, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def _printed(page: str, script: str) -> list[str]:
    text = (DOCS / page).read_text().split(f"# {script}", 1)[1]
    return text.split("prints\n\n```\n", 1)[1].split("```", 1)[0].splitlines()


@pytest.mark.parametrize(("page", "script"), [
    ("cancel-on.md", "cancel_on_reservations.py"),
    ("failure-hooks.md", "failure_hooks.py"),
])
def test_the_example_prints_what_the_page_says(page: str, script: str, tmp_path: Path) -> None:
    assert _run_example(page, script, tmp_path) == _printed(page, script)


def test_the_batching_example_prints_what_the_page_says(tmp_path: Path) -> None:
    lines = _run_example("batching.md", "batched_metrics.py", tmp_path)
    expected = _printed("batching.md", "batched_metrics.py")
    assert lines[:2] == expected[:2]
    assert sorted(lines[2:]) == sorted(expected[2:])  # two keys' batches, in either order
