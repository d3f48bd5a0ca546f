"""Observability helpers: log records that say which automation, run and step wrote them.

The worker installs the log context itself; use :class:`StepLogFilter` on your own
handlers so that ``%(automation)s %(run_id)s %(step)s`` also format outside steps.
Metrics (``METRICS_PORT``) and tracing (``TRACING``) are settings; see
docs/observability.md.
"""

from __future__ import annotations

from ._client.observability import StepLogFilter, install_log_context, step_log_fields

__all__ = ["StepLogFilter", "install_log_context", "step_log_fields"]
