"""Match expressions: how an event's entity is compared with an agent's Context.

A match is a dict like ``{"guest__id": "{{ ctx.guest_id }}", "status__in":
"{{ ctx.valid_statuses }}"}``. Each key is a Django-style lookup on the event's
entity (``__`` traverses attributes, a trailing ``__in``/``__gt``/... names the
comparison); each value is either a ``{{ ctx.field }}`` template or a literal.

Everything here is pure and deterministic: the router uses it in the client (where
the entity is), the agent workflow uses it to check predicates against its current
Context (where the Context is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = [
    "LOOKUPS",
    "MatchItem",
    "MissingValue",
    "compare",
    "ctx_value",
    "entity_value",
    "key_string",
    "norm",
    "parse_match",
]

# Comparisons a match key may end with. ``exact`` and ``in`` can route an event to
# an agent by key or index; the others are checked by the agent against its Context.
LOOKUPS = frozenset(
    {"exact", "iexact", "in", "contains", "icontains", "gt", "gte", "lt", "lte", "isnull"}
)
_TEMPLATE = re.compile(r"^\s*\{\{\s*ctx\.([A-Za-z_][\w.]*)\s*\}\}\s*$")


class MissingValue(Exception):
    """A lookup path does not exist on the entity (or the Context)."""


@dataclass(frozen=True)
class MatchItem:
    """One ``lookup: value`` pair of a match.

    Attributes:
        expr: The key as written (``guest__id``, ``status__in``).
        path: Attribute path on the entity (``("guest", "id")``).
        lookup: The comparison (``exact`` when none is written).
        ctx_field: Context field named by a ``{{ ctx.field }}`` template (dotted for
            nested values), or ``None`` for a literal.
        literal: The literal value when there is no template.
    """

    expr: str
    path: tuple[str, ...]
    lookup: str
    ctx_field: str | None
    literal: Any = None

    @property
    def routable(self) -> bool:
        """Whether this item can find agents by key or index (exact/in on a template)."""
        return self.ctx_field is not None and self.lookup in ("exact", "in")


def parse_match(match: Mapping[str, Any] | None) -> tuple[tuple[MatchItem, ...], list[str]]:
    """Parse a match dict; return its items and every problem found."""
    items: list[MatchItem] = []
    problems: list[str] = []
    if match is None:
        return (), problems
    if not isinstance(match, Mapping):
        return (), [f"match must be a dict, got {match!r}"]
    for expr, value in match.items():
        if not isinstance(expr, str) or not expr or expr.startswith("_") or "___" in expr:
            problems.append(f"match key {expr!r} is not a lookup like 'guest__id' or 'status__in'")
            continue
        parts = expr.split("__")
        lookup = "exact"
        if len(parts) > 1 and parts[-1] in LOOKUPS:
            lookup = parts.pop()
        ctx_field = None
        literal = value
        if isinstance(value, str) and "{{" in value:
            found = _TEMPLATE.match(value)
            if found is None:
                problems.append(
                    f"match value {value!r} for {expr!r} must be exactly one template like "
                    "'{{ ctx.field }}' (or a literal value)"
                )
                continue
            ctx_field, literal = found.group(1), None
        items.append(MatchItem(expr, tuple(parts), lookup, ctx_field, literal))
    return tuple(items), problems


def norm(value: Any) -> Any:
    """A JSON-friendly, comparable form of a value from an entity or a Context.

    Model instances become their primary key, UUIDs/Decimals/dates their string
    form, integral floats ints; so ``entity.guest`` matches ``ctx.guest_id``.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [norm(v) for v in value]
    pk = getattr(value, "pk", None)
    if pk is not None:
        return norm(pk)
    return str(value)


def key_string(value: Any) -> str:
    """The string a value contributes to an agent id, index bucket or claim key."""
    value = norm(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def entity_value(entity: Any, path: Iterable[str]) -> Any:
    """Follow ``path`` on ``entity`` (attributes, or keys of dicts), Django-style.

    Raises:
        MissingValue: A step of the path does not exist.
    """
    current = entity
    for name in path:
        if current is None:
            return None  # like Django: a null relation makes the whole path null
        if isinstance(current, Mapping):
            if name not in current:
                raise MissingValue(name)
            current = current[name]
            continue
        try:
            current = getattr(current, name)
        except AttributeError:
            raise MissingValue(name) from None
        except Exception as exc:
            if type(exc).__name__.endswith("DoesNotExist"):
                return None
            raise
    return current


def ctx_value(context: Mapping[str, Any], field: str) -> Any:
    """Read a (possibly dotted) field from a Context dumped to JSON.

    Raises:
        MissingValue: The field does not exist.
    """
    current: Any = context
    for name in field.split("."):
        if not isinstance(current, Mapping) or name not in current:
            raise MissingValue(field)
        current = current[name]
    return current


def compare(lookup: str, left: Any, right: Any) -> bool:
    """Django-style ``left <lookup> right`` (left from the entity, right from the match)."""
    left, right = norm(left), norm(right)
    try:
        match lookup:
            case "exact":
                return key_string(left) == key_string(right)
            case "iexact":
                return key_string(left).lower() == key_string(right).lower()
            case "in":
                values = right if isinstance(right, list) else [right]
                return key_string(left) in {key_string(v) for v in values}
            case "contains":
                return left is not None and (
                    right in left if isinstance(left, list) else str(right) in str(left)
                )
            case "icontains":
                return left is not None and str(right).lower() in str(left).lower()
            case "isnull":
                return (left is None) == bool(right)
            case "gt":
                return left is not None and left > right
            case "gte":
                return left is not None and left >= right
            case "lt":
                return left is not None and left < right
            case "lte":
                return left is not None and left <= right
    except TypeError:
        return False  # uncomparable values do not match, as in SQL
    return False
