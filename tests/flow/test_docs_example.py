"""The runnable example of docs/flow-control.md runs as written and prints what the page
says it prints (one time-skipping server, in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "flow-control.md"
SCRIPT = "flow_control.py"


def test_the_flow_control_example_prints_what_the_page_says(tmp_path: Path) -> None:
    text = PAGE.read_text()
    source = text.split(f"```python\n# {SCRIPT}", 1)[1].split("```", 1)[0]
    path = tmp_path / SCRIPT
    path.write_text(f"# {SCRIPT}" + source)
    done = subprocess.run([sys.executable, str(path)], check=False, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = text.split(f"# {SCRIPT}", 1)[1].split("prints\n\n```\n", 1)[1].split("```", 1)[0]
    assert done.stdout.splitlines() == printed.splitlines()
