"""The activity a scheduled event's timer runs when it is due: re-check, then occur or cancel.

Registered on every worker of a Django project (from ``AppConfig.ready``) as
``durable_automation.fire_scheduled_event``. It reads the Event row and the entity
(on a thread: Django forbids the ORM on an event loop), re-evaluates the condition,
and then makes the event occur (``engine.ahandle_event_occurred``), cancels it
(``@on_event_cancelled`` runs), or records why it failed. Safe to retry: a row that
is no longer scheduled is skipped, and occurring twice starts nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.utils import timezone
from temporalio import activity

from durable_automation._engine import engine
from durable_automation._scheduled_event import FIRE_ACTIVITY, FireRequest, FireResult
from durable_automation.exceptions import EntityNotFoundError

from ._delivery import is_transient
from ._resolver import resolve_entity, run_db
from ._tracking import event_definitions
from .models import Event, EventStatus

__all__ = ["fire_scheduled_event"]

log = logging.getLogger("django_integration.fire")


@dataclass
class _Decision:
    outcome: str  # occur | cancel | fail | skipped | later
    detail: str = ""
    row: Event | None = None
    entity: Any = None
    at: datetime | None = None


def _decide(request: FireRequest) -> _Decision:
    try:
        row = Event.objects.get(pk=int(request.event.id))
    except (Event.DoesNotExist, ValueError):
        return _Decision("skipped", "the Event row no longer exists")
    if row.status != EventStatus.SCHEDULED:
        return _Decision("skipped", f"the event is {row.status}")
    if row.at is None:
        return _Decision("cancel", "the event has no date", row)
    if row.at > request.now:
        return _Decision("later", f"moved to {row.at.isoformat()}", row, at=row.at)
    try:
        model = apps.get_model(row.entity_type)
    except (LookupError, ValueError):
        return _Decision("fail", f"the model {row.entity_type!r} no longer exists", row)
    definition = next((d for d in event_definitions(model) if d.name == row.name), None)
    if definition is None:
        return _Decision("fail", f"{model.__name__} no longer declares the event {row.name!r}",
                         row)
    try:
        entity = resolve_entity(row.entity_type, row.entity_id)
    except EntityNotFoundError:
        return _Decision("cancel", "the entity was deleted", row)
    evaluation = definition.evaluate(entity)
    if evaluation.error is not None:
        return _Decision("fail", evaluation.error, row)
    if not evaluation.holds:
        return _Decision("cancel", "the condition no longer holds when due", row)
    return _Decision("occur", "", row, entity)


def _mark(row: Event, status: str, error: str = "") -> None:
    now = timezone.now()
    values: dict[str, Any] = {"status": status, "error": error[:2000], "updated_at": now,
                              "delivered_status": status, "needs_delivery": False}
    if status == EventStatus.OCCURRED:
        values["occurred_at"] = now
    Event.objects.filter(pk=row.pk, status=EventStatus.SCHEDULED).update(**values)


@activity.defn(name=FIRE_ACTIVITY)
async def fire_scheduled_event(request: FireRequest) -> FireResult:
    """Fire a due scheduled event (see the module docs)."""
    decision = await run_db(_decide, request)
    row = decision.row
    if decision.outcome in ("skipped", "later"):
        return FireResult(outcome=decision.outcome, at=decision.at,  # type: ignore[arg-type]
                          detail=decision.detail)
    assert row is not None
    event = row.to_event()
    if decision.outcome == "fail":
        log.warning("Scheduled event %s (%s) failed: %s", row.pk, row.name, decision.detail)
        await run_db(_mark, row, EventStatus.FAILED, decision.detail)
        return FireResult(outcome="failed", detail=decision.detail)
    if decision.outcome == "cancel":
        await run_db(_mark, row, EventStatus.CANCELLED, decision.detail)
        await engine.ahandle_event_cancelled(event)
        return FireResult(outcome="cancelled", detail=decision.detail)
    event._entity = decision.entity  # already loaded: create_context need not query again
    try:
        await engine.ahandle_event_occurred(event)
    except Exception as exc:
        if is_transient(exc):
            raise  # Temporal hiccup: the activity is retried, nothing starts twice
        detail = f"{type(exc).__name__}: {exc}"
        await run_db(_mark, row, EventStatus.FAILED, detail)
        return FireResult(outcome="failed", detail=detail)
    await run_db(_mark, row, EventStatus.OCCURRED)
    return FireResult(outcome="occurred")
