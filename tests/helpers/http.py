"""Plain HTTP probes for tests (health and readiness endpoints)."""

from __future__ import annotations

import urllib.error
import urllib.request

__all__ = ["http_status"]


def http_status(url: str, timeout: float = 10) -> int:
    """The status ``url`` answers a GET with (an error status too), or 0 when nothing
    answers yet (so a readiness loop can keep polling)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except urllib.error.URLError:
        return 0
