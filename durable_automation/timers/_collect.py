"""What the collecting workflows (debounce, batch) share in reading a collect message.

Pure functions of their arguments, run inside those workflows' signal handlers and run
methods: they schedule nothing, read no clock, and emit no commands.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

__all__ = ["SEEN_LIMIT", "new_item_id", "seconds"]

# Ids of items already taken, kept so a repeated delivery is recognised.
SEEN_LIMIT = 20_000


def seconds(value: Any) -> timedelta | None:
    """``value`` seconds as a timedelta when it is a positive number, else ``None``."""
    if isinstance(value, (int, float)) and value > 0:
        return timedelta(seconds=float(value))
    return None


def new_item_id(seen: dict[str, None], message: dict[str, Any]) -> str | None:
    """The id of ``message``'s item when it was not seen before, now remembered in
    ``seen`` (the oldest id forgotten beyond ``SEEN_LIMIT``); ``None`` for a repeated
    delivery or an item without an id."""
    item_id = str(message.get("id", ""))
    if not item_id or item_id in seen:
        return None
    seen[item_id] = None
    if len(seen) > SEEN_LIMIT:
        seen.pop(next(iter(seen)))
    return item_id
