"""What a parked run records for the deploy check, and step renames (workflow code).

When a step workflow parks (``sleep``, ``wait``, or the start gate of an offset or
delayed run), it writes one memo, ``da_park``: the step it parked in, the steps it
will go to next (``then`` / ``on_timeout``) and its Context. ``durable-automation
check`` reads the memo from visibility, so it never needs a worker of the old code
to answer a query. Written only while parking, in the workflow task that parks, so
a run that never parks pays nothing; behind ``workflow.patched("da-check-memo")``
so that histories recorded before it replay unchanged.

The Context can be large, and a memo travels with every visibility listing: above
:data:`CONTEXT_MEMO_LIMIT` bytes of JSON only its field names are recorded
(``"context": null, "context_fields": [...]``) and the check verifies that the new
Context model's required fields are among them instead of validating values.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .._core.definitions import WorkflowDefinition

__all__ = ["CONTEXT_MEMO_LIMIT", "PARK_MEMO", "initial_step", "record_park"]

PARK_MEMO = "da_park"
# Bytes of JSON. The server and the SDK warn about a memo above 2 KiB
# (limit.memoSize.warn): the Context plus the rest of the memo stay under it.
CONTEXT_MEMO_LIMIT = 1536

ParkKind = Literal["sleep", "wait", "gate"]


def record_park(step: str, kind: ParkKind, targets: list[str | None],
                context: dict[str, Any]) -> None:
    """Write the ``da_park`` memo for a run about to park in ``step``."""
    if not workflow.patched("da-check-memo"):
        return
    encoded = json.dumps(context, separators=(",", ":"), default=str)
    small = len(encoded) <= CONTEXT_MEMO_LIMIT
    workflow.upsert_memo({PARK_MEMO: {
        "step": step,
        "kind": kind,
        "targets": sorted({t for t in targets if t}),
        "context": context if small else None,
        "context_fields": sorted(context) if not small else None,
        "context_bytes": len(encoded),
    }})


def initial_step(definition: WorkflowDefinition) -> str:
    """The step a run begins with, as its history recorded it.

    When the start step was renamed, runs started before the rename replay their
    first activity under the old name; new runs use the new name (the patch marker
    tells them apart, so replay stays deterministic).
    """
    old = [o for o, new in definition.renamed_steps.items() if new == definition.start_step]
    if old and not workflow.patched("da-renamed-start-step"):
        return old[0]
    return definition.start_step
