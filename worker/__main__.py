"""``python -m worker [MODULE ...]``: same as ``durable-automation worker``.

Configuration comes from ``DURABLE_AUTOMATION_*`` environment variables (ADDRESS,
NAMESPACE, TASK_QUEUE, AUTOMATION_MODULES, API_KEY, TLS, ...), or from Django settings
when ``DJANGO_SETTINGS_MODULE`` is set.
"""

from __future__ import annotations

import os
import sys

from durable_automation.cli import main


def _setup_django() -> None:
    # A worker for a Django project needs the app registry ready before automation
    # modules (which import models) are imported.
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        import django

        django.setup()


if __name__ == "__main__":
    _setup_django()
    main(["worker", *sys.argv[1:]])
