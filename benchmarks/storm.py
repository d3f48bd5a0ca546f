"""The storm, N times in a row: creates, moves and deletes of scheduled events faster than
delivery, on a real dev server and worker; every run must pass.

    python benchmarks/storm.py --runs 10                       # SQLite (a temp file)
    python benchmarks/storm.py --runs 10 --db postgres         # PostgreSQL at 127.0.0.1:5432
    python benchmarks/storm.py --runs 3 --fault restart        # Temporal restarts mid-storm

Each run checks (see ``tests/django_integration/storm.py``): the created handler once
per row, the cancelled handler once per deleted row, the occurrence and the reminder
once per surviving row at its *final* time. ``--fault restart`` stops the Temporal dev
server (state on disk) in the middle of each storm and starts it again 3 s later.
Exits non-zero if any run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--fault", choices=["none", "restart"], default="none")
    parser.add_argument("--seed", type=int, default=None, help="first run's seed (default: random)")
    return parser.parse_args()


def main() -> int:
    args = _parse()
    os.environ["DURABLE_AUTOMATION_TEST_DB"] = args.db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_settings")
    sys.path.insert(0, str(ROOT))
    import tempfile

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from django_integration.models import Event
    from tests.django_integration.storm import run_storm
    from tests.django_integration.testapp.models import Effect, Storm
    from tests.helpers.own_server import own_server_with_worker

    call_command("migrate", run_syncdb=True, verbosity=0)
    state = Path(tempfile.mkdtemp(prefix="da-storm-"))
    servers = contextlib.ExitStack()
    server = servers.enter_context(own_server_with_worker(state, "storm"))
    relay_stop = threading.Event()

    def relay() -> None:  # what the worker process runs next to the worker
        from django_integration.outbox import relay_once

        while not relay_stop.wait(1.0):
            try:
                relay_once()
            except Exception as exc:  # noqa: BLE001 - keep relaying, like the worker does
                print(f"  relay pass failed: {exc}", flush=True)

    relay_thread = threading.Thread(target=relay, daemon=True)
    relay_thread.start()

    def restart(operation: int) -> None:
        if operation == 30:
            server.stop()
            threading.Timer(3.0, server.start).start()

    failures = 0
    seed0 = args.seed if args.seed is not None else int(time.time())
    print(f"storm x{args.runs} on {connection.vendor}, {args.rows} rows each, fault: {args.fault}")
    try:
        for run in range(args.runs):
            seed = seed0 + run
            report = run_storm(args.rows, seed=seed, lead=10.0 if args.fault == "none" else 14.0,
                               fault=restart if args.fault == "restart" else None)
            status = "ok" if not report.problems else "FAILED"
            print(f"  run {run + 1:>2}: {status}  seed {seed}, {report.created} created, "
                  f"{report.moved} moves, {report.deleted} deleted, "
                  f"{report.operations} operations in {report.seconds:.2f}s", flush=True)
            for problem in report.problems[:20]:
                print(f"      {problem}")
            failures += bool(report.problems)
    finally:
        relay_stop.set()
        servers.close()
        if connection.vendor == "postgresql":
            for model in (Storm, Effect, Event):
                model.objects.all().delete()
    print(f"{args.runs - failures}/{args.runs} runs passed")
    return 1 if failures else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # temporalio's interpreter-shutdown crash (sdk-python#300)
