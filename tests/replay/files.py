"""Reading and writing recorded histories (no SDK imports: moving modules cannot break it)."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory

__all__ = ["HISTORIES", "dump", "load"]

HISTORIES = Path(__file__).with_name("histories")


def dump(history: WorkflowHistory) -> str:
    """``WorkflowHistory.to_json()`` plus the workflow id (replay needs it), one event per
    line: small files whose diffs read well."""
    events = json.loads(history.to_json())["events"]
    lines = ",\n".join(json.dumps(event, separators=(",", ":"), sort_keys=True)
                       for event in events)
    return (f'{{"workflowId": {json.dumps(history.workflow_id)},\n"events": [\n'
            + lines + "\n]}\n")


def load(path: Path) -> WorkflowHistory:
    """Read a history written by :func:`dump`."""
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(data.pop("workflowId"), data)
