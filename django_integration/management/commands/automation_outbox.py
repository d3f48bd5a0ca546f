"""``manage.py automation_outbox [status|relay|resend]``: inspect and drain the event outbox."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone


class Command(BaseCommand):
    help = ("Show events waiting to be forwarded to Temporal (status), forward them now "
            "(relay), or forward given events again (resend).")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        sub.add_parser("status", help="counts of undelivered events and events by status")
        relay = sub.add_parser("relay", help="forward every undelivered event now")
        relay.add_argument("--include-fresh", action="store_true",
                           help="also events committed in the last 2 s (normally forwarded "
                                "by the process that committed them)")
        resend = sub.add_parser("resend", help="forward the given events again")
        resend.add_argument("ids", nargs="+", type=int, metavar="EVENT_ID")

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

    def _status(self) -> None:
        from django_integration.outbox import outbox_status

        status = outbox_status()
        age = ""
        if status.oldest_undelivered is not None:
            seconds = (timezone.now() - status.oldest_undelivered).total_seconds()
            age = f" (oldest waiting {seconds:.0f}s)"
        self.stdout.write(f"undelivered: {status.undelivered}{age}")
        self.stdout.write(f"with delivery errors: {status.with_errors}")
        for name, count in sorted(status.by_status.items()):
            self.stdout.write(f"{name}: {count}")
