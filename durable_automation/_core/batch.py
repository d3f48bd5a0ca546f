"""``Batch``: an ``@on_event`` handler called with lists of events (pure data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = ["Batch"]


@dataclass(frozen=True)
class Batch:
    """Call a handler with its events in batches.

    A batch is called as soon as it holds ``max_size`` events, or ``timeout`` after its
    first event, whichever comes first. Every event lands in exactly one batch; a
    batch's call runs at least once (again if a worker dies), with the same
    ``batch_id`` on every attempt.

    Args:
        max_size: Most events in one batch (at least 1).
        timeout: Longest a batch's first event waits for the call (a timedelta or
            seconds).
        key: Batch per key: a function of the event or a ``{{ event.<field> }}``
            template such as ``"{{ event.data.guest_id }}"`` (default: one batch stream).
    """

    max_size: int
    timeout: timedelta | float
    key: Callable[[Any], Any] | str | None = None
