"""The ``durable-automation`` command: ``worker``, ``dev``, ``status``, ``codec-server``,
``runs ...`` and ``check`` (the last two in ``_cli_runs.py``).

Exit: once a command has finished and flushed its output, the process ends with
``os._exit(code)``. temporalio's Rust core has crashed here during interpreter
shutdown after every client and worker was closed (segfault or
``PyGILState_Release`` abort; upstream sdk-python issue #300), which would turn a
clean Ctrl-C into a crash report and a signal exit status. Nothing is left to
clean up at that point: workers have drained and servers have been stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from ._cli_runs import OPERATIONS_COMMANDS, add_operations_commands, run_operations_command
from ._core.settings import configure
from .exceptions import DurableAutomationError

__all__ = ["build_parser", "exit_process", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (shared with ``python -m worker``)."""
    parser = argparse.ArgumentParser(
        prog="durable-automation",
        description="Run durable automations on Temporal.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    worker = commands.add_parser(
        "worker", help="run a worker for the registered automations until SIGINT/SIGTERM"
    )
    _connection_options(worker)
    worker.add_argument("modules", nargs="*", metavar="MODULE",
                        help="automation modules to import (added to AUTOMATION_MODULES)")

    dev = commands.add_parser(
        "dev", help="start the Temporal dev server (with UI) and a worker, until Ctrl-C"
    )
    dev.add_argument("modules", nargs="*", metavar="MODULE", help="automation modules to import")
    dev.add_argument("--db-file", default=".durable-automation/dev.sqlite3",
                     help="SQLite file for the server's state (default: %(default)s)")
    dev.add_argument("--port", type=int, default=7233, help="gRPC port (default: %(default)s)")
    dev.add_argument("--ui-port", type=int, default=8233, help="web UI port (default: %(default)s)")

    codec = commands.add_parser(
        "codec-server", help="serve /decode for the Temporal UI (ENCRYPTION_KEYS), until Ctrl-C"
    )
    codec.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    codec.add_argument("--port", type=int, default=8081, help="port (default: %(default)s)")
    codec.add_argument("--ui-origin", default="http://localhost:8233",
                       help="the UI's origin, allowed by CORS (default: %(default)s)")
    codec.add_argument("--token", help="secret callers must present (setting CODEC_TOKEN)")

    status = commands.add_parser("status", help="show live runs, waits and schedules")
    _connection_options(status)
    status.add_argument("--limit", type=int, default=50, help="rows at most (default: 50)")
    add_operations_commands(commands, _connection_options)
    return parser


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="Temporal frontend host:port (setting ADDRESS)")
    parser.add_argument("--namespace", help="Temporal namespace (setting NAMESPACE)")
    parser.add_argument("--task-queue", help="task queue (setting TASK_QUEUE)")


def _apply_connection_options(args: argparse.Namespace) -> None:
    overrides = {
        key: getattr(args, key)
        for key in ("address", "namespace", "task_queue")
        if getattr(args, key, None)
    }
    if overrides:
        configure(**overrides)


def run(argv: Sequence[str] | None = None) -> int:
    """Run a command and return its exit code (no hard exit; for tests and embedding)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "worker":
            _apply_connection_options(args)
            from .worker import run_worker

            asyncio.run(run_worker(args.modules))
            return 0
        if args.command == "dev":
            from .devstack import run_dev_stack

            return run_dev_stack(args.modules, db_file=args.db_file, port=args.port,
                                 ui_port=args.ui_port)
        if args.command == "codec-server":
            return _serve_codec(args)
        if args.command == "status":
            _apply_connection_options(args)
            from .status import print_status

            return asyncio.run(print_status(limit=args.limit))
        if args.command in OPERATIONS_COMMANDS:
            _apply_connection_options(args)
            return run_operations_command(args)
    except DurableAutomationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _serve_codec(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ._core.settings import get_settings
    from .codec import EncryptionCodec
    from .codec_server import CodecServer
    from .exceptions import ConfigurationError

    settings = get_settings()
    if not settings.encryption_keys:
        raise ConfigurationError("Set ENCRYPTION_KEYS to run the codec server")
    token = args.token or settings.codec_token
    if not token:
        raise ConfigurationError(
            "Set CODEC_TOKEN (or pass --token): the codec server decrypts whatever it is "
            "sent, so it answers only callers presenting that secret. Make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    server = CodecServer(EncryptionCodec.from_settings(settings.encryption_keys), args.host,
                         args.port, args.ui_origin, token=token).start()
    print(f"Codec endpoint on {server.url}: set the UI's codec endpoint to "
          f"{server.url}/<CODEC_TOKEN>; other callers send 'Authorization: Bearer <CODEC_TOKEN>'",
          flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


def exit_process(code: int) -> None:
    """Flush output and end the process with ``code`` (see the module docs for why)."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``durable-automation`` script; ends the process (see module docs)."""
    exit_process(run(argv))

