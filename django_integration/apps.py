"""App configuration: wires events, settings, the entity resolver and the worker component."""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.core.signals import setting_changed
from django.utils.module_loading import autodiscover_modules

__all__ = ["DurableAutomationConfig"]


def _settings_changed(*, setting: str, **_: object) -> None:
    if setting == "DURABLE_AUTOMATION":
        from durable_automation.integration import reset_settings

        reset_settings()


class DurableAutomationConfig(AppConfig):
    """``django_integration``: model events forwarded to Temporal as durable runs."""

    name = "django_integration"
    verbose_name = "Durable automation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from durable_automation.integration import (
            WorkerComponent,
            add_call_wrapper,
            add_worker_component,
            reset_settings,
            set_entity_resolver,
        )

        from . import checks  # noqa: F401 - registers the system checks
        from ._fire import fire_scheduled_event
        from ._resolver import db_connections, resolve_entity
        from ._timer import ScheduledEventWorkflow
        from ._tracking import connect_models

        # Settings are read lazily; forget any cached before Django was configured.
        reset_settings()
        setting_changed.connect(_settings_changed, dispatch_uid="durable_automation.settings")
        set_entity_resolver(resolve_entity)
        add_call_wrapper(db_connections)
        add_worker_component(WorkerComponent(
            "django_integration.scheduled_events",
            workflows=(ScheduledEventWorkflow,), activities=(fire_scheduled_event,),
        ))
        connect_models(apps.get_models())
        # Every installed app's `automations` module registers its decorators, in the
        # web process (to route events) and in the worker (to run them).
        autodiscover_modules("automations")
