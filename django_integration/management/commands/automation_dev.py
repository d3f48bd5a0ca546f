"""``manage.py automation_dev``: Temporal dev server (with UI) + worker + relay, Django loaded."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser
from django.utils.module_loading import import_string

from ._common import HardExitCommand, setup_logging


class Command(HardExitCommand):
    help = ("Start the embedded Temporal dev server (state in a local SQLite file, web UI "
            "included) and a worker for this project's automations, until Ctrl-C.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("modules", nargs="*", metavar="MODULE",
                            help="extra automation modules to import")
        parser.add_argument("--db-file", default=".durable-automation/dev.sqlite3",
                            help="the server's state file (default: %(default)s)")
        parser.add_argument("--port", type=int, default=7233, help="gRPC port (default: 7233)")
        parser.add_argument("--ui-port", type=int, default=8233,
                            help="web UI port (default: 8233)")
        parser.add_argument("--migrate", action="store_true",
                            help="run `migrate` first (a fresh project's database)")
        parser.add_argument("--background", action="append", default=[], metavar="DOTTED.PATH",
                            help="a coroutine function to run next to the worker (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        from django_integration.devstack import run_django_dev_stack

        setup_logging(options["verbosity"])
        if options["migrate"]:
            call_command("migrate", verbosity=0, interactive=False)
        try:
            background = [import_string(path) for path in options["background"]]
        except ImportError as exc:
            raise CommandError(f"--background: {exc}") from exc
        code = run_django_dev_stack(
            options["modules"], db_file=options["db_file"], port=options["port"],
            ui_port=options["ui_port"], background=background,
        )
        if code:
            raise CommandError(f"the dev stack stopped with exit code {code}", returncode=code)
