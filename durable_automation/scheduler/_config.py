"""Adding a Scheduler's tasks from a dict or a YAML file (seed 004's configuration)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

from ..exceptions import ConfigurationError
from ._scheduler import Scheduler

__all__ = ["setup_tasks_from_config", "setup_tasks_from_yaml"]


def setup_tasks_from_config(scheduler: Scheduler, config: Mapping[str, Any]) -> list[str]:
    """Add every task of ``config`` to ``scheduler``; return their names.

    ``config`` maps task names to ``{"function": f, "interval": seconds, "enabled": bool}``
    (seed 004) or ``{"function": f, "cron": "0 3 * * *"}``. ``function`` is a function
    or the name of a registered ``@task`` (names never resolve to import paths). A
    top-level ``{"tasks": {...}}`` wrapper, as in the seed's YAML, is accepted.

    Raises:
        ConfigurationError: An entry lacks ``function``, or has neither interval nor cron.
        UnknownTaskError: A function name is not a registered task.
    """
    tasks = config.get("tasks", config) if isinstance(config.get("tasks"), Mapping) else config
    names = []
    for name, entry in tasks.items():
        if not isinstance(entry, Mapping) or "function" not in entry:
            raise ConfigurationError(f"Scheduler task {name!r} needs a 'function' entry")
        if "interval" not in entry and "cron" not in entry:
            raise ConfigurationError(f"Scheduler task {name!r} needs 'interval' or 'cron'")
        scheduler.add_task(name, entry["function"], entry.get("interval"),
                           enabled=bool(entry.get("enabled", True)), cron=entry.get("cron"))
        names.append(name)
    return names


def setup_tasks_from_yaml(
    scheduler: Scheduler, source: str | os.PathLike[str] | IO[str]
) -> list[str]:
    """Like :func:`setup_tasks_from_config`, from a YAML file (a path or an open file)::

        tasks:
          health:
            function: health_check   # a registered @task name
            interval: 60
            enabled: true
    """
    import yaml

    if hasattr(source, "read"):
        config = yaml.safe_load(source)  # type: ignore[arg-type]
    else:
        with open(source, encoding="utf-8") as handle:  # type: ignore[arg-type]
            config = yaml.safe_load(handle)
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"Scheduler YAML {source!r} must hold a mapping of tasks")
    return setup_tasks_from_config(scheduler, config)
