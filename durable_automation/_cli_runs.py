"""``durable-automation runs ...`` and ``durable-automation check``: operating runs from a shell.

- ``runs list`` / ``runs cancel`` / ``runs retry``: by ``--automation``, ``--status``,
  ``--step``, ``--entity``, ``--started-after`` / ``--started-before``; ``--dry-run``
  prints what would be touched and changes nothing.
- ``runs reset RUN_ID --to-step STEP [--visit N]``.
- ``check [MODULE ...]``: runs in flight the code about to be deployed cannot carry on;
  exit status 1 when there is one (for CI).

Automation modules (arguments, and the ``AUTOMATION_MODULES`` setting) are imported
first, so names and steps are checked against the code at hand.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

__all__ = ["add_operations_commands", "run_operations_command"]

OPERATIONS_COMMANDS = ("runs", "check")


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date/time, e.g. 2026-05-01 or 2026-05-01T08:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filters(parser: argparse.ArgumentParser, status: bool) -> None:
    parser.add_argument("--automation", help="automation name")
    if status:
        parser.add_argument("--status", choices=("running", "completed", "failed", "cancelled"))
    parser.add_argument("--step", help="current step (needs SEARCH_ATTRIBUTES)")
    parser.add_argument("--entity", help="app_label.model:pk (needs SEARCH_ATTRIBUTES)")
    parser.add_argument("--started-after", type=_moment, metavar="WHEN")
    parser.add_argument("--started-before", type=_moment, metavar="WHEN")
    parser.add_argument("--limit", type=int, default=1000, help="runs at most (default: 1000)")


def add_operations_commands(commands: Any, connection: Any) -> None:
    """Add ``runs`` and ``check`` to the ``durable-automation`` sub-command parsers.

    Args:
        commands: The parser's sub-parsers.
        connection: Adds the ``--address`` / ``--namespace`` / ``--task-queue`` options.
    """
    runs = commands.add_parser("runs", help="list, cancel, retry or reset runs")
    actions = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("list", "list runs matching the filters"),
                       ("cancel", "cancel running runs matching the filters"),
                       ("retry", "reset failed runs matching the filters to the failed step")):
        action = actions.add_parser(name, help=text)
        connection(action)
        _filters(action, status=name == "list")
        if name != "list":
            action.add_argument("--dry-run", action="store_true",
                                help="print what would be touched; change nothing")
        action.add_argument("--module", action="append", default=[], dest="modules",
                            help="automation module to import (repeatable)")
    reset = actions.add_parser("reset", help="run a run again from a step")
    connection(reset)
    reset.add_argument("run_id", metavar="RUN_ID")
    reset.add_argument("--to-step", required=True, help="the step to run again")
    reset.add_argument("--visit", type=int, help="which visit of the step (default: latest)")
    reset.add_argument("--module", action="append", default=[], dest="modules",
                       help="automation module to import (repeatable)")

    check = commands.add_parser(
        "check", help="list runs in flight the code here can no longer carry on (exit 1 if any)")
    connection(check)
    check.add_argument("modules", nargs="*", metavar="MODULE", help="automation modules to import")


def run_operations_command(args: argparse.Namespace) -> int:
    """Run ``runs ...`` or ``check``; return the exit status."""
    from . import operations
    from ._client.engine import engine
    from ._core.registry import import_automation_modules
    from ._core.settings import get_settings

    import_automation_modules([*get_settings().automation_modules, *args.modules])
    if args.command == "check":
        report = operations.check_stranded_runs()
        for stranded in report.stranded:
            print(stranded.describe())
        for run_id, why in report.partial.items():
            print(f"{run_id}: not fully checked ({why})")
        print(f"{report.checked} run(s) in flight checked, {len(report.stranded)} stranded, "
              f"{len(report.partial)} not fully checked")
        return 0 if report.ok else 1
    if args.action == "reset":
        point = engine.get_run(args.run_id).reset(args.to_step, args.visit)
        print(f"{point.run_id}: reset to step {point.step} (visit {point.visit}); "
              f"new execution {point.execution_id}")
        return 0
    filters = {key: getattr(args, key) for key in (
        "automation", "step", "entity", "started_after", "started_before", "limit")}
    if args.action == "list":
        found = operations.find_runs(status=args.status, **filters)
        for info in found:
            started = info.started_at.isoformat(timespec="seconds") if info.started_at else "-"
            print(f"{info.id}  {info.automation}  {info.status}  step={info.step or '-'}  "
                  f"entity={info.entity or '-'}  started={started}")
        print(f"{len(found)} run(s)")
        return 0
    bulk = operations.cancel_runs if args.action == "cancel" else operations.retry_runs
    result = bulk(dry_run=args.dry_run, **filters)
    print(result.report())
    return 0 if not result.skipped or args.dry_run else 1
