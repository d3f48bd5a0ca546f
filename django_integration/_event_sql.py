"""The SQL of the save path: reading an instance's Event rows, inserting new ones.

Both run on every save that has events to maintain, so they bypass the ORM's query
building: the SELECT and the INSERT statements are built once (per row count and
database) and only their parameters are bound per save. On SQLite, where a query
costs less than the Python around it, both go to the driver's cursor directly
unless someone is watching the queries (``DEBUG``, ``CaptureQueriesContext``,
an ``execute_wrapper`` such as a tracing tool's): then it takes Django's cursor, so
it is logged and wrapped like any other query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

from ._definitions import EventDefinition
from .models import Event

__all__ = ["Row", "direct", "insert_rows", "latest_rows", "versioned_rows"]

_TABLE = Event._meta.db_table


class Row(NamedTuple):
    """What the planners need of an existing Event row (no model instance: cheaper)."""

    pk: int
    name: str
    status: str
    at: datetime | None  # of a scheduled event; None for an immediate one
    delivery_attempts: int


_select_sql: dict[tuple[int, bool], str] = {}


def _select(count: int, qmark: bool = False) -> str:
    """The SELECT for ``count`` event names, with ``%s`` (Django) or ``?`` (sqlite3)."""
    sql = _select_sql.get((count, qmark))
    if sql is None:
        # ``at`` of scheduled rows only: the planners compare no other (an immediate
        # event occurs once), and converting a datetime is most of a row's cost.
        sql = (f"SELECT id, name, status, CASE WHEN scheduled THEN at END, "
               f"delivery_attempts FROM {_TABLE} "
               f"WHERE entity_type = %s AND entity_id = %s AND name IN "
               f"({', '.join(['%s'] * count)})")
        sql = _select_sql[(count, qmark)] = sql.replace("%s", "?") if qmark else sql
    return sql


def direct(connection: BaseDatabaseWrapper) -> bool:
    """Whether to skip Django's cursor: SQLite, connected, and nobody watching queries."""
    return connection.vendor == "sqlite" and connection.connection is not None and not (
        connection.force_debug_cursor or settings.DEBUG or connection.execute_wrappers)


def _fetch_direct(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> list[Any]:
    try:
        rows: list[Any] = connection.connection.execute(sql, params).fetchall()
    except Exception:
        # Raised again inside Django's wrapper, which turns a driver error into Django's
        # own; entering it only on an error saves its cost on every save.
        with connection.wrap_database_errors:
            raise
    return rows


def latest_rows(connection: BaseDatabaseWrapper, label: str, pk: str,
                definitions: Sequence[EventDefinition]) -> list[Row]:
    """Event rows of one instance, by SQL: this runs on every save of an existing
    instance, and building the ORM query would cost more than the plain UPDATE it
    follows. The (entity_type, entity_id, name) index answers it."""
    params = [label, pk, *[d.name for d in definitions]]
    if direct(connection):
        rows = _fetch_direct(connection, _select(len(definitions), qmark=True), params)
    else:  # logged and wrapped like any query (DEBUG, CaptureQueriesContext, tracing)
        with connection.cursor() as cursor:
            cursor.execute(_select(len(definitions)), params)
            rows = cursor.fetchall()
    return _rows(connection, rows)


_versioned_sql: dict[int, str] = {}


def versioned_rows(connection: BaseDatabaseWrapper, label: str, pk: str,
                   definitions: Sequence[EventDefinition]) -> tuple[list[Row], int]:
    """SQLite's direct path only: :func:`latest_rows`, and ``PRAGMA data_version`` read by
    the same statement (one read transaction), so the version is exactly that of the
    rows returned (``_quiet`` remembers it). The pragma's one row is joined to the
    instance's rows (none: one row of NULLs), and the index still answers the lookup."""
    count = len(definitions)
    sql = _versioned_sql.get(count)
    if sql is None:
        sql = _versioned_sql[count] = (
            f"SELECT v.data_version, e.id, e.name, e.status, "
            f"CASE WHEN e.scheduled THEN e.at END, e.delivery_attempts "
            f"FROM pragma_data_version AS v LEFT JOIN {_TABLE} AS e "
            f"ON e.entity_type = ? AND e.entity_id = ? AND e.name IN "
            f"({', '.join(['?'] * count)})")
    fetched = _fetch_direct(connection, sql, [label, pk, *[d.name for d in definitions]])
    return _rows(connection, [row[1:] for row in fetched if row[1] is not None]), fetched[0][0]


def _rows(connection: BaseDatabaseWrapper, rows: list[Any]) -> list[Row]:
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
# Columns whose value the save path already gives in the driver's type (str, bool, int
# or None): binding them needs no conversion.
_AS_IS = frozenset({"CharField", "TextField", "BooleanField", "PositiveIntegerField",
                    "IntegerField", "BigIntegerField", "ForeignKey"})

# Per row column bound as a parameter: (key, constant or _VARIES, conversion or None).
_Bound = tuple[str, Any, Callable[[Any], Any] | None]
_templates: dict[str, tuple[list[_Bound], dict[tuple[int, bool], str]]] = {}
_row_sql: dict[str, str] = {}


def _insert_template(
        connection: BaseDatabaseWrapper) -> tuple[list[_Bound], dict[tuple[int, bool], str]]:
    """Per database alias: the columns a save sets (each bound as a parameter), and the
    INSERT statements by row count, with every other column's default written into the
    SQL. Preparing and binding ~15 constant defaults on every save cost more than the
    INSERT itself."""
    template = _templates.get(connection.alias)
    if template is None:
        bound: list[_Bound] = []
        values: list[str] = []
        for field in _FIELDS:
            key = "content_type" if field.name == "content_type" else field.name
            literal = None
            default: Any = _VARIES
            if key not in _SET_BY_SAVE:
                default = field.get_db_prep_save(field.get_default(), connection)
                literal = _literal(default)
            if literal is None:  # set by the save, or a default with no plain literal
                convert = None if field.get_internal_type() in _AS_IS else \
                    _converter(field, connection)
                bound.append((key, default, convert))
                values.append("%s")
            else:
                values.append(literal)
        template = _templates[connection.alias] = (bound, {})
        _row_sql[connection.alias] = "(" + ", ".join(values) + ")"
    return template


def _converter(field: Any, connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    if field.get_internal_type() == "DateTimeField":
        adapt = connection.ops.adapt_datetimefield_value

        def convert_datetime(value: Any) -> Any:
            # An aware datetime needs only the backend's adaptation; anything else takes
            # the field's whole path (naive-datetime warning, parsing a string).
            if isinstance(value, datetime) and value.tzinfo is not None:
                return adapt(value)
            return field.get_db_prep_save(value, connection)
        return convert_datetime

    def convert(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)
    return convert


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


def _insert_sql(connection: BaseDatabaseWrapper, count: int) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    rows = ", ".join([_row_sql[connection.alias]] * count)
    return (f"INSERT INTO {quote(_TABLE)} ({columns}) VALUES {rows} "
            f"ON CONFLICT DO NOTHING RETURNING {quote('name')}, {quote('id')}")


_empty_json: dict[str, Any] = {}  # per database alias: ``{}`` as the driver takes it


def _convert(key: str, value: Any, convert: Callable[[Any], Any], converted: dict[Any, Any],
             connection: BaseDatabaseWrapper) -> Any:
    if key == "data":
        if value:
            return convert(value)
        empty = _empty_json.get(connection.alias)
        if empty is None:  # most events carry no data: convert ``{}`` once per database
            empty = _empty_json[connection.alias] = convert({})
        return empty
    if isinstance(value, datetime):
        result = converted.get(value)
        if result is None:
            result = converted[value] = convert(value)
        return result
    return convert(value)


def insert_rows(connection: BaseDatabaseWrapper, rows: list[dict[str, Any]],
                now: datetime) -> dict[str, int]:
    """INSERT new Event rows in one statement; return ``{name: id}`` of the rows inserted.

    A row that would be a second live row of its event for the instance (a concurrent
    save inserted one first; see the model's unique constraints) is not inserted.
    By SQL rather than ``bulk_create``: on PostgreSQL, Django 5.2 inserts through
    UNNEST of per-column arrays, which costs more than the save() it follows.
    """
    using = connection.alias
    if not connection.features.can_return_rows_from_bulk_insert:
        created = Event.objects.using(using).bulk_create([
            Event(content_type_id=row.pop("content_type"), **row) for row in rows],
            ignore_conflicts=True)
        names = [e.name for e in created]
        return dict(Event.objects.using(using).filter(
            entity_type=rows[0]["entity_type"], entity_id=rows[0]["entity_id"], name__in=names,
            created_at__gte=now).values_list("name", "id"))
    unwatched = direct(connection)
    bound, sql_of = _insert_template(connection)
    sql = sql_of.get((len(rows), unwatched))
    if sql is None:
        sql = _insert_sql(connection, len(rows))
        sql = sql_of[(len(rows), unwatched)] = sql.replace("%s", "?") if unwatched else sql
    params: list[Any] = []
    stamp = _converter(_DATETIME, connection)(now)  # created_at and updated_at
    # Django's field conversions cost more than the INSERT they feed, so each distinct
    # value is converted once: an immediate event's ``at`` is ``now``, the stamp.
    converted: dict[Any, Any] = {now: stamp}
    for row in rows:
        for key, constant, convert in bound:
            if constant is not _VARIES:
                params.append(constant)
            elif key in _STAMPS:
                params.append(stamp)
            elif convert is None:
                params.append(row[key])
            else:
                params.append(_convert(key, row[key], convert, converted, connection))
    if unwatched:
        return {name: pk for name, pk in _fetch_direct(connection, sql, params)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {name: pk for name, pk in cursor.fetchall()}
