"""Skipping the save path's SELECT while nothing but this connection's saves wrote.

A save of an existing instance reads its Event rows because something other than this
save may have changed them since: another process or thread, or code of this one
writing to the database without ``post_save``. On SQLite two counters tell, without
reading any table, whether anything did:

- ``PRAGMA data_version`` changes when another connection, of any process, commits;
- ``sqlite3.Connection.total_changes`` counts the rows this connection wrote.

After a save has brought an instance's Event rows in line with its evaluations, this
connection remembers them with both counters: the version as read by the SELECT itself
(:func:`~._event_sql.versioned_rows`, one statement, so exactly the rows' version) and
``total_changes`` after its writes. If at a later save neither has moved except by the
one row that save's own UPDATE wrote, the Event rows are exactly as that earlier save
left them, and a save with the same evaluations needs neither the SELECT nor a write.
``total_changes`` costs nothing to read; ``PRAGMA data_version`` (about 10 us after a
write, against 30 us for the SELECT) is read only by a save that could be skipped, so
a save that has to read the rows anyway pays nothing extra.
Anything else (another connection's commit, a ``QuerySet.update()``, Event rows changed
by hand, a save that wrote more than one row) forgets everything remembered, and the
save reads the rows as before.

Autocommit only: inside ``atomic()`` a rollback can still undo what a save wrote
(``total_changes`` does not go back down), so a save there forgets what this connection
remembered; the transaction's own memo (``_tracking._Transaction``) covers repeated
saves within it. PostgreSQL has no such counters that cost less than the SELECT's round
trip, so it always reads the rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ._definitions import EventDefinition
from ._event_sql import Row, direct, latest_rows, versioned_rows

__all__ = ["QuietMemo", "forget", "quiet_memo"]

_ATTR = "_durable_automation_quiet"
_LIMIT = 10_000  # rows remembered per connection; beyond it, start again
_REST = 64  # the longest rest, in saves, after the version was found moved


class QuietMemo:
    """What one SQLite connection's autocommit saves brought Event rows in line with.

    ``version`` is a ``data_version`` read no later than the moment every entry in
    ``synced`` was last known to match its rows: an entry is trusted only while the
    database's version still equals it (and nothing else wrote on this connection).

    Reading the version costs about 10 us after a write. Where other connections
    commit between most saves (several processes writing), it would be read for
    nothing, so after each time it is found moved the memo rests for twice as many
    saves as the last time (up to ``_REST``), reading no version and trusting nothing:
    those saves cost what they cost without it.
    """

    __slots__ = ("changes", "cursor", "fresh", "raw", "rest", "resting", "synced",
                 "version")

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # the driver's connection: a new one (reconnect) starts afresh
        self.cursor = raw.cursor()
        self.version: int | None = None
        self.changes = -1
        self.fresh = False  # this connection wrote nothing but this save's row since
        self.synced: dict[Hashable, Any] = {}
        self.rest = 1  # saves to rest for, the next time the version is found moved
        self.resting = 0  # saves still to rest for

    def unchanged(self, key: Hashable, evaluations: Any) -> bool:
        """Whether ``key``'s Event rows are still those brought in line with
        ``evaluations``: remembered so, and no other connection committed since."""
        if self.resting or self.version is None or self.synced.get(key) != evaluations:
            return False
        if self.cursor.execute("PRAGMA data_version").fetchone()[0] == self.version:
            self.rest = 1
            return True
        self.synced.clear()  # another connection committed: nothing here is sure
        self.version = None
        self.resting, self.rest = self.rest, min(self.rest * 2, _REST)
        return False

    def read(self, connection: BaseDatabaseWrapper, label: str, pk: str,
             definitions: Sequence[EventDefinition]) -> list[Row]:
        """The instance's Event rows; with the version they were read at, unless resting
        or this connection wrote something else since (the rows are read as before)."""
        if self.resting or not self.fresh:
            self.resting = max(self.resting - 1, 0)
            return latest_rows(connection, label, pk, definitions)
        rows, version = versioned_rows(connection, label, pk, definitions)
        if version != self.version:  # another connection committed since it was read
            self.synced.clear()
            self.version = version
        return rows

    def record(self, key: Hashable, evaluations: Any) -> None:
        """The save of ``key`` is done: its Event rows match ``evaluations``, and every
        row this connection wrote so far is accounted for. (Read at ``version`` or
        later: an entry is never trusted past a commit it could have missed.)"""
        if len(self.synced) >= _LIMIT:
            self.synced.clear()
        self.synced[key] = evaluations
        self.changes = self.raw.total_changes


def quiet_memo(connection: BaseDatabaseWrapper) -> QuietMemo | None:
    """The memo of ``connection`` for the save whose ``post_save`` is running, emptied
    if this connection wrote anything but that save's own row since the memo was last
    recorded; ``None`` where it does not apply (not SQLite, in a transaction, or queries
    are being watched)."""
    if not connection.autocommit or connection.in_atomic_block or not direct(connection):
        return None
    raw = connection.connection
    memo: QuietMemo | None = getattr(connection, _ATTR, None)
    if memo is None or memo.raw is not raw:
        memo = QuietMemo(raw)
        setattr(connection, _ATTR, memo)
    memo.fresh = raw.total_changes == memo.changes + 1
    if not memo.fresh:
        memo.synced.clear()
    return memo


def forget(connection: BaseDatabaseWrapper) -> None:
    """Forget what ``connection`` remembered (a save inside a transaction, or one that
    failed: what it wrote may be undone)."""
    memo: QuietMemo | None = getattr(connection, _ATTR, None)
    if memo is not None:
        memo.synced.clear()
        memo.changes = -1
