"""The runnable example of docs/flow-control.md runs as written and prints what the page
says it prints (one time-skipping server, in a subprocess)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.docs_examples import printed_by, run_example

PAGE = "flow-control.md"
SCRIPT = "flow_control.py"


def test_the_flow_control_example_prints_what_the_page_says(tmp_path: Path) -> None:
    assert run_example(PAGE, SCRIPT, tmp_path) == printed_by(PAGE, SCRIPT)
