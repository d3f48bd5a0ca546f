"""Event retention: old ``Event`` rows nothing needs any more are deleted (seed 001 §6,
"Events: cleanup_old (daily)").

``EVENT_RETENTION`` (default 30 days; ``None`` keeps every row) says how long a row is
kept after its last change. A row older than that is deleted only when nothing can
need it again:

- it needs no delivery (``needs_delivery`` is false) and is not dead (a dead row waits
  for an operator: ``automation_outbox dead`` / ``retry``);
- it is not a scheduled event still waiting (status ``scheduled``) and its date is
  not in the future;
- it is not the latest row of its event for an instance that still exists. That row
  is how the app knows an immediate event already occurred for the instance (an
  immediate event occurs once per instance) and that a scheduled event already fired
  for its date: deleting it would fire the event again on the instance's next save.
  So only superseded rows, and rows of deleted instances (or removed models), go.

The worker installs the daily job itself (a Temporal Schedule of the SDK's
:class:`~durable_automation.scheduler.Scheduler`, ``scheduler:django_integration:
events_cleanup_old``, 03:17 UTC), so it survives restarts and shows in the Temporal
UI; ``manage.py automation_events cleanup [--dry-run]`` runs the same cleanup by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from durable_automation.integration import get_settings
from durable_automation.scheduler import Scheduler
from durable_automation.timers import task

from .models import Event, EventStatus

__all__ = [
    "CLEANUP_CRON",
    "CLEANUP_TASK",
    "SCHEDULER_NAME",
    "CleanupResult",
    "ainstall_cleanup_schedule",
    "cleanup_old_events",
    "install_cleanup_schedule",
]

log = logging.getLogger("django_integration.retention")

SCHEDULER_NAME = "django_integration"
CLEANUP_TASK = "events_cleanup_old"
# Daily, at a quiet hour (UTC) and off the full hour most other jobs start on.
CLEANUP_CRON = "17 3 * * *"
_BATCH = 500


@dataclass(frozen=True)
class CleanupResult:
    """What one cleanup did (or, with ``dry_run``, would do)."""

    cutoff: datetime | None
    superseded: int = 0
    entity_gone: int = 0
    dry_run: bool = False

    @property
    def deleted(self) -> int:
        """Rows deleted (or that would be)."""
        return self.superseded + self.entity_gone


def _safe() -> Q:
    """Rows nothing needs for delivery, an operator, or a future date (checked again in
    the DELETE itself, so a row that changed meanwhile stays)."""
    now = timezone.now()
    return (Q(needs_delivery=False, dead_at__isnull=True)
            & ~Q(status=EventStatus.SCHEDULED)
            & (Q(at__isnull=True) | Q(at__lte=now)))


def _gone_entities(rows: Iterable[tuple[int, str, str]], using: str) -> set[int]:
    """Of ``(event id, entity_type, entity_id)``, the events whose instance no longer exists."""
    by_type: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for pk, entity_type, entity_id in rows:
        by_type[entity_type].append((pk, entity_id))
    gone: set[int] = set()
    for label, items in by_type.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            gone.update(pk for pk, _ in items)  # the model itself was removed
            continue
        field = model._meta.pk
        assert field is not None
        keys: dict[int, object] = {}
        for pk, entity_id in items:
            try:
                keys[pk] = field.to_python(entity_id)
            except ValidationError:
                continue  # not a key of this model: keep the row (never guess)
        # The base manager: a default manager that hides rows must not make them "gone".
        existing = set(model._base_manager.using(using)
                       .filter(pk__in=list(keys.values())).values_list("pk", flat=True))
        gone.update(pk for pk, key in keys.items() if key not in existing)
    return gone


def cleanup_old_events(retention: timedelta | None = None, *, dry_run: bool = False,
                       using: str = "default") -> CleanupResult:
    """Delete ``Event`` rows older than the retention that nothing needs any more.

    Args:
        retention: Keep rows changed more recently than this (default:
            ``EVENT_RETENTION``; ``None`` there means keep everything).
        dry_run: Count what would be deleted; delete nothing.
        using: Database alias.

    Returns:
        How many rows were (or would be) deleted, and why.
    """
    if retention is None:
        retention = get_settings().event_retention
    if retention is None:
        return CleanupResult(None, dry_run=dry_run)
    cutoff = timezone.now() - retention
    events = Event.objects.using(using)
    newer = events.filter(entity_type=OuterRef("entity_type"), entity_id=OuterRef("entity_id"),
                          name=OuterRef("name"), pk__gt=OuterRef("pk"))
    candidates = (events.filter(_safe(), updated_at__lt=cutoff)
                  .annotate(superseded=Exists(newer)).order_by("pk"))
    superseded = entity_gone = 0
    last = 0
    while True:
        batch = list(candidates.filter(pk__gt=last)
                     .values_list("pk", "entity_type", "entity_id", "superseded")[:_BATCH])
        if not batch:
            break
        last = batch[-1][0]
        old = [pk for pk, _, _, is_superseded in batch if is_superseded]
        gone = _gone_entities(((pk, t, e) for pk, t, e, s in batch if not s), using)
        if dry_run:
            superseded += len(old)
            entity_gone += len(gone)
            continue
        # The DELETE re-checks every condition: a row that changed since it was read stays.
        if old:
            superseded += events.filter(_safe(), Exists(newer), pk__in=old,
                                        updated_at__lt=cutoff).delete()[0]
        if gone:
            entity_gone += events.filter(_safe(), pk__in=gone, updated_at__lt=cutoff
                                         ).delete()[0]
    result = CleanupResult(cutoff, superseded, entity_gone, dry_run)
    log.info("Event cleanup%s: %d row(s) older than %s %s (%d superseded, %d of deleted "
             "instances)", " (dry run)" if dry_run else "", result.deleted,
             cutoff.isoformat(timespec="seconds"), "would go" if dry_run else "deleted",
             superseded, entity_gone)
    return result


@task("django_integration.events_cleanup_old")
def cleanup_old_events_task() -> int:
    """The daily job: :func:`cleanup_old_events` with ``EVENT_RETENTION``."""
    return cleanup_old_events().deleted


async def ainstall_cleanup_schedule() -> bool:
    """Create or update the daily cleanup schedule (the worker calls this when it starts).

    With ``EVENT_RETENTION`` set to ``None`` the schedule is removed instead.
    Several workers doing this at once is fine: the schedule has a fixed id, and
    creating it again updates it in place.

    Returns:
        Whether the schedule is installed.
    """
    scheduler = Scheduler(SCHEDULER_NAME)
    if get_settings().event_retention is None:
        await scheduler.aremove_task(CLEANUP_TASK)
        return False
    # A task's schedule runs only while its scheduler is started; starting it, adding
    # the task and cancelling the start without pausing leaves the schedule running for
    # good, which is what a job the app owns needs: a worker that exits must not pause
    # it while other workers serve it.
    running = asyncio.create_task(scheduler.start(pause_on_cancel=False))
    try:
        await asyncio.sleep(0)  # start() marks the scheduler running
        await scheduler.aadd_task(CLEANUP_TASK, cleanup_old_events_task, cron=CLEANUP_CRON)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    return True


def install_cleanup_schedule() -> bool:
    """Sync twin of :func:`ainstall_cleanup_schedule`."""
    return asyncio.run(ainstall_cleanup_schedule())
