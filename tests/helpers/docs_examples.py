"""Run a docs page's example script as a newcomer would: copy the fenced block that starts
with ``# <script>`` into a file, run it with this Python, and compare what it prints with
the block the page shows after it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def run_example(page: str, script: str, tmp_path: Path, timeout: float = 120,
                env: dict[str, str] | None = None) -> list[str]:
    """Run the example ``script`` of ``docs/<page>`` in ``tmp_path``; returns its lines.

    The script must exit 0; its output is shown when it does not. ``env`` adds to the
    environment (a dev server's address, say, for a script that needs a server).
    """
    text = (DOCS / page).read_text()
    source = text.split(f"```python\n# {script}", 1)[1].split("```", 1)[0]
    path = tmp_path / script
    path.write_text(f"# {script}" + source)
    done = subprocess.run([sys.executable, str(path)], check=False, capture_output=True,
                          text=True, timeout=timeout, cwd=tmp_path,
                          env={**os.environ, **env} if env else None)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def printed_after(page: str, marker: str, opening: str = "```\n") -> list[str]:
    """The lines of the first fenced block after ``marker`` in ``docs/<page>``."""
    text = (DOCS / page).read_text().split(marker, 1)[1]
    return text.split(opening, 1)[1].split("```", 1)[0].splitlines()


def printed_by(page: str, script: str) -> list[str]:
    """What the page says ``script`` prints: the block after the script's "prints"."""
    return printed_after(page, f"# {script}", "prints\n\n```\n")
