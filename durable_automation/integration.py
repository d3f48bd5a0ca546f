"""Entry points for framework integrations (the Django app uses only these).

A framework integration turns the framework's own happenings into events and
feeds them to the engine, resolves ``event.entity`` with the framework's models,
wraps user code (to manage database connections) and adds its own Temporal
workflows and activities to every worker. Everything it needs is here, so it never
reaches into the SDK's private layers:

- the client: :data:`engine`, :class:`Event`, :class:`EventWire`, :func:`connect`;
- settings: :func:`get_settings`, :func:`configure`, :func:`reset_settings`;
- the registry (which automations listen to which events): :data:`registry`;
- the extension hooks: :func:`add_call_wrapper`, :func:`set_entity_resolver`,
  :class:`WorkerComponent`, :func:`add_worker_component`;
- the client calls for scheduled events' durable timers (a workflow per event,
  which the integration itself provides and registers): :func:`astart_timer`,
  :func:`amove_timer`, :func:`acancel_timer`, and what that workflow needs of the
  core (:data:`SCHEDULED_EVENT_WORKFLOW`, :data:`MOVE_SIGNAL`, :class:`StartInput`,
  and :class:`Alarm`, its wait whose timer a ``move`` never cancels).

Calls go one way: the integration calls the core. The core reaches back only through
the hooks the integration installs for user code (the call wrappers around it, and
the entity resolver behind ``event.entity``).
"""

from __future__ import annotations

from ._client.connect import connect
from ._client.engine import Engine, engine
from ._client.scheduled_event import (
    MOVE_SIGNAL,
    SCHEDULED_EVENT_WORKFLOW,
    acancel_timer,
    amove_timer,
    astart_timer,
)
from ._core.events import Event
from ._core.hooks import (
    WorkerComponent,
    add_call_wrapper,
    add_worker_component,
    set_entity_resolver,
)
from ._core.registry import registry
from ._core.settings import Settings, configure, get_settings, reset_settings
from ._core.wire import EventWire, StartInput
from ._worker.alarm import Alarm

__all__ = [
    "MOVE_SIGNAL",
    "SCHEDULED_EVENT_WORKFLOW",
    "Alarm",
    "Engine",
    "Event",
    "EventWire",
    "Settings",
    "StartInput",
    "WorkerComponent",
    "acancel_timer",
    "add_call_wrapper",
    "add_worker_component",
    "amove_timer",
    "astart_timer",
    "configure",
    "connect",
    "engine",
    "get_settings",
    "registry",
    "reset_settings",
    "set_entity_resolver",
]
