"""System checks for mistakes a user can make (``manage.py check``, ``check --deploy``).

=========================  ==============================================================
``durable_automation.E001``  a model's ``events`` is not a list of ``EventDefinition``
``durable_automation.E002``  ``date_field`` names no field of the model
``durable_automation.E003``  ``date_field`` is not a ``DateTimeField``
``durable_automation.E004``  two definitions on one model share an event name
``durable_automation.E005``  ``DURABLE_AUTOMATION`` is invalid
``durable_automation.E006``  ``django.contrib.contenttypes`` is not installed
``durable_automation.W001``  an automation listens to an event no model declares
``durable_automation.W002``  (deploy) the Temporal server is not reachable
``durable_automation.E007``  (deploy) a run in flight no longer fits the code (stranded)
``durable_automation.W003``  (deploy) runs in flight could not be checked
=========================  ==============================================================
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import models

from ._definitions import EventDefinition

__all__ = [
    "check_event_definitions",
    "check_listeners",
    "check_model_events",
    "check_settings",
    "check_stranded_runs",
    "check_temporal_reachable",
]


def _models(app_configs: Sequence[AppConfig] | None) -> Iterable[type[models.Model]]:
    if app_configs is None:
        return apps.get_models()
    return [m for config in app_configs for m in config.get_models()]


@register(Tags.models)
def check_event_definitions(app_configs: Sequence[AppConfig] | None = None,
                            **_: Any) -> list[CheckMessage]:
    """E001-E004: each model's ``events`` declarations."""
    return [m for model in _models(app_configs) for m in check_model_events(model)]


def check_model_events(model: type[models.Model]) -> list[CheckMessage]:
    """E001-E004 for one model."""
    found: list[CheckMessage] = []
    declared = getattr(model, "events", None)
    if declared is None or hasattr(declared, "__get__"):
        return found  # not declared, or a relation/descriptor that happens to be called events
    label = model._meta.label
    if not isinstance(declared, (list, tuple)) or not all(
            isinstance(d, EventDefinition) for d in declared):
        found.append(Error(
            f"{label}.events must be a list of EventDefinition, got {declared!r}",
            hint="from django_integration import EventDefinition; "
                 "events = [EventDefinition('name', condition=...)]",
            obj=model, id="durable_automation.E001"))
        return found
    seen: set[str] = set()
    for definition in declared:
        if definition.name in seen:
            found.append(Error(
                f"{label} declares the event {definition.name!r} twice",
                hint="Give each EventDefinition of a model its own name.",
                obj=model, id="durable_automation.E004"))
        seen.add(definition.name)
        if definition.date_field is None:
            continue
        try:
            field = model._meta.get_field(definition.date_field)
        except Exception:  # noqa: BLE001 - FieldDoesNotExist
            found.append(Error(
                f"{label}: event {definition.name!r} has date_field="
                f"{definition.date_field!r}, which is not a field of {model.__name__}",
                hint="Name a DateTimeField of the model.",
                obj=model, id="durable_automation.E002"))
            continue
        if not isinstance(field, models.DateTimeField):
            found.append(Error(
                f"{label}: event {definition.name!r} has date_field="
                f"{definition.date_field!r}, a {type(field).__name__}, not a DateTimeField",
                hint="A scheduled event needs a point in time: use a DateTimeField "
                     "(a DateField has no time of day or time zone).",
                obj=model, id="durable_automation.E003"))
    return found


@register()
def check_settings(app_configs: Sequence[AppConfig] | None = None,
                   **_: Any) -> list[CheckMessage]:
    """E005, E006: the settings dict and the apps this one needs."""
    from durable_automation.exceptions import DurableAutomationError
    from durable_automation.integration import get_settings, reset_settings

    found: list[CheckMessage] = []
    reset_settings()
    try:
        get_settings()
    except DurableAutomationError as exc:
        found.append(Error(str(exc), hint="Fix settings.DURABLE_AUTOMATION.",
                           id="durable_automation.E005"))
    if not apps.is_installed("django.contrib.contenttypes"):
        found.append(Error(
            "django_integration needs django.contrib.contenttypes",
            hint="Add 'django.contrib.contenttypes' to INSTALLED_APPS.",
            id="durable_automation.E006"))
    return found


def declared_event_names() -> set[str]:
    """Every event name some installed model declares."""
    names: set[str] = set()
    for model in apps.get_models():
        declared = getattr(model, "events", None)
        if isinstance(declared, (list, tuple)):
            names |= {d.name for d in declared if isinstance(d, EventDefinition)}
    return names


@register()
def check_listeners(app_configs: Sequence[AppConfig] | None = None,
                    **_: Any) -> list[CheckMessage]:
    """W001: ``@on_event``/``@event_workflow``/``wait`` targets no model declares."""
    from durable_automation.integration import registry

    if app_configs is not None:
        return []  # about the whole project, not one app
    declared = declared_event_names()
    found: list[CheckMessage] = []
    for name in sorted(registry.event_names() - declared):
        users = [d.name for d in registry.event_workflows(name)]
        users += [h.name for kind in ("occurred", "created", "cancelled")
                  for h in registry.event_handlers(name, kind)]
        found.append(Warning(
            f"{', '.join(users)} listen(s) to the event {name!r}, which no model declares",
            hint="Add EventDefinition(" + repr(name) + ", ...) to a model's events, fix the "
                 "spelling, or ignore this if the event is sent with engine.emit(). Declared: "
                 + (", ".join(sorted(declared)) or "none"),
            id="durable_automation.W001"))
    return found


@register(Tags.compatibility, deploy=True)
def check_temporal_reachable(app_configs: Sequence[AppConfig] | None = None,
                             **_: Any) -> list[CheckMessage]:
    """W002 (deploy): a TCP connection to the configured Temporal address succeeds."""
    from durable_automation.integration import get_settings

    try:
        address = get_settings().address
    except Exception:  # noqa: BLE001 - reported by E005
        return []
    host, _sep, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=2):
            return []
    except (OSError, ValueError) as exc:
        return [Warning(
            f"Cannot reach the Temporal server at {address}: {exc}",
            hint="Start it (or `manage.py automation_dev` locally) or fix "
                 "DURABLE_AUTOMATION['ADDRESS']. Events are kept in the outbox meanwhile and "
                 "delivered once it is reachable.",
            id="durable_automation.W002")]


@register("durable_automation", deploy=True)
def check_stranded_runs(app_configs: Sequence[AppConfig] | None = None,
                        **_: Any) -> list[CheckMessage]:
    """E007 (deploy): runs in flight the code about to run can no longer carry on."""
    from durable_automation.exceptions import DurableAutomationError
    from durable_automation.operations import check_stranded_runs as find_stranded

    if app_configs is not None:
        return []  # about the whole project, not one app
    try:
        report = find_stranded()
    except DurableAutomationError as exc:
        return [Warning(
            f"Could not check the runs in flight for ones this code would strand: {exc}",
            hint="Run `manage.py check --deploy` where the Temporal server is reachable, or "
                 "`durable-automation check` in the release step (docs/deploy-safety.md).",
            id="durable_automation.W003")]
    return [Error(
        stranded.describe(),
        hint="Keep the old step/automation until its runs end, map renamed steps with "
             "renamed_steps={...}, give new Context fields defaults, or cancel the runs "
             "(durable-automation runs cancel ...). See docs/deploy-safety.md.",
        id="durable_automation.E007") for stranded in report.stranded]
