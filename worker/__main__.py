"""``python -m worker [MODULE ...]``: the deployable worker.

Without Django it is ``durable-automation worker``, configured by ``DURABLE_AUTOMATION_*``
environment variables (ADDRESS, NAMESPACE, TASK_QUEUE, AUTOMATION_MODULES, API_KEY, TLS, ...).
With ``DJANGO_SETTINGS_MODULE`` set it sets Django up and runs the Django worker, which
also relays events left in the outbox (``DURABLE_AUTOMATION`` in the Django settings).
"""

from __future__ import annotations

import os
import sys

from durable_automation.cli import main


def _main(argv: list[str]) -> None:
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        main(["worker", *argv])
        return
    import django

    django.setup()
    from django_integration.worker import run_django_worker
    from durable_automation.cli import exit_process

    code = 0
    try:
        run_django_worker(argv)
    except KeyboardInterrupt:
        code = 130
    exit_process(code)


if __name__ == "__main__":
    _main(sys.argv[1:])
