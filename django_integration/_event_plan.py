"""Planning the Event writes of one save: which rows to insert, which to update.

The planners compare each definition's evaluation with the instance's latest row of
that event and add the writes needed to a :class:`Plan`; applying it runs them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from ._definitions import Evaluation, EventDefinition
from ._event_sql import Row, insert_rows
from .models import Event, EventStatus

__all__ = ["Plan", "plan_immediate", "plan_scheduled"]


class Plan:
    """The writes one save needs: new rows (one INSERT) and updates of existing rows."""

    def __init__(self) -> None:
        self.new_rows: list[dict[str, Any]] = []
        self.updates: list[tuple[int, bool, dict[str, Any]]] = []
        # Names whose new row was not inserted: a concurrent save inserted it first.
        self.conflicts: list[str] = []

    def update(self, row: Row, *, deliver: bool, **values: Any) -> None:
        self.updates.append((row.pk, deliver, values))

    def writes(self) -> int:
        return len(self.updates) + (1 if self.new_rows else 0)

    def apply(self, connection: BaseDatabaseWrapper, now: datetime) -> list[int]:
        using = connection.alias
        changed: list[int] = []
        for pk, deliver, values in self.updates:
            values["updated_at"] = now
            if deliver:
                values["version"] = models.F("version") + 1
                values["needs_delivery"] = True
                # New state, new chances: a dead row whose event changed is retried.
                values["dead_at"] = None
                values["next_attempt_at"] = None
                changed.append(pk)
            Event.objects.using(using).filter(pk=pk).update(**values)
        if self.new_rows:
            inserted = insert_rows(connection, self.new_rows, now)
            changed.extend(pk for name, pk in inserted.items()
                           if _by_name(self.new_rows, name)["needs_delivery"])
            self.conflicts = [r["name"] for r in self.new_rows if r["name"] not in inserted]
        return changed


def _new(definition: EventDefinition, status: Any, at: datetime | None, ev: Evaluation,
         *, error: str = "") -> dict[str, Any]:
    return {
        "name": definition.name, "scheduled": definition.scheduled, "status": status,
        "at": at, "data": ev.data or {}, "error": error,
        "needs_delivery": status in (EventStatus.PENDING, EventStatus.SCHEDULED),
    }



def _by_name(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(r for r in rows if r["name"] == name)


def _condition_failure(row: Row | None) -> bool:
    # A failed row nothing was ever forwarded for: the condition raised at save time.
    return row is not None and row.status == EventStatus.FAILED and row.delivery_attempts == 0


def plan_immediate(definition: EventDefinition, ev: Evaluation, row: Row | None,
                   now: datetime, plan: Plan) -> None:
    if ev.error is not None:
        if row is None:
            plan.new_rows.append(_new(definition, EventStatus.FAILED, None, ev, error=ev.error))
        elif _condition_failure(row):
            plan.update(row, deliver=False, error=ev.error)
        return
    if not ev.holds:
        return
    if row is None or row.status == EventStatus.CANCELLED:
        plan.new_rows.append(_new(definition, EventStatus.PENDING, now, ev))
    elif _condition_failure(row):
        plan.update(row, deliver=True, status=EventStatus.PENDING, at=now, error="",
                    data=ev.data or {})
    # pending or occurred: an immediate event occurs once per instance


def plan_scheduled(definition: EventDefinition, ev: Evaluation, at: datetime | None,
                   row: Row | None, plan: Plan) -> None:
    live = row if row is not None and row.status == EventStatus.SCHEDULED else None
    if ev.error is not None:
        # Keep a live event (the condition is checked again when it is due), record why.
        if live is not None:
            plan.update(live, deliver=False, error=ev.error)
        elif row is None or row.status != EventStatus.FAILED:
            plan.new_rows.append(_new(definition, EventStatus.FAILED, at, ev, error=ev.error))
        else:
            plan.update(row, deliver=False, error=ev.error, at=at)
        return
    if not ev.holds:  # condition false, or no date: no event
        if live is not None:
            reason = "no date" if at is None else "the condition no longer holds"
            plan.update(live, deliver=True, status=EventStatus.CANCELLED, error=reason)
        return
    if live is not None:
        if live.at != at:
            plan.update(live, deliver=True, at=at, error="")
        return
    if row is not None and row.status in (EventStatus.OCCURRED, EventStatus.FAILED) \
            and row.at == at and not _condition_failure(row):
        return  # already fired for this date
    if _condition_failure(row):
        assert row is not None
        plan.update(row, deliver=True, status=EventStatus.SCHEDULED, at=at, error="",
                    data=ev.data or {})
        return
    plan.new_rows.append(_new(definition, EventStatus.SCHEDULED, at, ev))
