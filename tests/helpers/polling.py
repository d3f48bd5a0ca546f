"""Polling instead of sleeping: wait until a condition holds, or fail with what was seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05,
               message: str = "") -> T:
    """Call ``check`` until it returns a truthy value; return it.

    Raises:
        AssertionError: ``timeout`` seconds passed; includes the last value or error.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {message} (last: {last!r})")
        time.sleep(interval)
