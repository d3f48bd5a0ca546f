"""``post_save`` / ``post_delete`` handlers that keep ``Event`` rows current.

They run inside the transaction of the change (or right after it, in autocommit
mode), write or update Event rows there, and ask for delivery once the transaction
commits (``transaction.on_commit``): a rollback discards both the rows and the
request. Cost is kept low: no query at all for a new instance whose events do not
hold, one indexed SELECT for an existing one, and one INSERT for all new events.
The writes are planned in ``_event_plan`` and the SQL is in ``_event_sql``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from ._definitions import Evaluation, EventDefinition
from ._event_plan import Plan, plan_immediate, plan_scheduled
from ._event_sql import Row, latest_rows
from .models import Event, EventStatus

__all__ = ["connect_models", "event_definitions", "tracked_models"]

log = logging.getLogger("django_integration")

_tracked: dict[type[models.Model], tuple[EventDefinition, ...]] = {}


def event_definitions(model: type[models.Model]) -> tuple[EventDefinition, ...]:
    """The valid ``EventDefinition`` entries of a model's ``events`` attribute."""
    declared = getattr(model, "events", None)
    if not isinstance(declared, (list, tuple)):
        return ()
    return tuple(d for d in declared if isinstance(d, EventDefinition))


def tracked_models() -> dict[type[models.Model], tuple[EventDefinition, ...]]:
    """Models whose saves and deletes maintain Event rows, with their definitions."""
    return dict(_tracked)


def connect_models(all_models: Iterable[type[models.Model]]) -> None:
    """Connect the handlers to every model that declares events (idempotent)."""
    for model in all_models:
        if model is Event or model._meta.abstract:
            continue
        definitions = event_definitions(model)
        if not definitions:
            continue
        _tracked[model] = definitions
        uid = f"durable_automation:{model._meta.label_lower}"
        post_save.connect(_on_post_save, sender=model, dispatch_uid=uid, weak=False)
        post_delete.connect(_on_post_delete, sender=model, dispatch_uid=uid, weak=False)


def _label(model: type[models.Model]) -> str:
    return model._meta.concrete_model._meta.label_lower  # type: ignore[union-attr]


def _aware(value: Any, field: models.Field[Any, Any] | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) and field is not None:
        value = field.to_python(value)  # a string assigned before save()
    if isinstance(value, datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _on_post_save(sender: type[models.Model], instance: models.Model, created: bool,
                  raw: bool = False, using: str = "default", **_: Any) -> None:
    definitions = _tracked.get(sender) or event_definitions(sender)
    if not definitions:
        return
    memo = _memo(using)
    key = (_label(sender), str(instance.pk))
    if raw:  # loading fixtures: not a business change (and nothing to remember)
        if memo is not None:
            memo.pop(key, None)
        return
    evaluations = tuple(d.evaluate(instance) for d in definitions)
    if memo is not None:
        if not created and memo.get(key) == evaluations:
            return  # this transaction already brought the rows in line with these values
        memo.pop(key, None)
    track_save(sender, instance, created, using, definitions, evaluations=evaluations)
    if memo is not None and len(memo) < _MEMO_LIMIT:
        memo[key] = evaluations


# Per connection: (the transaction's on-commit list, {(label, pk): evaluations}).
_MEMO_ATTR = "_durable_automation_tracked"
_MEMO_LIMIT = 10_000  # a huge transaction falls back to the SELECT, not to unbounded memory


def _memo(using: str) -> dict[tuple[str, str], tuple[Evaluation, ...]] | None:
    """What this transaction's saves last brought the Event rows in line with.

    Skipping the SELECT for a save whose evaluations equal the remembered ones is
    exact only while nobody else can have changed the instance's row since: true
    inside one transaction, where the earlier save's write holds the row lock (the
    whole database on SQLite) until commit. Outside ``atomic()`` (or once the
    transaction ends) there is nothing to remember: another process may have saved
    the row since, so every save reads the Event rows.

    The transaction is identified by ``connection.run_on_commit``: Django replaces
    that list on commit, on rollback and on a savepoint rollback (which may have
    undone a remembered save), so any of them forgets everything.
    """
    connection = connections[using]
    if not connection.in_atomic_block or not connection.commit_on_exit:
        return None  # autocommit, or a transaction managed by hand: remember nothing
    hooks = connection.run_on_commit
    state = getattr(connection, _MEMO_ATTR, None)
    if state is None or state[0] is not hooks:
        state = (hooks, {})
        setattr(connection, _MEMO_ATTR, state)
    memo: dict[tuple[str, str], tuple[Evaluation, ...]] = state[1]
    return memo


def _on_post_delete(sender: type[models.Model], instance: models.Model,
                    using: str = "default", **_: Any) -> None:
    label = _label(sender)
    memo = _memo(using)
    if memo is not None:
        memo.pop((label, str(instance.pk)), None)
    live = Event.objects.using(using).filter(
        entity_type=label, entity_id=str(instance.pk), status=EventStatus.SCHEDULED
    )
    ids = list(live.values_list("id", flat=True))
    if not ids:
        return
    now = timezone.now()
    Event.objects.using(using).filter(id__in=ids).update(
        status=EventStatus.CANCELLED, error="the entity was deleted", updated_at=now,
        version=models.F("version") + 1, needs_delivery=True,
    )
    _deliver_on_commit(ids, using)


def track_save(model: type[models.Model], instance: models.Model, created: bool, using: str,
               definitions: Sequence[EventDefinition], *,
               evaluations: Sequence[Evaluation] | None = None,
               _retrying: bool = False) -> list[int]:
    """Bring the Event rows of ``instance`` up to date; return the ids that need delivery.

    ``evaluations``: the definitions' evaluations, when the caller already has them.
    """
    if evaluations is None:
        evaluations = [d.evaluate(instance) for d in definitions]
    if created and not any(e.holds or e.error for e in evaluations):
        return []  # the common case of a new row with no event: no query at all
    label = _label(model)
    pk = str(instance.pk)
    latest: dict[str, Row] = {}
    if not created:
        for row in latest_rows(using, label, pk, definitions):
            if row.name not in latest or latest[row.name].pk < row.pk:
                latest[row.name] = row
    meta = model._meta
    now = timezone.now()
    plan = Plan()
    for definition, ev in zip(definitions, evaluations, strict=True):
        current = latest.get(definition.name)
        if ev.error is not None:
            log.warning("Event %r of %s:%s not evaluated: %s", definition.name, label, pk, ev.error)
        if definition.scheduled:
            field = meta.get_field(definition.date_field)  # type: ignore[arg-type]
            plan_scheduled(definition, ev, _aware(ev.at, field), current, plan)
        else:
            plan_immediate(definition, ev, current, now, plan)
    if plan.new_rows:
        content_type = ContentType.objects.db_manager(using).get_for_model(
            model, for_concrete_model=True)
        for new in plan.new_rows:
            new.update(entity_type=label, entity_id=pk, content_type=content_type.pk)
    if plan.writes() > 1:
        with transaction.atomic(using=using, savepoint=False):
            changed = plan.apply(using, now)
    else:
        changed = plan.apply(using, now)
    if changed:
        _deliver_on_commit(changed, using)
    if plan.conflicts and not _retrying:
        # A concurrent save inserted these first (and has committed: the INSERT waited
        # for it): plan them again against its rows, so this save's state still wins.
        again = [d for d in definitions if d.name in plan.conflicts]
        changed += track_save(model, instance, False, using, again, _retrying=True)
    return changed


def _deliver_on_commit(ids: list[int], using: str) -> None:
    from ._dispatcher import dispatcher

    ids = list(ids)
    transaction.on_commit(lambda: dispatcher.submit(ids), using=using)
