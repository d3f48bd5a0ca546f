"""``durable-automation status``: live runs, what they wait for, and schedules, as a table.

Uses the server's visibility API (list workflows / schedules), which the dev server and
real clusters have; the time-skipping test server does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client

from ._client.connect import connect
from ._core.wire import STATE_QUERY, RunState

__all__ = ["StatusRow", "collect_status", "format_table", "print_status"]


@dataclass(frozen=True)
class StatusRow:
    """One line of the status table."""

    kind: str
    name: str
    id: str
    state: str
    detail: str
    next_wake: datetime | None


async def _run_row(client: Client, workflow_id: str, workflow_type: str) -> StatusRow:
    try:
        state = await asyncio.wait_for(
            client.get_workflow_handle(workflow_id).query(STATE_QUERY, result_type=RunState), 5
        )
    except Exception:  # noqa: BLE001 - not one of ours, or no worker answering queries
        return StatusRow("run", workflow_type, workflow_id, "running", "", None)
    detail = f"step {state.step}" if state.step else ""
    if state.waiting_for:
        detail += f", waiting for {state.waiting_for}"
    return StatusRow("run", workflow_type, workflow_id, state.phase, detail, state.deadline)


async def collect_status(client: Client, limit: int = 50) -> list[StatusRow]:
    """Running workflows (with their live state) and schedules (with their next action)."""
    rows: list[StatusRow] = []
    found = []
    async for execution in client.list_workflows("ExecutionStatus = 'Running'", limit=limit):
        found.append((execution.id, execution.workflow_type))
    rows += await asyncio.gather(*(_run_row(client, wid, wtype) for wid, wtype in found))
    async for schedule in await client.list_schedules():
        info = schedule.info
        upcoming = info.next_action_times if info else []
        paused = bool(schedule.schedule and schedule.schedule.state.paused)
        rows.append(StatusRow(
            "schedule", schedule.id, schedule.id, "paused" if paused else "active",
            # A listing carries only the latest few actions (the full count needs a
            # describe per schedule, too slow for a status table).
            f"{len(info.recent_actions)} recent runs" if info else "",
            upcoming[0] if upcoming else None,
        ))
        if len(rows) >= limit * 2:
            break
    return rows


def format_table(rows: Sequence[StatusRow], now: datetime | None = None) -> str:
    """Render rows as an aligned text table, with "in 5m 3s" next to wake-up times."""
    now = now or datetime.now(UTC)
    header = ("KIND", "NAME", "STATE", "NEXT WAKE-UP", "DETAIL", "ID")
    lines = [header]
    for row in rows:
        wake = ""
        if row.next_wake is not None:
            delta = int((row.next_wake - now).total_seconds())
            relative = f"in {delta // 60}m {delta % 60}s" if delta >= 0 else "overdue"
            wake = f"{row.next_wake.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z ({relative})"
        lines.append((row.kind, row.name, row.state, wake, row.detail, row.id))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )


async def print_status(limit: int = 50) -> int:
    """Connect as the settings say and print the table; return an exit code."""
    client = await connect()
    rows = await collect_status(client, limit)
    if not rows:
        print("No running automations and no schedules.")
        return 0
    print(format_table(rows))
    return 0
