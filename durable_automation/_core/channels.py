"""Signal channels: where the runs waiting on a channel are kept, and payload checks.

``engine.signal`` (client), the step activity that registers a wait, the workflow
programs and the signal hub all name a channel's hub the same way, and validate a
payload against a Context the same way: so it lives here, below all of them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.converter import DataConverter

from ..exceptions import SignalPayloadError

__all__ = [
    "HUB_WORKFLOW", "IDLE_TIMEOUT", "PAYLOAD_LIMIT", "check_payload_size", "describe_errors",
    "hub_id", "merge_payload", "validate_partial",
]

HUB_WORKFLOW = "durable_automation.signal_hub"
IDLE_TIMEOUT = timedelta(hours=1)
# Temporal's default blob size limit. The server accepts a bigger signal payload, but the
# run that merges it into its Context then cannot schedule its next step: its workflow
# task fails on every attempt (TMPRL1103). So a payload this large is refused up front.
PAYLOAD_LIMIT = 2 * 1024 * 1024


async def check_payload_size(converter: DataConverter, payload: dict[str, Any] | None) -> None:
    """Refuse a signal payload that cannot fit in a run's Context.

    Raises:
        SignalPayloadError: Its encoded size is over :data:`PAYLOAD_LIMIT`.
    """
    if not payload:
        return
    size = sum(p.ByteSize() for p in await converter.encode([payload]))
    if size > PAYLOAD_LIMIT:
        raise SignalPayloadError(
            f"The signal payload is {size / 1024 / 1024:.1f} MB encoded, over Temporal's "
            f"{PAYLOAD_LIMIT // 1024 // 1024} MB payload limit: nothing was delivered. Store "
            "large data elsewhere (the database, object storage) and send its id."
        )


def hub_id(task_queue: str, channel: str) -> str:
    """Workflow id of the hub for ``channel`` among the runs of ``task_queue``.

    The task queue is part of the id: a hub runs on the queue of the worker that
    started it, so deployments (or tests) sharing a namespace must not share hubs.
    """
    return f"signal-hub:{task_queue}:{channel}"


def validate_partial(context_cls: type[BaseModel], payload: dict[str, Any] | None) -> None:
    """Check each payload key that is a Context field against that field alone.

    The hub does not hold the runs' Contexts, so it validates field by field; the
    run re-validates the whole merged Context when it wakes.

    Raises:
        ValidationError: A value does not fit its field.
    """
    fields = context_cls.model_fields
    blank = context_cls.model_construct()
    for key, value in (payload or {}).items():
        if key in fields:
            context_cls.__pydantic_validator__.validate_assignment(blank, key, value)


def describe_errors(owner: str, exc: ValidationError) -> str:
    """One line per bad field: ``owner.field: what is wrong (got value)``."""
    return "; ".join(
        f"{owner}.{'.'.join(str(p) for p in error['loc'])}: {error['msg']} "
        f"(got {error.get('input')!r})"
        for error in exc.errors()
    )


def merge_payload(
    context_cls: type[BaseModel], context: dict[str, Any], payload: dict[str, Any] | None
) -> dict[str, Any]:
    """Merge payload keys that are Context fields into ``context``, validated.

    Raises:
        ValidationError: The merged Context does not validate.
    """
    updates = {k: v for k, v in (payload or {}).items() if k in context_cls.model_fields}
    if not updates:
        return context
    merged = context_cls.model_validate({**context, **updates})
    return merged.model_dump(mode="json")
