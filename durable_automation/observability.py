"""Observability helpers: log records that say which automation, run and step wrote them.

The worker installs the log context itself; use :class:`StepLogFilter` on your own
handlers so that ``%(automation)s %(run_id)s %(step)s`` also format outside steps.
Metrics (``METRICS_PORT``) and tracing (``TRACING``) are settings; see
docs/observability.md. :func:`metric_meter` gives the meter of the metrics runtime, for
metrics of one's own next to Temporal's (the Django app's outbox gauges use it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._client.observability import StepLogFilter, install_log_context, step_log_fields
from ._client.observability import metric_meter as _metric_meter
from ._core.settings import get_settings

if TYPE_CHECKING:
    from temporalio.common import MetricMeter

__all__ = ["StepLogFilter", "install_log_context", "metric_meter", "step_log_fields"]


def metric_meter() -> MetricMeter | None:
    """temporalio's metric meter serving ``METRICS_PORT`` (``None`` when it is unset).

    Raises:
        ConfigurationError: ``METRICS_PORT`` is not a valid port or cannot be bound.
    """
    return _metric_meter(get_settings())
