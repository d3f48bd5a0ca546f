"""pytest plugin (entry point ``durable_automation``): fixtures for testing automations.

Fixtures:
    time_machine: a running :class:`~durable_automation.testing.TimeMachine` (sync or
        async tests alike) with ``engine`` bound to it; stopped after the test.
    temporal_dev_server: one Temporal dev server for the session (schedules and
        visibility, which the time-skipping server lacks).
    dev_worker: a worker for every registered automation on ``temporal_dev_server``,
        on a fresh task queue, with ``engine`` bound to it for the test.
    automation_events: for pytest-django users, a transactional test database in which
        model events are forwarded to Temporal as they would be in production (see
        :mod:`django_integration.testing`).

pytest loads this plugin in every project that installs the package, so it changes
nothing it does not need to. Importing it imports neither temporalio nor the rest of
the SDK (the fixtures import what they use when they run), so coverage tools measure
the SDK's module-level lines like any other code.

Shutdown: temporalio's Rust core has crashed while the interpreter shuts down
(a segfault or a ``PyGILState_Release`` abort after every environment was closed;
upstream sdk-python issue #300). A crash there would replace pytest's verdict with
a signal exit code. So a test process whose program is pytest (``pytest``,
``python -m pytest``, ``coverage run -m pytest``) and that started a temporalio
runtime ends with ``os._exit(<pytest's exit status>)``: pytest reports, whatever
wraps it finishes (``coverage run`` saves its data), the ``atexit`` handlers run,
output is flushed, and only the interpreter's teardown is skipped. The plugin says so
on the terminal. A process that never started a runtime, or that called
``pytest.main()`` from a program of its own, exits normally. Disable with
``-o durable_automation_hard_exit=false``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from django_integration.testing import AutomationEvents

    from .devserver import DevServer
    from .testing import TimeMachine

__all__ = ["DevWorker"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "durable_automation_hard_exit",
        "End a test process that started a temporalio runtime with os._exit(status) after "
        "pytest reports and atexit handlers ran, to sidestep temporalio's "
        "interpreter-shutdown crash (sdk-python#300)",
        type="bool",
        default=True,
    )


# The config of the pytest run that is this process's program (see _is_program_run);
# nested runs (pytester's in-process runs) never end the process.
_main_config: pytest.Config | None = None
_exit_status: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _main_config
    if _main_config is None:
        _main_config = config


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    if session.config is _main_config:
        _exit_status = int(exitstatus)


def temporal_runtime_started() -> bool:
    """Whether this process created a temporalio (Rust core) runtime.

    Only such a process can hit the interpreter-shutdown crash. Importing temporalio
    creates none; a client, worker or test environment does, through
    ``Runtime.default()`` or an explicit ``Runtime(...)``.
    """
    bridge = sys.modules.get("temporalio.bridge.runtime")
    if bridge is None:
        return False  # the core bridge was never even imported
    runtime_module = sys.modules.get("temporalio.runtime")
    ref = getattr(runtime_module, "_runtime_ref", None)
    if getattr(ref, "_default_runtime", None) is not None:
        return True
    # An explicit Runtime(...) (the time machine's quiet one, a user's telemetry one).
    core_runtime = getattr(bridge, "Runtime", None)
    if not isinstance(core_runtime, type):
        return True  # an unknown temporalio layout: assume the worst
    return any(isinstance(obj, core_runtime) for obj in gc.get_objects())


def _is_program_run() -> bool:
    """Whether pytest is this process's program (``pytest``, ``python -m pytest``,
    ``coverage run -m pytest``), not a ``pytest.main()`` call inside another program,
    which must get control back."""
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        # pytest's command-line entry (named console_main before pytest 9.1).
        if frame.f_code.co_name in ("_console_main", "console_main") \
                and frame.f_globals.get("__name__") == "_pytest.config":
            return True
        frame = frame.f_back
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return program.name in ("pytest", "py.test") or (
        program.name == "__main__.py" and program.parent.name == "pytest")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    global _exit_pending
    if config is not _main_config or _exit_status is None or _exit_pending is not None:
        return
    if not config.getini("durable_automation_hard_exit"):
        return
    if not temporal_runtime_started() or not _is_program_run():
        return
    # Not here but at interpreter shutdown: whatever wraps pytest finishes first
    # (`coverage run` saves its data when pytest returns, not in an atexit handler).
    _exit_pending = _exit_status
    atexit.register(_exit_at_shutdown)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"durable-automation: exiting with os._exit({_exit_status}) once atexit handlers "
            "ran, so temporalio's interpreter-shutdown crash (sdk-python#300) cannot change "
            "the result")


_exit_pending: int | None = None
_exiting = False


def _exit_at_shutdown() -> None:
    """The first atexit handler to run (registered last): run the others, then exit.

    A normal exit would run them and then tear the interpreter down, which is where
    temporalio's core can crash; this skips only that teardown.
    """
    global _exiting
    if _exiting or _exit_pending is None:
        return  # re-entered from the _run_exitfuncs() below
    _exiting = True
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to save
                stream.flush()
        os._exit(_exit_pending)


@pytest.fixture
def time_machine() -> Iterator[TimeMachine]:
    """A time-skipping server + worker for every registered automation, ``engine`` bound to it."""
    from .testing import TimeMachine

    with TimeMachine() as tm:
        yield tm


class DevWorker:
    """A worker on the session's dev server, on its own task queue, bound to ``engine``."""

    def __init__(self, server: object, task_queue: str) -> None:
        self.server = server
        self.task_queue = task_queue
        self.client: Any = None


@pytest.fixture(scope="session")
def temporal_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One ``temporal server start-dev`` (headless, search attributes registered) per session."""
    from .devserver import DevServer

    log = tmp_path_factory.mktemp("temporal-dev") / "server.log"
    server = DevServer(ui=False, log_file=log,
                       dynamic_config={"limit.historyCount.suggestContinueAsNew": 200})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dev_worker(temporal_dev_server: DevServer) -> Iterator[DevWorker]:
    """A worker for all registered automations on the dev server; ``engine`` uses it."""
    from datetime import timedelta

    from .worker import worker_on_thread

    task_queue = f"test-{uuid.uuid4().hex[:8]}"
    with worker_on_thread(temporal_dev_server, task_queue,
                          thread_name="durable-automation-dev-worker",
                          graceful_shutdown=timedelta(seconds=2)) as worker:
        handle = DevWorker(temporal_dev_server, task_queue)
        handle.client = worker.client
        yield handle


@pytest.fixture
def automation_events(transactional_db: None) -> Iterator[AutomationEvents]:
    """Model events forwarded to Temporal in a pytest-django test, as in production.

    Gives the test a transactional database (pytest-django's ``transactional_db``):
    saves commit, so ``transaction.on_commit`` runs and the steps, which run on the
    worker's threads and database connections, see the rows. ``automation_events.
    forward()`` waits until everything committed so far reached Temporal; the
    fixture waits for the same before the database is flushed. Needs pytest-django
    (without it, pytest reports that ``transactional_db`` is not found).
    """
    from django_integration.testing import AutomationEvents

    with AutomationEvents() as events:
        yield events


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        result = yield
    except pytest.skip.Exception:
        raise
    except BaseException as exc:
        message = _unforwarded_events(item)
        if message is not None:
            exc.add_note(message)  # shown under the error in pytest's report
        raise
    message = _unforwarded_events(item)
    if message is not None and {"time_machine", "dev_worker"} & set(
            getattr(item, "fixturenames", ())):
        # It passed, but it started Temporal for events that never went there.
        from django_integration.testing import EventsNotForwardedWarning

        item.warn(EventsNotForwardedWarning(message))
    return result


def _unforwarded_events(item: pytest.Item) -> str | None:
    """Why model events saved in this test never fired, if they never will: they are in
    a test transaction that is rolled back, never committed (pytest-django's
    ``django_db`` without ``transaction=True``)."""
    if "django_integration._tracking" not in sys.modules:
        return None  # no Django project with the app loaded: nothing to look at
    from django_integration.testing import unforwarded_events_message

    return unforwarded_events_message()
