"""``manage.py automation_worker``: the Temporal worker for this project, plus the outbox relay."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from durable_automation.exceptions import DurableAutomationError
from durable_automation.integration import configure, get_settings

from ._common import HardExitCommand, setup_logging


class Command(HardExitCommand):
    help = ("Run a durable-automation worker with Django loaded (every app's `automations` "
            "module is registered), and the relay that forwards events left in the outbox.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("modules", nargs="*", metavar="MODULE",
                            help="extra automation modules to import")
        parser.add_argument("--address", help="Temporal host:port (setting ADDRESS)")
        parser.add_argument("--namespace", help="Temporal namespace (setting NAMESPACE)")
        parser.add_argument("--task-queue", help="task queue (setting TASK_QUEUE)")
        parser.add_argument("--no-relay", action="store_true",
                            help="do not forward outbox events from this worker")

    def handle(self, *args: Any, **options: Any) -> None:
        from django_integration.worker import run_django_worker

        setup_logging(options["verbosity"])
        overrides = {k: options[k] for k in ("address", "namespace", "task_queue") if options[k]}
        if overrides:
            configure(**overrides)
        settings = get_settings()
        self.stdout.write(f"Worker for {settings.address} ({settings.namespace}), task queue "
                          f"{settings.task_queue}; Ctrl-C to stop.")
        try:
            run_django_worker(options["modules"], relay=not options["no_relay"])
        except DurableAutomationError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass
        self.stdout.write("Worker stopped.")
