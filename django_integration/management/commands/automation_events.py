"""``manage.py automation_events cleanup [--dry-run] [--older-than DAYS]`` and
``manage.py automation_events schedule``.

``cleanup`` deletes old Event rows nothing needs any more (see
``django_integration.retention``); the worker runs the same cleanup daily on its own.
``schedule`` installs (or updates) that daily job now, without waiting for a worker start.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = ("Delete old Event rows that nothing needs any more (cleanup; --dry-run counts "
            "them), or install the daily cleanup job in Temporal (schedule).")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        cleanup = sub.add_parser("cleanup", help="delete Event rows older than the retention "
                                                 "that no delivery, date or operator needs")
        cleanup.add_argument("--dry-run", action="store_true",
                             help="count what would be deleted; delete nothing")
        cleanup.add_argument("--older-than", type=float, metavar="DAYS",
                             help="retention in days (default: the EVENT_RETENTION setting)")
        cleanup.add_argument("--database", default="default", help="database alias")
        sub.add_parser("schedule", help="install or update the daily cleanup schedule now")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options.get("action")
        if action == "cleanup":
            self._cleanup(options["dry_run"], options["older_than"], options["database"])
        elif action == "schedule":
            from django_integration.retention import CLEANUP_CRON, install_cleanup_schedule

            if install_cleanup_schedule():
                self.stdout.write(f"Daily Event cleanup scheduled (cron {CLEANUP_CRON}, UTC).")
            else:
                self.stdout.write("EVENT_RETENTION is None: the daily cleanup is removed.")
        else:
            raise CommandError("give an action: cleanup [--dry-run] or schedule")

    def _cleanup(self, dry_run: bool, days: float | None, database: str) -> None:
        from django_integration.retention import cleanup_old_events
        from durable_automation.integration import get_settings

        if days is not None and days < 0:
            raise CommandError("--older-than must be 0 days or more")
        retention = timedelta(days=days) if days is not None else get_settings().event_retention
        if retention is None:
            self.stdout.write("EVENT_RETENTION is None: events are kept; give --older-than "
                              "DAYS to clean up anyway.")
            return
        result = cleanup_old_events(retention, dry_run=dry_run, using=database)
        verb = "would delete" if dry_run else "deleted"
        assert result.cutoff is not None
        self.stdout.write(
            f"{verb} {result.deleted} event(s) last changed before "
            f"{result.cutoff.isoformat(timespec='seconds')}: {result.superseded} superseded "
            f"by a newer row of the same event, {result.entity_gone} of deleted instances")
