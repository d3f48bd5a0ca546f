"""Skipping the save path's SELECT while nothing but this connection's saves wrote.

A save of an existing instance reads its Event rows because something other than this
save may have changed them since: another process or thread, or code of this one
writing to the database without ``post_save``. On SQLite two counters tell, without
reading any table, whether anything did:

- ``PRAGMA data_version`` changes when another connection, of any process, commits;
- ``sqlite3.Connection.total_changes`` counts the rows this connection wrote.

After a save has brought an instance's Event rows in line with its evaluations, this
connection records both. If at a later save neither has moved except by the one row
that save's own UPDATE wrote, the Event rows are exactly as that earlier save left
them, and a save with the same evaluations needs neither the SELECT nor a write.
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

from collections.abc import Hashable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from ._event_sql import direct

__all__ = ["QuietMemo", "forget", "quiet_memo"]

_ATTR = "_durable_automation_quiet"
_LIMIT = 10_000  # rows remembered per connection; beyond it, start again


class QuietMemo:
    """What one SQLite connection's autocommit saves brought Event rows in line with."""

    __slots__ = ("changes", "cursor", "raw", "synced", "version")

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # the driver's connection: a new one (reconnect) starts afresh
        self.cursor = raw.cursor()
        self.version: int | None = None
        self.changes = -1
        self.synced: dict[Hashable, Any] = {}

    def unchanged(self, key: Hashable, evaluations: Any) -> bool:
        """Whether ``key``'s Event rows were brought in line with ``evaluations``."""
        return self.synced.get(key, None) == evaluations

    def record(self, key: Hashable, evaluations: Any) -> None:
        """The save of ``key`` is done: its Event rows match ``evaluations``, and every
        row this connection wrote so far is accounted for."""
        if len(self.synced) >= _LIMIT:
            self.synced.clear()
        self.synced[key] = evaluations
        self.changes = self.raw.total_changes


def quiet_memo(connection: BaseDatabaseWrapper) -> QuietMemo | None:
    """The memo of ``connection`` for the save whose ``post_save`` is running, emptied
    if anything but that save wrote since it was last recorded; ``None`` where it does
    not apply (not SQLite, in a transaction, or queries are being watched)."""
    if not connection.autocommit or connection.in_atomic_block or not direct(connection):
        return None
    raw = connection.connection
    memo: QuietMemo | None = getattr(connection, _ATTR, None)
    if memo is None or memo.raw is not raw:
        memo = QuietMemo(raw)
        setattr(connection, _ATTR, memo)
    # Read before the save path's SELECT: a commit by another connection after this
    # point makes the next save see a new version (it then reads again), never less.
    version = memo.cursor.execute("PRAGMA data_version").fetchone()[0]
    if version != memo.version or raw.total_changes != memo.changes + 1:
        memo.synced.clear()
        memo.version = version
    return memo


def forget(connection: BaseDatabaseWrapper) -> None:
    """Forget what ``connection`` remembered (a save inside a transaction, or one that
    failed: what it wrote may be undone)."""
    memo: QuietMemo | None = getattr(connection, _ATTR, None)
    if memo is not None:
        memo.synced.clear()
        memo.changes = -1
