"""Cron expressions: validation that names the bad field, next fire times, and the DST policy.

Two forms are accepted: the classic 5 fields (``minute hour day-of-month month
day-of-week``) and 6 fields with *leading seconds* (``second minute hour ...``, so
``0 0 * * * *`` is the top of every hour), as in Quartz and seed 003. Temporal's own
6-field cron form means a *trailing year* instead, so we never hand cron strings to
Temporal: schedules get calendar specs translated here, and timers compute their
next fire time with this module (croniter does the field arithmetic).

Daylight saving time (timers with a ``timezone``), one rule for every zone:

* A local time that does not exist (spring forward, e.g. 02:30 on 2026-03-08 in
  New York) fires at the first instant after the gap (03:00 local), the way cron
  daemons run jobs of a skipped hour as soon as the clock has jumped.
* A local time that occurs twice (fall back, e.g. 01:30 on 2026-11-01 in New York)
  fires once, at its first occurrence (01:30 EDT, not again at 01:30 EST).
* Several local times that land on the same instant (02:15 and 03:00 on a
  spring-forward day) fire once there: a timer never fires twice at one instant.

So each local time of the expression fires once per day, never zero or two times.
Temporal's own time-zone calendars do not do this (they skip nonexistent times and
fire repeated ones twice), which is why local-time crons are computed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..exceptions import InvalidScheduleError

__all__ = ["CronExpr", "next_fire_times", "parse_cron", "resolve_zone", "to_instant"]

_FIELDS_5 = ("minute", "hour", "day of month", "month", "day of week")
_FIELDS_6 = ("second", *_FIELDS_5)
_UTC = UTC


@dataclass(frozen=True)
class CronExpr:
    """A validated cron expression.

    Attributes:
        expression: The expression exactly as the user wrote it.
        seconds: Whether it has a leading seconds field (6 fields).
    """

    expression: str
    seconds: bool

    def iterator(self, start: datetime) -> croniter:
        """A croniter over naive datetimes, strictly after the naive ``start``."""
        return croniter(self.expression, start, ret_type=datetime,
                        second_at_beginning=self.seconds)

    def expanded(self) -> dict[str, list[int | str]]:
        """Each field's allowed values (``['*']`` = any), keyed by field name."""
        raw = croniter(self.expression, second_at_beginning=self.seconds).expanded
        values: dict[str, list[int | str]] = dict(zip(_FIELDS_5, raw[:5], strict=True))
        values["second"] = raw[5] if self.seconds and len(raw) > 5 else [0]
        return values


def parse_cron(expression: str) -> CronExpr:
    """Validate ``expression`` (5 fields, or 6 with leading seconds).

    Raises:
        InvalidScheduleError: The message names the bad field and its value.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidScheduleError(
            f"A cron expression must be a non-empty string, got {expression!r}")
    text = " ".join(expression.split())
    if text.startswith("@"):
        _check(text, False, f"Invalid cron expression {expression!r}: unknown shortcut {text!r}")
        return CronExpr(expression, False)
    parts = text.split(" ")
    if len(parts) not in (5, 6):
        raise InvalidScheduleError(
            f"Invalid cron expression {expression!r}: expected 5 fields (minute hour "
            "day-of-month month day-of-week) or 6 with leading seconds, got "
            f"{len(parts)}. Note: a 6th field is seconds at the start, not a year at the end"
        )
    seconds = len(parts) == 6
    names = _FIELDS_6 if seconds else _FIELDS_5
    for index, (name, value) in enumerate(zip(names, parts, strict=True)):
        probe = ["*"] * len(parts)
        probe[index] = value
        _check(" ".join(probe), seconds,
               f"Invalid cron expression {expression!r}: the {name} field "
               f"(field {index + 1} of {len(parts)}) is {value!r}")
    _check(text, seconds, f"Invalid cron expression {expression!r}")
    return CronExpr(expression, seconds)


def _check(text: str, seconds: bool, message: str) -> None:
    try:
        it = croniter(text, datetime(2026, 1, 1), ret_type=datetime,
                      second_at_beginning=seconds, max_years_between_matches=30)
        it.get_next()
    except Exception as exc:  # noqa: BLE001 - croniter raises several unrelated types
        raise InvalidScheduleError(f"{message}: {exc}") from None


def resolve_zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone ``name`` (``None`` = UTC).

    Raises:
        InvalidScheduleError: Not a known IANA zone name.
    """
    if name is None or name in ("UTC", "Etc/UTC"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidScheduleError(
            f"Unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' "
            "(is the tzdata package installed?)"
        ) from None


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def to_instant(local: datetime, zone: ZoneInfo | None) -> datetime:
    """The UTC instant a naive local time fires at, under the DST policy above."""
    if zone is None:
        return local.replace(tzinfo=_UTC)
    candidates = []
    for fold in (0, 1):
        offset = local.replace(tzinfo=zone, fold=fold).utcoffset()
        assert offset is not None
        instant = (local - offset).replace(tzinfo=_UTC)
        if _local(instant, zone) == local:
            candidates.append(instant)
    if candidates:
        return min(candidates)  # repeated local time: its first occurrence
    # Nonexistent: the gap lies between the two offsets' readings; find where it ends.
    readings = []
    for fold in (0, 1):
        offset = local.replace(tzinfo=zone, fold=fold).utcoffset()
        assert offset is not None
        readings.append((local - offset).replace(tzinfo=_UTC))
    readings.sort()
    low, high = readings
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _local(middle, zone) < local:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _instants(cron: CronExpr, zone: ZoneInfo | None, after: datetime) -> Iterator[datetime]:
    # Start a few hours early: a DST shift can move a local time later than its
    # naive reading, and instants are filtered against ``after`` below.
    start = after.astimezone(zone or _UTC).replace(tzinfo=None) - timedelta(hours=3)
    iterator = cron.iterator(start)
    while True:
        yield to_instant(iterator.get_next(), zone)


def next_fire_times(
    cron: CronExpr | str, timezone_name: str | None, after: datetime, count: int = 1
) -> list[datetime]:
    """The next ``count`` UTC instants strictly after ``after`` (aware), DST policy applied."""
    parsed = cron if isinstance(cron, CronExpr) else parse_cron(cron)
    zone = resolve_zone(timezone_name)
    if after.tzinfo is None:
        after = after.replace(tzinfo=_UTC)
    times: list[datetime] = []
    for instant in _instants(parsed, zone, after):
        if instant <= after or (times and instant <= times[-1]):
            continue  # before the window, or coalesced with the previous firing
        times.append(instant)
        if len(times) >= count:
            return times
    return times  # pragma: no cover - the iterator is infinite
