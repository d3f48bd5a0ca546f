"""Operating runs in production: find, cancel and retry runs in bulk, and check for runs
a deploy would strand.

``run.reset(to_step=...)`` (on :class:`~durable_automation.Run`) is the single-run
tool; this module works on many runs at once, through Temporal's visibility API (the
dev server and real clusters have it; the time-skipping test server does not). The
same operations are on the command line (``durable-automation runs ...``,
``durable-automation check``) and in the Django admin. See docs/operating-runs.md and
docs/deploy-safety.md.

Example::

    from datetime import datetime, timedelta, UTC
    from durable_automation.operations import cancel_runs, retry_runs

    print(retry_runs(automation="checkin_flow", dry_run=True).report())
    retry_runs(automation="checkin_flow", started_after=datetime.now(UTC) - timedelta(days=1))
    cancel_runs(automation="checkin_flow", step="await_docs")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

# Their worker components (signal hubs, timers, agent directories, limiters, batches)
# are internal workflow types: bulk operations skip them, the check recognises them.
from . import agents as _agents  # noqa: F401
from . import events as _events  # noqa: F401
from . import flow as _flow  # noqa: F401
from . import timers as _timers  # noqa: F401
from . import workflows as _workflows  # noqa: F401
from ._client.bulk import (
    BulkResult,
    FilterStatus,
    RunFilter,
    RunInfo,
    bulk_cancel,
    bulk_retry,
    find,
    retry_one,
)
from ._client.engine import engine
from ._client.reset import ResetPoint
from ._client.stranded import CheckReport, StrandedRun, find_stranded

__all__ = [
    "BulkResult",
    "CheckReport",
    "ResetPoint",
    "RunFilter",
    "RunInfo",
    "StrandedRun",
    "acancel_runs",
    "acheck_stranded_runs",
    "afind_runs",
    "aretry_run",
    "aretry_runs",
    "cancel_runs",
    "check_stranded_runs",
    "find_runs",
    "retry_run",
    "retry_runs",
]


T = TypeVar("T")


async def _with_client(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``fn(client, *args)`` on the engine's loop, with the engine's client."""
    client = await engine._aclient()
    return await engine._on_loop(fn, client, *args)


async def afind_runs(
    *, automation: str | None = None, status: FilterStatus | None = None,
    step: str | None = None, entity: str | None = None, started_after: datetime | None = None,
    started_before: datetime | None = None, limit: int = 1000,
) -> list[RunInfo]:
    """Runs of this task queue's automations matching every given filter.

    Args:
        automation: The automation's name.
        status: ``running`` (waiting runs included), ``completed``, ``failed``, ``cancelled``.
        step: Current (or last) step; needs the ``SEARCH_ATTRIBUTES`` setting.
        entity: ``app_label.model:pk``; needs the ``SEARCH_ATTRIBUTES`` setting.
        started_after: Started at or after this time.
        started_before: Started before this time.
        limit: At most this many runs.

    Raises:
        ConfigurationError: A step or entity filter without ``SEARCH_ATTRIBUTES``.
    """
    run_filter = RunFilter(automation, status, step, entity, started_after, started_before,
                           limit)
    return await _with_client(find, engine.task_queue, run_filter)


def find_runs(**filters: Any) -> list[RunInfo]:
    """Sync twin of :func:`afind_runs` (same keyword arguments)."""
    return engine._blocking(afind_runs, name="find_runs", kwargs=filters)


async def acancel_runs(
    *, automation: str | None = None, step: str | None = None, entity: str | None = None,
    started_after: datetime | None = None, started_before: datetime | None = None,
    limit: int = 1000, dry_run: bool = False,
) -> BulkResult:
    """Cancel every running run matching the filters (see :func:`afind_runs`).

    Each is asked to cancel, as ``run.cancel()`` does. With ``dry_run`` nothing changes
    and the result lists what would be cancelled (``result.report()``).
    """
    run_filter = RunFilter(automation, "running", step, entity, started_after,
                           started_before, limit)
    return await _with_client(bulk_cancel, engine.task_queue, run_filter, dry_run)


def cancel_runs(**kwargs: Any) -> BulkResult:
    """Sync twin of :func:`acancel_runs` (same keyword arguments)."""
    return engine._blocking(acancel_runs, name="cancel_runs", kwargs=kwargs)


async def aretry_runs(
    *, automation: str | None = None, step: str | None = None, entity: str | None = None,
    started_after: datetime | None = None, started_before: datetime | None = None,
    limit: int = 1000, dry_run: bool = False,
) -> BulkResult:
    """Retry every failed run matching the filters: reset it to the step that failed.

    The run keeps its id and runs that step again, with today's code and the Context
    it had when the step began (its latest visit); the steps before are not repeated.
    With ``dry_run`` nothing changes and the result lists the step each would go back to.
    """
    run_filter = RunFilter(automation, "failed", step, entity, started_after, started_before,
                           limit)
    return await _with_client(bulk_retry, engine.task_queue, run_filter, dry_run)


def retry_runs(**kwargs: Any) -> BulkResult:
    """Sync twin of :func:`aretry_runs` (same keyword arguments)."""
    return engine._blocking(aretry_runs, name="retry_runs", kwargs=kwargs)


async def aretry_run(run_id: str, *, dry_run: bool = False) -> str:
    """Retry one failed run: reset it to the step that failed (see :func:`aretry_runs`);
    return what was (or, with ``dry_run``, would be) done.

    Raises:
        ResetError: The run has not failed, or has no step to go back to.
    """
    return await _with_client(retry_one, run_id, dry_run)


def retry_run(run_id: str, *, dry_run: bool = False) -> str:
    """Sync twin of :func:`aretry_run`."""
    return engine._blocking(aretry_run, run_id, name="retry_run", kwargs={"dry_run": dry_run})


async def acheck_stranded_runs(limit: int = 10_000) -> CheckReport:
    """Every run in flight on this task queue that the code registered here cannot carry
    on (see docs/deploy-safety.md). Run it with the code you are about to deploy."""
    return await _with_client(find_stranded, engine.task_queue, limit)


def check_stranded_runs(limit: int = 10_000) -> CheckReport:
    """Sync twin of :func:`acheck_stranded_runs`."""
    return engine._blocking(acheck_stranded_runs, limit, name="check_stranded_runs")
