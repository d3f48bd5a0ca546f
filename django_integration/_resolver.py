"""Loading an event's entity, and keeping database connections healthy off the request thread."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.apps import apps
from django.db import close_old_connections

from durable_automation.exceptions import EntityNotFoundError

__all__ = ["db_connections", "resolve_entity", "run_db"]

T = TypeVar("T")


def resolve_entity(entity_type: str, entity_id: str) -> Any:
    """Load the instance ``entity_type`` (``app_label.model``) with primary key ``entity_id``.

    Raises:
        EntityNotFoundError: The model is no longer installed, or the row was deleted.
    """
    try:
        model = apps.get_model(entity_type)
    except (LookupError, ValueError):
        raise EntityNotFoundError(
            entity_type, entity_id,
            f"Cannot load the entity of this event: the model {entity_type!r} no longer "
            "exists (was it removed or renamed, or its app taken out of INSTALLED_APPS?). "
            "The Event row is kept; delete it, or restore the model and re-send it from the "
            "admin.",
        ) from None
    try:
        return model._default_manager.get(pk=entity_id)
    except model.DoesNotExist:
        raise EntityNotFoundError(
            entity_type, entity_id,
            f"Cannot load the entity of this event: {model.__name__} with pk={entity_id!r} "
            "no longer exists (it was deleted after the event was recorded).",
        ) from None


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@contextlib.contextmanager
def db_connections() -> Iterator[None]:
    """Close stale connections before and after a unit of work on a long-lived thread.

    Worker threads live for days: without this they would keep connections that the
    database closed, or hold one open forever (``CONN_MAX_AGE`` as in a request).
    """
    if _in_event_loop():  # async steps: the loop thread never uses the ORM itself
        yield
        return
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


def _call_with_db(fn: Callable[..., T], *args: Any) -> T:
    with db_connections():
        return fn(*args)


async def run_db(fn: Callable[..., T], *args: Any) -> T:
    """Run sync ORM code ``fn(*args)`` on a thread, from async code (Django forbids ORM
    calls on a thread running an event loop)."""
    return await asyncio.to_thread(_call_with_db, fn, *args)
