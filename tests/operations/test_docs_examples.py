"""The runnable examples of docs/operating-runs.md and docs/deploy-safety.md run as written
(each starts its own dev server) and print what the docs say they print."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _run(doc: str, name: str, tmp_path: Path) -> list[str]:
    text = (DOCS / doc).read_text()
    source = text.split(f"```python\n# {name}", 1)[1].split("```", 1)[0]
    script = tmp_path / name
    script.write_text(f"# {name}" + source)
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True,
                          text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def _printed(doc: str, after: str) -> list[str]:
    """The lines the docs show under ``after`` (the fenced block that follows it)."""
    text = (DOCS / doc).read_text().split(after, 1)[1]
    return text.split("```\n", 1)[1].split("```", 1)[0].splitlines()


@pytest.mark.devserver
def test_reset_example(tmp_path: Path) -> None:
    assert _run("operating-runs.md", "reset_demo.py", tmp_path) == \
        _printed("operating-runs.md", "asyncio.run(main())\n```\n\nprints")


@pytest.mark.devserver
def test_deploy_check_example(tmp_path: Path) -> None:
    lines = _run("deploy-safety.md", "deploy_check_demo.py", tmp_path)
    shown = _printed("deploy-safety.md", "prints (ids shortened)")
    assert len(lines) == len(shown) == 4
    for line, doc_line in zip(lines, shown, strict=True):
        head, _, tail = doc_line.partition("…")  # the docs shorten the run id
        assert line.startswith(head) and line.endswith(tail), (line, doc_line)
