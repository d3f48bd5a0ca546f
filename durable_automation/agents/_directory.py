"""The directory: a tiny Temporal workflow holding ``key -> holder`` entries.

Agents use it for three things, each a separate workflow id so none grows with the
number of live agents more than it must:

* claims books (``claims:<event>``): claim key -> agent holding it. ``put`` with
  ``exclusive`` is an update, and updates run one at a time inside the workflow, so
  two agents racing for the same key cannot both win;
* index buckets (``agent-index:<agent>:<field>=<value>``): the agents whose Context
  field holds that value (``__in`` and non-key lookups route through them);
* armed-timer lists (``agent-event:<event>:<id>``): agents holding an offset timer
  for a scheduled event, so a cancellation reaches them even once the entity is gone.

A directory with no entries completes after :data:`IDLE_TIMEOUT` (or at its
``expires_at``) and is started again by the next ``put``; it continues-as-new when
its history grows. A ``put`` as the expiry or idle timer fires does not cancel it
(patch ``da-directory-alarm``, ``_worker/alarm.py``): the time-skipping test server
refused a task cancelling a timer that fired while it ran, and kept virtual time locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .._worker.alarm import Alarm

__all__ = ["DIRECTORY_WORKFLOW", "IDLE_TIMEOUT", "Directory", "shape_of"]

DIRECTORY_WORKFLOW = "durable_automation.agent_directory"
IDLE_TIMEOUT = timedelta(hours=1)


def shape_of(key: str) -> tuple[str, ...]:
    """The lookup names of a claim key: ``sender_id=5&status=open`` -> ``(sender_id, status)``."""
    return tuple(unquote(part.partition("=")[0]) for part in key.split("&"))


@workflow.defn(name=DIRECTORY_WORKFLOW)
class Directory:
    """``key -> holder`` entries with an atomic exclusive ``put``."""

    def __init__(self) -> None:
        self._entries: dict[str, str] = {}
        self._expires_at: datetime | None = None
        self._changed = False
        self._alarm = Alarm("da-directory-alarm")

    @workflow.run
    async def run(self, state: Any = None) -> None:
        state = state if isinstance(state, dict) else {}
        entries = state.get("entries")
        if isinstance(entries, dict):
            self._entries.update({str(k): str(v) for k, v in entries.items()})
        self._set_expiry(state.get("expires_at"))
        suggested = workflow.info().is_continue_as_new_suggested
        while True:
            self._changed = False
            timeout: timedelta | None = None
            summary: str | None = None
            if self._expires_at is not None:
                timeout = max(self._expires_at - workflow.now(), timedelta(seconds=1))
                summary = "expires"
            elif not self._entries:
                timeout, summary = IDLE_TIMEOUT, "idle"
            try:
                await self._alarm.wait_condition(lambda: self._changed or suggested(),
                                                 timeout=timeout, timeout_summary=summary)
            except TimeoutError:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._changed:
                    return
            if suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new({
                    "entries": self._entries,
                    "expires_at": self._expires_at.isoformat() if self._expires_at else None,
                })

    def _set_expiry(self, raw: Any) -> None:
        if isinstance(raw, str):
            try:
                self._expires_at = datetime.fromisoformat(raw)
            except ValueError:
                self._expires_at = None

    # Arguments arrive as plain JSON and are checked here: a payload that fails to
    # decode must never fail a workflow task (it would retry forever).

    @workflow.update
    def put(self, request: Any) -> dict[str, Any]:
        """Set ``keys`` to ``holder``; with ``exclusive``, all or nothing.

        Returns:
            ``{"conflict": key, "holder": other}`` when an exclusive put finds a key
            held by someone else (nothing changed), else ``{}``.
        """
        keys, holder = _keys(request), str(request.get("holder", ""))
        if request.get("exclusive"):
            for key in keys:
                current = self._entries.get(key)
                if current is not None and current != holder:
                    return {"conflict": key, "holder": current}
        for key in keys:
            self._entries[key] = holder
        self._changed = True
        if request.get("expires_at"):
            self._set_expiry(request["expires_at"])
        return {}

    @put.validator
    def _validate_put(self, request: Any) -> None:
        if not isinstance(request, dict) or not request.get("holder"):
            raise ValueError("put needs {'keys': [...], 'holder': ...}")

    @workflow.signal
    def remove(self, request: Any) -> None:
        """Remove ``keys`` (only those held by ``holder`` when one is given)."""
        if not isinstance(request, dict):
            return
        holder = request.get("holder")
        for key in _keys(request):
            if holder is None or self._entries.get(key) == holder:
                self._entries.pop(key, None)
        self._changed = True

    @workflow.signal
    def release_holder(self, holder: Any) -> None:
        """Remove every entry held by ``holder``."""
        for key in [k for k, v in self._entries.items() if v == holder]:
            del self._entries[key]
        self._changed = True

    @workflow.signal
    def clear(self) -> None:
        """Remove every entry."""
        self._entries.clear()
        self._changed = True

    @workflow.query
    def get(self, keys: Any) -> dict[str, str]:
        """Holders of ``keys`` that have one."""
        wanted = keys if isinstance(keys, list) else []
        return {k: self._entries[k] for k in wanted if k in self._entries}

    @workflow.query
    def entries(self) -> dict[str, str]:
        """Every entry."""
        return dict(self._entries)

    @workflow.query
    def shapes(self) -> list[list[str]]:
        """The distinct lookup-name tuples of the keys, in first-seen order."""
        seen: dict[tuple[str, ...], None] = {}
        for key in self._entries:
            seen.setdefault(shape_of(key), None)
        return [list(shape) for shape in seen]


def _keys(request: Any) -> Sequence[str]:
    keys = request.get("keys") if isinstance(request, dict) else None
    return [str(k) for k in keys] if isinstance(keys, list) else []
