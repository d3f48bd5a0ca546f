"""The runnable examples of docs/operating-runs.md and docs/deploy-safety.md run as written
(each starts its own dev server) and print what the docs say they print."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.docs_examples import printed_after, run_example


@pytest.mark.devserver
def test_reset_example(tmp_path: Path) -> None:
    assert run_example("operating-runs.md", "reset_demo.py", tmp_path, timeout=180) == \
        printed_after("operating-runs.md", "asyncio.run(main())\n```\n\nprints")


@pytest.mark.devserver
def test_deploy_check_example(tmp_path: Path) -> None:
    lines = run_example("deploy-safety.md", "deploy_check_demo.py", tmp_path, timeout=180)
    shown = printed_after("deploy-safety.md", "prints (ids shortened)")
    assert len(lines) == len(shown) == 4
    for line, doc_line in zip(lines, shown, strict=True):
        head, _, tail = doc_line.partition("…")  # the docs shorten the run id
        assert line.startswith(head) and line.endswith(tail), (line, doc_line)
