"""``post_save`` / ``post_delete`` handlers that keep ``Event`` rows current.

They run inside the transaction of the change (or right after it, in autocommit
mode), write or update Event rows there, and ask for delivery once the transaction
commits (``transaction.on_commit``): a rollback discards both the rows and the
request. Cost is kept low: no query at all for a new instance whose events do not
hold, one indexed SELECT for an existing one, and one INSERT for all new events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from ._definitions import Evaluation, EventDefinition
from .models import Event, EventStatus

__all__ = ["connect_models", "event_definitions", "tracked_models"]

log = logging.getLogger("django_integration")

_tracked: dict[type[models.Model], tuple[EventDefinition, ...]] = {}
_TABLE = Event._meta.db_table


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
    latest: dict[str, _Row] = {}
    if not created:
        for row in _latest_rows(using, label, pk, definitions):
            if row.name not in latest or latest[row.name].pk < row.pk:
                latest[row.name] = row
    meta = model._meta
    now = timezone.now()
    plan = _Plan()
    for definition, ev in zip(definitions, evaluations, strict=True):
        current = latest.get(definition.name)
        if ev.error is not None:
            log.warning("Event %r of %s:%s not evaluated: %s", definition.name, label, pk, ev.error)
        if definition.scheduled:
            field = meta.get_field(definition.date_field)  # type: ignore[arg-type]
            _plan_scheduled(definition, ev, _aware(ev.at, field), current, plan)
        else:
            _plan_immediate(definition, ev, current, now, plan)
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


class _Plan:
    """The writes one save needs: new rows (one INSERT) and updates of existing rows."""

    def __init__(self) -> None:
        self.new_rows: list[dict[str, Any]] = []
        self.updates: list[tuple[int, bool, dict[str, Any]]] = []
        # Names whose new row was not inserted: a concurrent save inserted it first.
        self.conflicts: list[str] = []

    def update(self, row: _Row, *, deliver: bool, **values: Any) -> None:
        self.updates.append((row.pk, deliver, values))

    def writes(self) -> int:
        return len(self.updates) + (1 if self.new_rows else 0)

    def apply(self, using: str, now: datetime) -> list[int]:
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
            inserted = _insert(using, self.new_rows, now)
            changed.extend(pk for name, pk in inserted.items()
                           if _by_name(self.new_rows, name)["needs_delivery"])
            self.conflicts = [r["name"] for r in self.new_rows if r["name"] not in inserted]
        return changed


class _Row(NamedTuple):
    """What the planners need of an existing Event row (no model instance: cheaper)."""

    pk: int
    name: str
    status: str
    at: datetime | None
    delivery_attempts: int


_select_sql: dict[int, str] = {}


def _latest_rows(using: str, label: str, pk: str,
                 definitions: Sequence[EventDefinition]) -> list[_Row]:
    """Event rows of one instance, by SQL: this runs on every save of an existing
    instance, and building the ORM query would cost more than the plain UPDATE it
    follows. The (entity_type, entity_id, name) index answers it."""
    connection = connections[using]
    names = [d.name for d in definitions]
    sql = _select_sql.get(len(names))
    if sql is None:
        sql = _select_sql[len(names)] = (
            f"SELECT id, name, status, at, delivery_attempts FROM {_TABLE} "
            f"WHERE entity_type = %s AND entity_id = %s AND name IN "
            f"({', '.join(['%s'] * len(names))})")
    with connection.cursor() as cursor:
        cursor.execute(sql, [label, pk, *names])
        rows = cursor.fetchall()
    # Backends that store naive UTC (SQLite, MySQL) convert like the ORM would.
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    if convert is None or not rows:
        return [_Row(*row) for row in rows]
    return [_Row(pk_, name, status, None if at is None else convert(at, None, connection), n)
            for pk_, name, status, at, n in rows]


def _new(definition: EventDefinition, status: Any, at: datetime | None, ev: Evaluation,
         *, error: str = "") -> dict[str, Any]:
    return {
        "name": definition.name, "scheduled": definition.scheduled, "status": status,
        "at": at, "data": ev.data or {}, "error": error,
        "needs_delivery": status in (EventStatus.PENDING, EventStatus.SCHEDULED),
    }


_FIELDS = [f for f in Event._meta.concrete_fields if not f.primary_key]


_VARIES = object()
_STAMPS = frozenset({"created_at", "updated_at"})
_DATETIME = Event._meta.get_field("created_at")
# Columns a save sets; every other column of a new row takes its default.
_SET_BY_SAVE = frozenset({"name", "scheduled", "status", "at", "data", "error", "needs_delivery",
                          "entity_type", "entity_id", "content_type", "created_at",
                          "updated_at"})
_templates: dict[str, tuple[list[tuple[Any, str, Any]], dict[int, str]]] = {}


def _insert_template(using: str) -> tuple[list[tuple[Any, str, Any]], dict[int, str]]:
    """Per database alias: the columns a save sets (each bound as a parameter), and the
    INSERT statements by row count, with every other column's default written into the
    SQL. Preparing and binding ~15 constant defaults on every save cost more than the
    INSERT itself."""
    template = _templates.get(using)
    if template is None:
        connection = connections[using]
        varying: list[tuple[Any, str, Any]] = []
        values: list[str] = []
        for field in _FIELDS:
            key = "content_type" if field.name == "content_type" else field.name
            literal = None
            if key not in _SET_BY_SAVE:
                default = field.get_db_prep_save(field.get_default(), connection)
                literal = _literal(default)
            if literal is None:  # set by the save, or a default with no plain literal
                varying.append((field, key, _VARIES if key in _SET_BY_SAVE else default))
                values.append("%s")
            else:
                values.append(literal)
        template = _templates[using] = (varying, {})
        _row_sql[using] = "(" + ", ".join(values) + ")"
    return template


_row_sql: dict[str, str] = {}


def _literal(value: Any) -> str | None:
    """A constant default as SQL; ``None`` for anything not plainly safe (a parameter)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str) and value == "":
        return "''"
    return None


def _insert_sql(using: str, count: int) -> str:
    quote = connections[using].ops.quote_name
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    rows = ", ".join([_row_sql[using]] * count)
    return (f"INSERT INTO {quote(_TABLE)} ({columns}) VALUES {rows} "
            f"ON CONFLICT DO NOTHING RETURNING {quote('name')}, {quote('id')}")


def _by_name(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(r for r in rows if r["name"] == name)


def _insert(using: str, rows: list[dict[str, Any]], now: datetime) -> dict[str, int]:
    """INSERT new Event rows in one statement; return ``{name: id}`` of the rows inserted.

    A row that would be a second live row of its event for the instance (a concurrent
    save inserted one first; see the model's unique constraints) is not inserted.
    By SQL rather than ``bulk_create``: on PostgreSQL, Django 5.2 inserts through
    UNNEST of per-column arrays, which costs more than the save() it follows.
    """
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:
        created = Event.objects.using(using).bulk_create([
            Event(content_type_id=row.pop("content_type"), **row) for row in rows],
            ignore_conflicts=True)
        names = [e.name for e in created]
        return dict(Event.objects.using(using).filter(
            entity_type=rows[0]["entity_type"], entity_id=rows[0]["entity_id"], name__in=names,
            created_at__gte=now).values_list("name", "id"))
    varying, sql_of = _insert_template(using)
    sql = sql_of.get(len(rows))
    if sql is None:
        sql = sql_of[len(rows)] = _insert_sql(using, len(rows))
    params: list[Any] = []
    stamp = _DATETIME.get_db_prep_save(now, connection)  # created_at and updated_at
    for row in rows:
        for field, key, constant in varying:
            if constant is not _VARIES:
                params.append(constant)
            elif key in _STAMPS:
                params.append(stamp)
            else:
                params.append(field.get_db_prep_save(row[key], connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {name: pk for name, pk in cursor.fetchall()}


def _condition_failure(row: _Row | None) -> bool:
    # A failed row nothing was ever forwarded for: the condition raised at save time.
    return row is not None and row.status == EventStatus.FAILED and row.delivery_attempts == 0


def _plan_immediate(definition: EventDefinition, ev: Evaluation, row: _Row | None,
                    now: datetime, plan: _Plan) -> None:
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


def _plan_scheduled(definition: EventDefinition, ev: Evaluation, at: datetime | None,
                    row: _Row | None, plan: _Plan) -> None:
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


def _deliver_on_commit(ids: list[int], using: str) -> None:
    from ._dispatcher import dispatcher

    ids = list(ids)
    transaction.on_commit(lambda: dispatcher.submit(ids), using=using)
