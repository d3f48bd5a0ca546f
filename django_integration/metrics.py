"""Operator metrics of the outbox, served next to Temporal's own (``METRICS_PORT``).

The Django worker reads three numbers from the database every 15 seconds and sets
them as gauges on temporalio's metric meter, so they appear on the worker's
``/metrics`` page beside ``temporal_*``:

- ``durable_automation_outbox_waiting``: Event rows that still need delivery;
- ``durable_automation_outbox_oldest_age_seconds``: how long the oldest of them has
  waited (0 when none waits);
- ``durable_automation_outbox_dead``: rows whose delivery gave up, waiting for an
  operator (``manage.py automation_outbox dead`` / ``retry``).

Every worker reports the same database-wide values: alert on ``max`` across workers.
See docs/operations.md for the alerts worth setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone
from temporalio.common import MetricMeter

from durable_automation.observability import metric_meter

from ._resolver import run_db
from .models import Event

__all__ = ["OUTBOX_METRICS", "OutboxGauges", "OutboxMetrics", "areport_outbox_forever",
           "read_outbox"]

log = logging.getLogger("django_integration.metrics")

OUTBOX_METRICS = {
    "waiting": ("durable_automation_outbox_waiting",
                "Event rows committed but not yet delivered to Temporal", "rows"),
    "oldest_age_seconds": ("durable_automation_outbox_oldest_age_seconds",
                           "Age of the oldest Event row waiting for delivery", "s"),
    "dead": ("durable_automation_outbox_dead",
             "Event rows whose delivery gave up, waiting for an operator", "rows"),
}


@dataclass(frozen=True)
class OutboxGauges:
    """One reading of the outbox."""

    waiting: int
    oldest_age_seconds: float
    dead: int


def read_outbox() -> OutboxGauges:
    """Read the outbox's backlog, its oldest age and its dead rows (two queries)."""
    waiting = Event.objects.filter(needs_delivery=True).aggregate(n=Count("id"),
                                                                  oldest=Min("updated_at"))
    age = 0.0
    if waiting["oldest"] is not None:
        age = max(0.0, (timezone.now() - waiting["oldest"]).total_seconds())
    dead = Event.objects.filter(dead_at__isnull=False).count()
    return OutboxGauges(waiting["n"] or 0, age, dead)


class OutboxMetrics:
    """The three gauges on a temporalio metric meter."""

    def __init__(self, meter: MetricMeter) -> None:
        name, description, unit = OUTBOX_METRICS["waiting"]
        self._waiting = meter.create_gauge(name, description, unit)
        name, description, unit = OUTBOX_METRICS["oldest_age_seconds"]
        self._oldest = meter.create_gauge_float(name, description, unit)
        name, description, unit = OUTBOX_METRICS["dead"]
        self._dead = meter.create_gauge(name, description, unit)

    def publish(self, gauges: OutboxGauges) -> None:
        """Set the gauges to one reading."""
        self._waiting.set(gauges.waiting)
        self._oldest.set(gauges.oldest_age_seconds)
        self._dead.set(gauges.dead)


async def areport_outbox_forever(stop: asyncio.Event,
                                 interval: timedelta = timedelta(seconds=15)) -> None:
    """Publish the outbox gauges every ``interval`` until ``stop`` is set.

    Does nothing when ``METRICS_PORT`` is unset. A failed reading (the database is
    briefly away) is logged and tried again next time; the gauges keep their values.
    """
    meter = metric_meter()
    if meter is None:
        return
    metrics = OutboxMetrics(meter)
    period = interval.total_seconds()
    while not stop.is_set():
        try:
            metrics.publish(await run_db(read_outbox))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Reading the outbox for its metrics failed; trying again in %.0fs",
                          period)
        with contextlib.suppress(TimeoutError):  # the period ended without a stop
            await asyncio.wait_for(stop.wait(), period)
