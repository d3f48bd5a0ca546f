"""Step renames: ``@workflow(..., renamed_steps={"old": "new"})``.

A run in flight records step names in its history (the activity ``<automation>.<step>``
it scheduled, the ``then`` / ``on_timeout`` of the command it parked with). After a
deploy that renames a step, such a run would name a step that no longer exists; the
interpreter, the step activity and ``durable-automation check`` read this map to
carry it on with the new step instead. The activity keeps the name its history
recorded (so replay stays deterministic); the code that runs is the new step's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core.definitions import StepDefinition, WorkflowDefinition

__all__ = ["check_renamed_steps", "resolve_step"]


def check_renamed_steps(label: str, renamed: Any, steps: Mapping[str, StepDefinition]
                        ) -> list[str]:
    """Decoration-time problems with a ``renamed_steps`` argument (empty when fine)."""
    if renamed is None:
        return []
    if not isinstance(renamed, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in renamed.items()):
        return [f"{label}: renamed_steps must map old step names to new ones (str -> str), "
                f"got {renamed!r}"]
    problems = []
    for old, new in renamed.items():
        if old in steps:
            problems.append(f"{label}: renamed_steps maps {old!r}, which is still a step; "
                            "only names of steps that no longer exist can be renamed")
        if new not in steps:
            problems.append(f"{label}: renamed_steps maps {old!r} to {new!r}, which is not a "
                            f"step (steps: {', '.join(steps)})")
    return problems


def resolve_step(definition: WorkflowDefinition, name: str) -> str:
    """The step a recorded name means now: itself, or its new name after a rename."""
    if name in definition.steps:
        return name
    return definition.renamed_steps.get(name, name)
