"""Flow control: how many runs of an automation go at once, how often, and in what order.

- ``concurrency=Concurrency(limit, key=...)``: at most ``limit`` runs per key at once;
  the others wait, in arrival order, durably ("Waiting for a slot" in the UI);
- ``throttle=Throttle(limit, period, key=...)``: at most ``limit`` starts per period
  per key; the others are delayed to the next moment the window has room;
- ``rate_limit=RateLimit(limit, period, key=...)``: the same, but runs beyond the
  limit are dropped, and recorded (:func:`limiter_state`);
- ``priority=`` (1 first ... 5 last) and ``fairness_key=`` / ``fairness_weight=``:
  Temporal's task-queue priority and fairness, for the run and its steps.

They are arguments of ``@workflow``, ``@event_workflow`` and ``@on_event``. See
``docs/flow-control.md``.
"""

from __future__ import annotations

from .._core.flow import Concurrency, LimiterState, RateLimit, Throttle
from . import _install  # noqa: F401 - the limiter on every worker, the engine's start path
from ._state import alimiter_state, limiter_state

__all__ = ["Concurrency", "LimiterState", "RateLimit", "Throttle", "alimiter_state",
           "limiter_state"]
