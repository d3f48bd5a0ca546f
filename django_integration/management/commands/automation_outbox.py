"""``manage.py automation_outbox [status|relay|resend|dead|retry]``.

Inspects and drains the event outbox.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone


class Command(BaseCommand):
    help = ("Show events waiting to be forwarded to Temporal (status), forward them now "
            "(relay), forward given events again (resend), list events whose delivery gave "
            "up (dead) and deliver them again (retry).")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        sub.add_parser("status", help="counts of undelivered events and events by status")
        relay = sub.add_parser("relay", help="forward every undelivered event now")
        relay.add_argument("--include-fresh", action="store_true",
                           help="also events committed in the last 2 s (normally forwarded "
                                "by the process that committed them)")
        resend = sub.add_parser("resend", help="forward the given events again")
        resend.add_argument("ids", nargs="+", type=int, metavar="EVENT_ID")
        dead = sub.add_parser("dead", help="events whose delivery gave up, with their error")
        dead.add_argument("--limit", type=int, default=100, help="rows at most (default: 100)")
        retry = sub.add_parser("retry", help="deliver dead events again (give ids, or --all)")
        retry.add_argument("ids", nargs="*", type=int, metavar="EVENT_ID")
        retry.add_argument("--all", action="store_true", help="every dead event")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options.get("action") or "status"
        if action == "status":
            self._status()
        elif action == "relay":
            from django_integration.outbox import relay_once

            result = relay_once(include_fresh=options["include_fresh"])
            self.stdout.write(f"delivered {result.delivered}, failed {result.failed}, "
                              f"left for later {result.retry_later}")
            if result.retry_later:
                raise CommandError("Temporal is unreachable; the remaining events stay in the "
                                   "outbox (run `automation_outbox relay` again later)")
        elif action == "resend":
            from django_integration.models import Event
            from django_integration.outbox import resend

            events = list(Event.objects.filter(pk__in=options["ids"]))
            missing = set(options["ids"]) - {e.pk for e in events}
            if missing:
                raise CommandError(f"no such event(s): {', '.join(map(str, sorted(missing)))}")
            result = resend(events)
            self.stdout.write(f"delivered {result.delivered}, failed {result.failed}, "
                              f"left for later {result.retry_later}")
        elif action == "dead":
            self._dead(options["limit"])
        elif action == "retry":
            self._retry(options["ids"], options["all"])

    def _dead(self, limit: int) -> None:
        from django_integration.outbox import dead_events

        rows = list(dead_events()[:limit])
        if not rows:
            self.stdout.write("No dead events.")
            return
        self.stdout.write(f"{'id':>8}  {'event':<28} {'entity':<28} {'attempts':>8}  "
                          "dead since           error")
        for row in rows:
            since = timezone.localtime(row.dead_at).strftime("%Y-%m-%d %H:%M:%S") \
                if row.dead_at else "-"
            error = " ".join(row.last_delivery_error.split())[:160]
            self.stdout.write(f"{row.pk:>8}  {row.name[:28]:<28} {row.entity_ref[:28]:<28} "
                              f"{row.delivery_attempts:>8}  {since:<20} {error}")
        self.stdout.write("Retry with: manage.py automation_outbox retry EVENT_ID ... (or --all)")

    def _retry(self, ids: list[int], every: bool) -> None:
        from django_integration.models import Event
        from django_integration.outbox import retry_dead

        if not ids and not every:
            raise CommandError("give the ids of dead events to retry, or --all")
        if ids:
            found = set(Event.objects.filter(pk__in=ids).values_list("pk", flat=True))
            missing = set(ids) - found
            if missing:
                raise CommandError(f"no such event(s): {', '.join(map(str, sorted(missing)))}")
        result = retry_dead(None if every else ids)
        self.stdout.write(f"delivered {result.delivered}, failed {result.failed}, "
                          f"left for later {result.retry_later}")
        if result.failed:
            raise CommandError("some events failed again; see `automation_outbox dead`")

    def _status(self) -> None:
        from django_integration.outbox import outbox_status

        status = outbox_status()
        age = ""
        if status.oldest_undelivered is not None:
            seconds = (timezone.now() - status.oldest_undelivered).total_seconds()
            age = f" (oldest waiting {seconds:.0f}s)"
        self.stdout.write(f"undelivered: {status.undelivered}{age}")
        self.stdout.write(f"with delivery errors: {status.with_errors}")
        self.stdout.write(f"dead (delivery gave up): {status.dead}")
        for name, count in sorted(status.by_status.items()):
            self.stdout.write(f"{name}: {count}")
