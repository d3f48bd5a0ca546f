"""``post_save`` / ``post_delete`` handlers that keep ``Event`` rows current.

They run inside the transaction of the change (or right after it, in autocommit
mode), write or update Event rows there, and ask for delivery once the transaction
commits (``transaction.on_commit``, once per transaction): a rollback discards both
the rows and the request. Cost is kept low: no query at all for a new instance whose
events do not hold, one indexed SELECT for an existing one (none for a save whose
events this transaction already brought in line, nor on SQLite in autocommit while
nothing else wrote: ``_quiet``), and one INSERT for all new events.
What a save needs of its model is worked out once per model (:class:`_Tracked`).
The writes are planned in ``_event_plan`` and the SQL is in ``_event_sql``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from ._definitions import Evaluation, EventDefinition
from ._event_plan import Plan, plan_immediate, plan_scheduled
from ._event_sql import Row, latest_rows
from ._quiet import QuietMemo, forget, quiet_memo
from .models import Event, EventStatus

__all__ = ["connect_models", "event_definitions", "tracked_models"]

log = logging.getLogger("django_integration")


def event_definitions(model: type[models.Model]) -> tuple[EventDefinition, ...]:
    """The valid ``EventDefinition`` entries of a model's ``events`` attribute."""
    declared = getattr(model, "events", None)
    if not isinstance(declared, (list, tuple)):
        return ()
    return tuple(d for d in declared if isinstance(d, EventDefinition))


class _Tracked:
    """What the save path needs of one model, worked out once rather than on every save."""

    __slots__ = ("date_fields", "definitions", "label", "model")

    def __init__(self, model: type[models.Model],
                 definitions: Sequence[EventDefinition]) -> None:
        self.model = model
        self.definitions = tuple(definitions)
        self.label: str = model._meta.concrete_model._meta.label_lower  # type: ignore[union-attr]
        self.date_fields = tuple(_date_field(model, d) for d in self.definitions)

    def only(self, names: Iterable[str]) -> _Tracked:
        """The same model, with the definitions named ``names`` only."""
        keep = set(names)
        return _Tracked(self.model, [d for d in self.definitions if d.name in keep])


def _date_field(model: type[models.Model],
                definition: EventDefinition) -> models.Field[Any, Any] | None:
    if definition.date_field is None:
        return None
    try:
        field = model._meta.get_field(definition.date_field)
    except FieldDoesNotExist:
        return None  # reported by the system check E002
    return field if isinstance(field, models.Field) else None


_tracked: dict[type[models.Model], _Tracked] = {}


def tracked_models() -> dict[type[models.Model], tuple[EventDefinition, ...]]:
    """Models whose saves and deletes maintain Event rows, with their definitions."""
    return {model: tracked.definitions for model, tracked in _tracked.items()}


def connect_models(all_models: Iterable[type[models.Model]]) -> None:
    """Connect the handlers to every model that declares events (idempotent)."""
    for model in all_models:
        if model is Event or model._meta.abstract:
            continue
        definitions = event_definitions(model)
        if not definitions:
            continue
        _tracked[model] = _Tracked(model, definitions)
        uid = f"durable_automation:{model._meta.label_lower}"
        post_save.connect(_on_post_save, sender=model, dispatch_uid=uid, weak=False)
        post_delete.connect(_on_post_delete, sender=model, dispatch_uid=uid, weak=False)


def _aware(value: Any, field: models.Field[Any, Any] | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) and field is not None:
        value = field.to_python(value)  # a string assigned before save()
    if isinstance(value, datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


# ── what one transaction already did ──────────────────────────────────────────────

_STATE_ATTR = "_durable_automation_transaction"
_MEMO_LIMIT = 10_000  # a huge transaction falls back to the SELECT, not to unbounded memory


class _Transaction:
    """What this transaction's saves did: the evaluations each instance's Event rows
    were last brought in line with (``synced``), and the ids its one ``on_commit``
    hands to the dispatcher (``pending``)."""

    __slots__ = ("hooks", "pending", "synced")

    def __init__(self, hooks: list[Any]) -> None:
        self.hooks = hooks
        self.synced: dict[tuple[str, str], tuple[Evaluation, ...]] = {}
        self.pending: list[int] | None = None


def _transaction(connection: BaseDatabaseWrapper) -> _Transaction | None:
    """This transaction's state; ``None`` outside ``atomic()``.

    Skipping the SELECT for a save whose evaluations equal the remembered ones is
    exact only while nobody else can have changed the instance's row since: true
    inside one transaction, where the earlier save's write holds the row lock (the
    whole database on SQLite) until commit. Outside ``atomic()`` (or once the
    transaction ends) there is nothing to remember: another process may have saved
    the row since, so every save reads the Event rows.

    The transaction is identified by ``connection.run_on_commit``: Django replaces
    that list on commit, on rollback and on a savepoint rollback (which may have
    undone a remembered save, and drops the ``on_commit`` registered inside it), so
    any of them starts afresh.
    """
    if not connection.in_atomic_block or not connection.commit_on_exit:
        return None  # autocommit, or a transaction managed by hand: remember nothing
    hooks = connection.run_on_commit
    state: _Transaction | None = getattr(connection, _STATE_ATTR, None)
    if state is None or state.hooks is not hooks:
        state = _Transaction(hooks)
        setattr(connection, _STATE_ATTR, state)
    return state


# ── the handlers ──────────────────────────────────────────────────────────────────


def _on_post_save(sender: type[models.Model], instance: models.Model, created: bool,
                  raw: bool = False, using: str = "default", **_: Any) -> None:
    tracked = _tracked.get(sender)
    if tracked is None:
        definitions = event_definitions(sender)
        if not definitions:
            return
        tracked = _tracked[sender] = _Tracked(sender, definitions)
    connection = connections[using]
    state = _transaction(connection)
    key = (tracked.label, str(instance.pk))
    if raw:  # loading fixtures: not a business change (and nothing to remember)
        if state is not None:
            state.synced.pop(key, None)
        return
    evaluations = tuple([d.evaluate(instance) for d in tracked.definitions])
    if state is not None:
        if not created and state.synced.get(key) == evaluations:
            return  # this transaction already brought the rows in line with these values
        state.synced.pop(key, None)
        forget(connection)  # a rollback may undo this save's writes
    quiet = quiet_memo(connection) if state is None else None
    if quiet is not None and not created and quiet.unchanged(key, evaluations):
        quiet.record(key, evaluations)  # nothing but this save wrote since the last sync
        return
    try:
        _sync(tracked, instance, created, connection, evaluations, state, quiet)
    except BaseException:
        forget(connection)
        raise
    if state is not None and len(state.synced) < _MEMO_LIMIT:
        state.synced[key] = evaluations
    if quiet is not None:
        quiet.record(key, evaluations)


def _on_post_delete(sender: type[models.Model], instance: models.Model,
                    using: str = "default", **_: Any) -> None:
    tracked = _tracked.get(sender)
    label = tracked.label if tracked is not None else \
        sender._meta.concrete_model._meta.label_lower  # type: ignore[union-attr]
    connection = connections[using]
    state = _transaction(connection)
    if state is not None:
        state.synced.pop((label, str(instance.pk)), None)
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
    _deliver_on_commit(ids, using, state)


def track_save(model: type[models.Model], instance: models.Model, created: bool, using: str,
               definitions: Sequence[EventDefinition]) -> list[int]:
    """Bring the Event rows of ``instance`` up to date; return the ids that need delivery."""
    tracked = _Tracked(model, definitions)
    evaluations = tuple(d.evaluate(instance) for d in tracked.definitions)
    connection = connections[using]
    return _sync(tracked, instance, created, connection, evaluations,
                 _transaction(connection))


def _sync(tracked: _Tracked, instance: models.Model, created: bool,
          connection: BaseDatabaseWrapper, evaluations: Sequence[Evaluation],
          state: _Transaction | None, quiet: QuietMemo | None = None, *,
          retrying: bool = False) -> list[int]:
    if created and not any(e.holds or e.error for e in evaluations):
        return []  # the common case of a new row with no event: no query at all
    label = tracked.label
    pk = str(instance.pk)
    latest: dict[str, Row] = {}
    if not created:
        rows = latest_rows(connection, label, pk, tracked.definitions) if quiet is None \
            else quiet.read(connection, label, pk, tracked.definitions)
        for row in rows:
            if row.name not in latest or latest[row.name].pk < row.pk:
                latest[row.name] = row
    now = timezone.now()
    plan = Plan()
    for definition, field, ev in zip(tracked.definitions, tracked.date_fields, evaluations,
                                     strict=True):
        current = latest.get(definition.name)
        if ev.error is not None:
            log.warning("Event %r of %s:%s not evaluated: %s", definition.name, label, pk, ev.error)
        if definition.scheduled:
            plan_scheduled(definition, ev, _aware(ev.at, field), current, plan)
        else:
            plan_immediate(definition, ev, current, now, plan)
    if not plan.writes():
        return []
    using = connection.alias
    if plan.new_rows:
        content_type = _content_types(using).get_for_model(tracked.model, for_concrete_model=True)
        for new in plan.new_rows:
            new.update(entity_type=label, entity_id=pk, content_type=content_type.pk)
    if plan.writes() > 1:
        with transaction.atomic(using=using, savepoint=False):
            changed = plan.apply(connection, now)
    else:
        changed = plan.apply(connection, now)
    if changed:
        _deliver_on_commit(changed, using, state)
    if plan.conflicts and not retrying:
        # A concurrent save inserted these first (and has committed: the INSERT waited
        # for it): plan them again against its rows, so this save's state still wins.
        again = tracked.only(plan.conflicts)
        evaluated = dict(zip([d.name for d in tracked.definitions], evaluations, strict=True))
        changed += _sync(again, instance, False, connection,
                         [evaluated[d.name] for d in again.definitions], state, quiet,
                         retrying=True)
    return changed


_managers: dict[str, Any] = {}


def _content_types(using: str) -> Any:
    """``ContentType.objects`` bound to ``using``, made once: ``db_manager`` copies the
    manager on every call (its cache of content types is shared, so clearing it still
    works)."""
    manager = _managers.get(using)
    if manager is None:
        manager = _managers[using] = ContentType.objects.db_manager(using)
    return manager


def _deliver_on_commit(ids: list[int], using: str, state: _Transaction | None) -> None:
    """Hand ``ids`` to the dispatcher once the transaction commits: one ``on_commit``
    per transaction, however many saves it has (each would wake the dispatcher)."""
    if state is None:
        transaction.on_commit(functools.partial(_submit, list(ids)), using=using)
    elif state.pending is None:
        state.pending = list(ids)
        transaction.on_commit(functools.partial(_submit, state.pending), using=using)
    else:
        state.pending.extend(ids)


def _submit(ids: list[int]) -> None:
    from ._dispatcher import dispatcher

    dispatcher.submit(ids)
