"""The runnable examples of docs/cancel-on.md, docs/batching.md and docs/failure-hooks.md run
as written and print what the pages say they print."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.docs_examples import printed_by, run_example


@pytest.mark.parametrize(("page", "script"), [
    ("cancel-on.md", "cancel_on_reservations.py"),
    ("failure-hooks.md", "failure_hooks.py"),
    ("failure-hooks.md", "agent_failure_hooks.py"),
])
def test_the_example_prints_what_the_page_says(page: str, script: str, tmp_path: Path) -> None:
    assert run_example(page, script, tmp_path) == printed_by(page, script)


def test_the_batching_example_prints_what_the_page_says(tmp_path: Path) -> None:
    lines = run_example("batching.md", "batched_metrics.py", tmp_path)
    expected = printed_by("batching.md", "batched_metrics.py")
    assert lines[:2] == expected[:2]
    assert sorted(lines[2:]) == sorted(expected[2:])  # two keys' batches, in either order
