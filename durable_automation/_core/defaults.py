"""Activity defaults the worker sets from settings, and short duration labels.

Shared by every workflow program (steps, handlers, agents, timers): they read
:data:`defaults` when they schedule an activity and :func:`format_duration` when they
label a timer in the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["StepDefaults", "defaults", "format_duration"]


@dataclass
class StepDefaults:
    """Activity options the worker sets from settings before it starts.

    Kept out of workflow inputs on purpose: they are not part of a run's history, so
    changing them affects new activity attempts without breaking replay.
    """

    step_timeout: timedelta = timedelta(hours=1)
    heartbeat_timeout: timedelta = timedelta(seconds=30)
    # A step without a Retry fails its run on the first exception it raises (the
    # activity marks it non-retryable), but a worker that dies mid-step is retried
    # this many times so the run still completes.
    infrastructure_attempts: int = 5


defaults = StepDefaults()

def format_duration(value: timedelta) -> str:
    """``2h``, ``90m``, ``1d2h``, ``-60m``: short, for timer summaries."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + ("".join(parts) or "0s")
