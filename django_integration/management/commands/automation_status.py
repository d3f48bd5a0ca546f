"""``manage.py automation_status``: live runs, what they wait for, and schedules."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import CommandError, CommandParser

from ._common import HardExitCommand


class Command(HardExitCommand):
    help = "Show running automations, what they wait for and until when, and schedules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=50, help="rows at most (default: 50)")

    def handle(self, *args: Any, **options: Any) -> None:
        from durable_automation.exceptions import DurableAutomationError
        from durable_automation.integration import connect
        from durable_automation.status import collect_status, format_table

        async def table() -> str:
            rows = await collect_status(await connect(), options["limit"])
            return format_table(rows) if rows else "No running automations and no schedules."

        try:
            self.stdout.write(asyncio.run(table()))
        except DurableAutomationError as exc:
            raise CommandError(str(exc)) from exc
