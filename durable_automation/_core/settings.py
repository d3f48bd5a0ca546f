"""Settings: one ``DURABLE_AUTOMATION`` dict, read lazily.

Under Django the dict comes from ``settings.DURABLE_AUTOMATION`` and is re-read
whenever Django reports a ``setting_changed`` (so ``override_settings`` works).
Without Django, values come from ``configure(...)`` and then from environment
variables named ``DURABLE_AUTOMATION_<KEY>``.

The connection (``ADDRESS``, ``NAMESPACE``, ``API_KEY``, ``TLS``) also honours
Temporal's own environment configuration, read with :mod:`temporalio.envconfig`:
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*``
and the profile file (``TEMPORAL_CONFIG_FILE``, ``TEMPORAL_PROFILE``). It is the
lowest source: any ``DURABLE_AUTOMATION`` value for the same setting wins.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from temporalio.service import TLSConfig

__all__ = ["Settings", "configure", "get_settings", "overridden", "reset_settings"]


@dataclass(frozen=True)
class Settings:
    """Resolved settings.

    Attributes:
        address: ``host:port`` of the Temporal frontend.
        namespace: Temporal namespace.
        task_queue: Task queue that workers poll and runs are started on.
        tls: ``True`` for system CAs, or a dict with ``client_cert``, ``client_key``,
            ``server_root_ca_cert`` (file paths) and ``domain``, or a temporalio
            ``TLSConfig`` (as Temporal's environment configuration yields).
        api_key: API key for hosted Temporal (implies TLS).
        automation_modules: Modules imported by the worker so their decorators register.
        ui_url: Base URL of the Temporal web UI, for links from the admin and the CLI.
        step_timeout: Longest one attempt of a step may run.
        heartbeat_timeout: How soon a step whose worker died is retried elsewhere.
        search_attributes: Whether runs carry the custom search attributes (the
            server must have them registered; the dev stack does).
        dev_server: Options for the embedded dev stack (``db_file``, ``port``, ``ui_port``).
        metrics_port: Serve Prometheus metrics on this port (``None`` = off).
        tracing: Enable OpenTelemetry tracing through temporalio's contrib plugin.
        encryption_keys: ``{key_id: 32-byte key (base64)}``; the first is used to encrypt.
        codec_token: The secret that callers of ``durable-automation codec-server`` must
            present (bearer token, or the endpoint URL's first path segment).
        outbox_relay_interval: How often the worker retries undelivered Django events.
        outbox_max_attempts: Failed deliveries of one Django event (backing off
            exponentially) before it is set aside as dead (``automation_outbox dead``).
            Failures to reach Temporal at all do not count: an outage kills no event.
        timers_in_process: Serve this process's timer/task callbacks from a worker inside
            the process (script mode). ``None`` (default): only when a callable no
            configured worker can run is scheduled, and never in a Django process;
            ``True``: always (every timer and task started here runs here); ``False``:
            never (scheduling such a callable raises ``ConfigurationError``).
        health_port: Serve the worker's liveness (``/livez``) and readiness
            (``/readyz``) on this port (``None`` = off); see docs/operations.md.
        drain_timeout: How long running steps may take to finish when the worker is
            told to stop (SIGTERM); orchestrators must wait longer than this.
        event_retention: Django ``Event`` rows nothing needs any more are deleted this
            long after their last change, by a daily job (``None`` = keep them all).
        build_id: This worker's build (an image tag, a commit): turns on Temporal's
            Worker Versioning; runs move to a new build once an operator makes it the
            deployment's current version (docs/operations.md). ``None`` = unversioned.
        deployment_name: The Worker Deployment the build belongs to (default: the
            task queue's name).
    """

    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "durable-automation"
    tls: bool | dict[str, str] | TLSConfig = False
    api_key: str | None = None
    automation_modules: tuple[str, ...] = ()
    ui_url: str = "http://localhost:8233"
    step_timeout: timedelta = timedelta(hours=1)
    heartbeat_timeout: timedelta = timedelta(seconds=30)
    search_attributes: bool = False
    dev_server: dict[str, Any] = field(default_factory=dict)
    metrics_port: int | None = None
    tracing: bool = False
    encryption_keys: dict[str, str] = field(default_factory=dict)
    codec_token: str | None = None
    outbox_relay_interval: timedelta = timedelta(seconds=5)
    outbox_max_attempts: int = 10
    timers_in_process: bool | None = None
    health_port: int | None = None
    drain_timeout: timedelta = timedelta(seconds=30)
    event_retention: timedelta | None = timedelta(days=30)
    build_id: str | None = None
    deployment_name: str | None = None


_overrides: dict[str, Any] = {}
_cached: Settings | None = None
_TIMEDELTA_KEYS = {"step_timeout", "heartbeat_timeout", "outbox_relay_interval",
                   "drain_timeout"}


def _from_django() -> dict[str, Any] | None:
    # Only consult Django when the application already imported and configured it:
    # the core must never import Django on its own.
    if "django.conf" not in sys.modules:
        return None
    from django.conf import settings as dj

    if not dj.configured:
        return None
    value = getattr(dj, "DURABLE_AUTOMATION", {})
    if not isinstance(value, dict):
        raise ConfigurationError("settings.DURABLE_AUTOMATION must be a dict")
    return value


def _from_env() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for f in fields(Settings):
        raw = os.environ.get(f"DURABLE_AUTOMATION_{f.name.upper()}")
        if raw is not None:
            found[f.name] = raw
    return found


def _from_temporal_env() -> dict[str, Any]:
    """Connection values from Temporal's environment configuration (env vars, profile file)."""
    from temporalio.envconfig import ClientConfigProfile

    try:
        profile = ClientConfigProfile.load()
        tls = profile.tls.to_connect_tls_config() if profile.tls is not None else None
    except Exception as exc:  # the bridge's ConfigError, or an unreadable TLS file
        raise ConfigurationError(
            "Temporal's environment configuration (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, "
            f"TEMPORAL_* variables) cannot be used: {exc}. Fix it, or set the connection in "
            "DURABLE_AUTOMATION (ADDRESS, NAMESPACE, API_KEY, TLS)."
        ) from exc
    found: dict[str, Any] = {}
    for name in ("address", "namespace", "api_key"):
        if getattr(profile, name):
            found[name] = getattr(profile, name)
    if tls is not None:
        found["tls"] = tls
    return found


def _coerce(key: str, value: Any) -> Any:
    if key in _TIMEDELTA_KEYS and isinstance(value, (int, float, str)):
        return timedelta(seconds=float(value))
    if key == "automation_modules":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return tuple(value)
    if key in {"search_attributes", "tracing"} and isinstance(value, str):
        return value.lower() in {"1", "true", "yes", "on"}
    if key == "timers_in_process" and isinstance(value, str):
        if value.strip().lower() in {"", "auto", "none"}:
            return None
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if key == "tls" and isinstance(value, str):
        return value.lower() in {"1", "true", "yes", "on"}
    if key == "outbox_max_attempts" and isinstance(value, str):
        return int(value)
    if key in {"metrics_port", "health_port"} and isinstance(value, str):
        return int(value) if value else None
    if key == "event_retention":
        if isinstance(value, str) and value.strip().lower() in {"", "none", "off"}:
            return None
        if isinstance(value, (int, float, str)):
            return timedelta(seconds=float(value))
    return value


def _build() -> Settings:
    known = {f.name for f in fields(Settings)}
    merged: dict[str, Any] = {}
    merged.update(_from_temporal_env())
    merged.update(_from_env())
    django_values = _from_django()
    for source in (django_values or {}, _overrides):
        for key, value in source.items():
            name = key.lower()
            if name not in known:
                raise ConfigurationError(
                    f"Unknown DURABLE_AUTOMATION setting {key!r}; known settings: "
                    + ", ".join(sorted(k.upper() for k in known))
                )
            merged[name] = value
    return replace(Settings(), **{k: _coerce(k, v) for k, v in merged.items()})


def get_settings() -> Settings:
    """Return the current settings, building them on first use."""
    global _cached
    if _cached is None:
        _cached = _build()
    return _cached


def configure(**values: Any) -> Settings:
    """Set values for code that does not use Django (keys as in ``DURABLE_AUTOMATION``).

    Returns:
        The settings now in force.
    """
    _overrides.update({k.lower(): v for k, v in values.items()})
    reset_settings()
    return get_settings()


@contextlib.contextmanager
def overridden(**values: Any) -> Iterator[Settings]:
    """Apply ``configure(**values)`` for the duration of a ``with`` block (tests)."""
    saved = dict(_overrides)
    try:
        yield configure(**values)
    finally:
        _overrides.clear()
        _overrides.update(saved)
        reset_settings()


def reset_settings() -> None:
    """Forget the cached settings so the next read sees changed sources."""
    global _cached
    _cached = None
