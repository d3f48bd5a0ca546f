#!/usr/bin/env python
"""The hotel example's manage.py. `python examples/hotel/manage.py demo` runs the demo."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parents[1]))  # the repository, when not pip-installed

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotel.settings")
    if sys.argv[1:2] == ["demo"]:
        # Short real-time offsets so the automations fire within a minute.
        os.environ.setdefault("HOTEL_DEMO", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
