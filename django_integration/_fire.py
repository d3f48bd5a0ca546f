"""The activity a scheduled event's timer runs when it is due: re-check, then occur or cancel.

Registered on every worker of a Django project (from ``AppConfig.ready``) as
``durable_automation.fire_scheduled_event``, together with the timer workflow that
runs it (``_timer``): both are the app's own, and this activity calls the core's
engine, so the path goes one way. It reads the Event row and the entity
(on a thread: Django forbids the ORM on an event loop), re-evaluates the condition,
and then makes the event occur (``engine.ahandle_event_occurred``), cancels it
(``@on_event_cancelled`` runs), or records why it failed. The transition is claimed
on the row (checked against its version) before anything starts, so a date moved
while the event fires is never lost. Safe to retry: a retry repeats the claimed
transition, and occurring twice starts nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db.models import F
from django.utils import timezone
from temporalio import activity

from durable_automation.exceptions import EntityNotFoundError, EventDeliveryError
from durable_automation.integration import engine

from ._classify import is_transient
from ._resolver import resolve_entity, run_db
from ._timer import FIRE_ACTIVITY, FireRequest, FireResult
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
    """Decide what the due event does, and claim that transition on the row.

    The claim is an UPDATE checked against the row version read here, made *before*
    anything is started: a save that moves the date after it sees an event that
    already occurred for the old date (and schedules a new occurrence); a save before
    it changes the version, so the claim fails and the decision is made again on the
    new state (the new date is later: the timer sleeps on).
    """
    for _ in range(5):
        decision = _decide_once(request)
        if decision.row is None or decision.outcome in ("skipped", "later"):
            return decision
        if decision.row.status != EventStatus.SCHEDULED:
            return decision  # a retry of a transition already claimed: repeat it
        if _claim(decision):
            return decision
    return _Decision("later", "the event keeps changing", at=request.now)


def _decide_once(request: FireRequest) -> _Decision:
    try:
        row = Event.objects.get(pk=int(request.event.id))
    except (Event.DoesNotExist, ValueError):
        return _Decision("skipped", "the Event row no longer exists")
    if row.status == EventStatus.OCCURRED and row.occurred_at is not None:
        # This timer claimed the occurrence and then failed to reach a target (it is
        # retried): occur again; targets already reached start nothing twice.
        return _decide_occurrence(row, retry=True)
    if row.status == EventStatus.CANCELLED:
        return _Decision("cancel", row.error or "cancelled", row)
    if row.status != EventStatus.SCHEDULED:
        return _Decision("skipped", f"the event is {row.status}")
    if row.at is None:
        return _Decision("cancel", "the event has no date", row)
    if row.at > request.now:
        return _Decision("later", f"moved to {row.at.isoformat()}", row, at=row.at)
    return _decide_occurrence(row, retry=False)


def _decide_occurrence(row: Event, *, retry: bool) -> _Decision:
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
        if retry:
            return _Decision("occur", "", row, None)  # it did occur; handlers see it gone
        return _Decision("cancel", "the entity was deleted", row)
    if retry:
        return _Decision("occur", "", row, entity)
    evaluation = definition.evaluate(entity)
    if evaluation.error is not None:
        return _Decision("fail", evaluation.error, row)
    if not evaluation.holds:
        return _Decision("cancel", "the condition no longer holds when due", row)
    return _Decision("occur", "", row, entity)


_STATUS = {"occur": EventStatus.OCCURRED, "cancel": EventStatus.CANCELLED,
           "fail": EventStatus.FAILED}


def _claim(decision: _Decision) -> bool:
    row = decision.row
    assert row is not None
    now = timezone.now()
    status = _STATUS[decision.outcome]
    values: dict[str, Any] = {
        "status": status, "error": decision.detail[:2000], "updated_at": now,
        # The timer ends by itself: nothing left for the outbox to tell Temporal.
        "delivered_status": status, "version": F("version") + 1,
    }
    if status == EventStatus.OCCURRED:
        values["occurred_at"] = now
    claimed = Event.objects.filter(pk=row.pk, status=EventStatus.SCHEDULED,
                                   version=row.version).update(**values)
    if claimed:
        row.status, row.version = status, row.version + 1
    return bool(claimed)


def _mark_failed(row: Event, detail: str, target_errors: dict[str, str]) -> None:
    Event.objects.filter(pk=row.pk, version=row.version).update(
        status=EventStatus.FAILED, error=detail[:2000], target_errors=target_errors,
        updated_at=timezone.now())


def _mark_partial(row: Event, target_errors: dict[str, str]) -> None:
    detail = "; ".join(f"{t}: {e}" for t, e in target_errors.items())
    Event.objects.filter(pk=row.pk, version=row.version).update(
        error=detail[:2000], target_errors=target_errors, updated_at=timezone.now())


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
        return FireResult(outcome="failed", detail=decision.detail)
    if decision.outcome == "cancel":
        try:
            await engine.ahandle_event_cancelled(event)
        except Exception as exc:
            if is_transient(exc):
                raise  # retried: the row stays cancelled, handlers start once
            log.warning("Cancelling scheduled event %s (%s): %s", row.pk, row.name, exc)
        return FireResult(outcome="cancelled", detail=decision.detail)
    if decision.entity is not None:
        event._entity = decision.entity  # already loaded: create_context need not query again
    try:
        await engine.ahandle_event_occurred(event)
    except Exception as exc:
        if is_transient(exc):
            raise  # Temporal hiccup: the activity is retried, nothing starts twice
        detail = f"{type(exc).__name__}: {exc}"
        targets = ({t: f"{type(e).__name__}: {e}"[:500] for t, e in exc.failures.items()}
                   if isinstance(exc, EventDeliveryError) else {})
        if isinstance(exc, EventDeliveryError) and exc.delivered:
            await run_db(_mark_partial, row, targets)  # it occurred; some targets refused
            return FireResult(outcome="occurred", detail=detail[:500])
        await run_db(_mark_failed, row, detail, targets)
        return FireResult(outcome="failed", detail=detail)
    return FireResult(outcome="occurred")
