"""Observability: Prometheus metrics, OpenTelemetry tracing and step-aware logging.

- ``METRICS_PORT``: clients connected by the SDK use a temporalio ``Runtime`` that
  serves Temporal's own Prometheus metrics (workflow and activity counters and
  latencies, labelled with ``workflow_type`` = the automation's name) on that port.
- ``TRACING``: clients and workers get temporalio's OpenTelemetry ``TracingInterceptor``,
  so starting a run, the run itself and every step activity become spans of the
  application's tracer provider (``opentelemetry-sdk`` must be installed and configured
  by the application).
- Logging: while a step or handler runs, every log record carries ``automation``,
  ``run_id`` and ``step`` attributes (installed by the worker), so a format such as
  ``%(automation)s %(run_id)s %(step)s %(message)s`` works without code in the steps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from .._core.context import current
from .._core.settings import Settings
from ..exceptions import ConfigurationError

__all__ = [
    "LOG_FIELDS",
    "StepLogFilter",
    "client_interceptors",
    "install_log_context",
    "metric_meter",
    "metrics_runtime",
    "step_log_fields",
    "uses_runtime",
    "worker_interceptors",
]

log = logging.getLogger("durable_automation.observability")

# ── metrics ───────────────────────────────────────────────────────────────────────

# One Runtime per port for the whole process: a second Runtime could not bind the
# same port, and every client the SDK connects (engine, worker) should report there.
_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The temporalio Runtime serving Prometheus metrics on ``METRICS_PORT`` (``None`` = off).

    The endpoint listens on all interfaces (``0.0.0.0:<port>``) so that a Prometheus
    running in another container can scrape the worker; metrics are at ``/metrics``.

    Raises:
        ConfigurationError: The port is not a valid TCP port or cannot be bound.
    """
    port = settings.metrics_port
    if port is None:
        return None
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(
            f"METRICS_PORT must be a TCP port number (1-65535), not {port!r}; "
            "leave it unset to turn metrics off"
        )
    bind = f"0.0.0.0:{port}"
    with _runtimes_lock:
        runtime = _runtimes.get(bind)
        if runtime is None:
            try:
                runtime = Runtime(
                    telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind))
                )
            except Exception as exc:  # the Rust core reports a bind failure generically
                raise ConfigurationError(
                    f"Cannot serve Prometheus metrics on {bind}: {exc}. Is another process "
                    "using METRICS_PORT? Pick a free port or unset it."
                ) from exc
            _runtimes[bind] = runtime
            log.info("Serving Temporal metrics for Prometheus on http://%s/metrics", bind)
        return runtime


def metric_meter(settings: Settings) -> MetricMeter | None:
    """The meter of the ``METRICS_PORT`` runtime (``None`` = metrics off).

    Metrics made with it are served on the same ``/metrics`` page as Temporal's own
    (without the ``temporal_`` prefix, which only temporalio's metrics carry).
    """
    runtime = metrics_runtime(settings)
    return None if runtime is None else runtime.metric_meter


def uses_runtime(client: Any, runtime: Runtime) -> bool:
    """Whether ``client`` was connected with ``runtime`` (workers report through it)."""
    return getattr(client.service_client.config, "runtime", None) is runtime


# ── tracing ───────────────────────────────────────────────────────────────────────

def _tracing_interceptor(*, worker_side: bool) -> Any:
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as exc:
        raise ConfigurationError(
            "TRACING is on but OpenTelemetry is not installed: pip install "
            "'durable-automation[tracing]' "
            f"(and configure a tracer provider), or turn TRACING off ({exc})"
        ) from exc
    # On a worker, create workflow spans even for runs started without a traced
    # client (Django processes, schedules, the CLI): a run with no spans is invisible.
    return TracingInterceptor(always_create_workflow_spans=worker_side)


def client_interceptors(settings: Settings) -> list[Any]:
    """Client interceptors for the settings (the tracing interceptor when ``TRACING``)."""
    return [_tracing_interceptor(worker_side=False)] if settings.tracing else []


def worker_interceptors(settings: Settings, client: Any) -> list[Any]:
    """Worker interceptors for the settings.

    A client connected by the SDK with ``TRACING`` on already carries the interceptor,
    and temporalio applies a client's interceptors to its workers: adding it again
    would trace everything twice.
    """
    if not settings.tracing:
        return []
    from temporalio.worker import Interceptor as WorkerInterceptor

    if any(isinstance(i, WorkerInterceptor) and type(i).__name__ == "TracingInterceptor"
           for i in client.config().get("interceptors", ())):
        return []
    return [_tracing_interceptor(worker_side=True)]


# ── logging ───────────────────────────────────────────────────────────────────────

LOG_FIELDS: tuple[str, ...] = ("automation", "run_id", "step")


def step_log_fields() -> dict[str, str | None]:
    """``automation``, ``run_id`` and ``step`` of the step or handler running in this context.

    Steps and agent handlers publish a step context; ``@on_event`` handlers and other
    SDK activities are recognised from the Temporal activity itself (the run id is the
    workflow id; the step is the activity type without the automation prefix). Outside
    both, every field is ``None``.
    """
    state = current.get()
    if state is not None:
        info = state.info
        return {"automation": info.automation, "run_id": info.run_id, "step": info.step}
    if activity.in_activity():
        a = activity.info()
        automation = a.workflow_type or None
        step = a.activity_type
        if automation and step.startswith(automation + "."):
            step = step[len(automation) + 1:]
        return {"automation": automation, "run_id": a.workflow_id, "step": step}
    return dict.fromkeys(LOG_FIELDS)


def _annotate(record: logging.LogRecord, *, defaults: bool) -> None:
    fields = step_log_fields()
    if fields["run_id"] is None and not defaults:
        return  # outside steps records stay untouched: no reserved names there
    # Never overwrite what is already there (``extra={"step": ...}`` seen by a filter).
    for name, value in fields.items():
        if not hasattr(record, name):
            setattr(record, name, value)


class StepLogFilter(logging.Filter):
    """Adds ``automation``, ``run_id`` and ``step`` to records (``None`` outside a step).

    The worker installs the same annotation process-wide (:func:`install_log_context`),
    so this filter is only needed where records are created before that, or in a
    logging config that wants to say so explicitly::

        LOGGING = {"filters": {"steps": {"()": "durable_automation.observability.StepLogFilter"}}}
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _annotate(record, defaults=True)
        return True


_installed_lock = threading.Lock()
_installed: Callable[..., logging.LogRecord] | None = None


def install_log_context() -> None:
    """Make every log record created while a step runs carry its automation, run and step.

    Installs a log record factory that wraps the current one (idempotent). A factory,
    not a filter on some logger: a logger's filters do not see records that propagate
    from child loggers, and the worker cannot know the application's handlers.
    Records created outside steps are left alone; inside a step the three names are
    taken, so passing them in ``extra=`` there raises ``KeyError`` (logging's rule for
    every record attribute).
    """
    global _installed
    with _installed_lock:
        previous = logging.getLogRecordFactory()
        if previous is _installed:
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _annotate(record, defaults=False)
            return record

        logging.setLogRecordFactory(factory)
        _installed = factory
