"""The SQL of the save path: reading an instance's Event rows, inserting new ones.

Both run on every save that has events to maintain, so they bypass the ORM's query
building: the SELECT and the INSERT statements are built once (per row count and
database alias) and only their parameters are bound per save.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connections

from ._definitions import EventDefinition
from .models import Event

__all__ = ["Row", "insert_rows", "latest_rows"]

_TABLE = Event._meta.db_table


class Row(NamedTuple):
    """What the planners need of an existing Event row (no model instance: cheaper)."""

    pk: int
    name: str
    status: str
    at: datetime | None
    delivery_attempts: int


_select_sql: dict[int, str] = {}


def latest_rows(using: str, label: str, pk: str,
                definitions: Sequence[EventDefinition]) -> list[Row]:
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
        return [Row(*row) for row in rows]
    return [Row(pk_, name, status, None if at is None else convert(at, None, connection), n)
            for pk_, name, status, at, n in rows]


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


def insert_rows(using: str, rows: list[dict[str, Any]], now: datetime) -> dict[str, int]:
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
