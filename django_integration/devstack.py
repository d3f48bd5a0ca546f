"""The embedded dev stack with Django loaded: Temporal dev server + UI, worker, outbox relay.

``manage.py automation_dev`` calls :func:`run_django_dev_stack`; projects (like the
example's ``demo`` command) pass their own background coroutines, e.g. a driver.
"""

from __future__ import annotations

from collections.abc import Iterable

from durable_automation.devstack import BackgroundTask, run_dev_stack

from .outbox import arelay_forever

__all__ = ["run_django_dev_stack"]


def run_django_dev_stack(
    modules: Iterable[str] = (),
    *,
    db_file: str = ".durable-automation/dev.sqlite3",
    port: int = 7233,
    ui_port: int = 8233,
    background: Iterable[BackgroundTask] = (),
    banner: str | None = None,
) -> int:
    """Run the dev stack until Ctrl-C with the outbox relay alongside; return an exit code."""
    return run_dev_stack(
        modules, db_file=db_file, port=port, ui_port=ui_port,
        background=[arelay_forever, *background], banner=banner,
    )
