"""``manage.py demo``: migrate, start the dev stack (server + UI + worker), run the scenario."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser

from django_integration.devstack import run_django_dev_stack
from django_integration.management.commands._common import HardExitCommand, setup_logging


class Command(HardExitCommand):
    help = "Run the hotel scenario on the embedded Temporal dev stack (Ctrl-C to stop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--db-file", default=".durable-automation/hotel-dev.sqlite3",
                            help="Temporal dev server state file (default: %(default)s)")
        parser.add_argument("--port", type=int, default=7233)
        parser.add_argument("--ui-port", type=int, default=8233)

    def handle(self, *args: Any, **options: Any) -> None:
        from reservations.demo import drive

        setup_logging(0)
        # A step that raises on purpose (the seed's transient failure) is logged with a
        # traceback by temporalio; the automation's own output says what happened.
        logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
        call_command("migrate", verbosity=0, interactive=False)
        code = run_django_dev_stack(
            db_file=options["db_file"], port=options["port"], ui_port=options["ui_port"],
            background=[drive],
            banner="  Hotel demo: a reservation is booked, confirmed and moved; watch the "
                   "automations below\n  and the runs in the UI.",
        )
        if code:
            raise CommandError(f"the dev stack stopped with exit code {code}", returncode=code)
