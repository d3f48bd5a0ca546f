"""The registry under its path from before the restructure (now ``_core.registry``).

Code outside the SDK imported it from here (the public-API tests still do); new code
uses :data:`durable_automation.integration.registry`.
"""

from __future__ import annotations

from ._core.registry import Registry, import_automation_modules, registry

__all__ = ["Registry", "import_automation_modules", "registry"]
