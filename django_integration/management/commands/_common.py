"""Shared bits of the management commands."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand

__all__ = ["HardExitCommand", "setup_logging"]


def setup_logging(verbosity: int) -> None:
    """Log to stderr at INFO (WARNING with -v0, DEBUG with -v3)."""
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.INFO, 3: logging.DEBUG}
    logging.basicConfig(level=level.get(verbosity, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class HardExitCommand(BaseCommand):
    """A command that, run from the command line, ends with ``os._exit`` once finished.

    temporalio's Rust core can crash during interpreter shutdown after everything was
    closed (sdk-python#300), which would turn a clean stop into a crash report. Not
    applied under ``call_command`` (tests), only to ``manage.py <command>``.
    """

    def run_from_argv(self, argv: list[str]) -> None:
        code = 0
        try:
            super().run_from_argv(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:
            code = 130
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)

    def handle(self, *args: Any, **options: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
