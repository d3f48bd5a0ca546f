"""Admin for events: filter by name, status and entity, open runs in the Temporal UI, re-send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from durable_automation.integration import get_settings

from .models import Event

__all__ = ["EventAdmin"]


def temporal_ui_url(run_id: str) -> str:
    """Link to a run (workflow id) in the Temporal web UI (``UI_URL`` setting)."""
    settings = get_settings()
    base = (settings.ui_url or "").rstrip("/")
    return (f"{base}/namespaces/{quote(settings.namespace, safe='')}/workflows/"
            f"{quote(run_id, safe='')}")


class EntityTypeFilter(admin.SimpleListFilter):
    """Filter by the entity's model (``app_label.model``)."""

    title = "entity"
    parameter_name = "entity_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        types = Event.objects.order_by().values_list("entity_type", flat=True).distinct()
        return [(t, t) for t in sorted(types)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        value = self.value()
        return queryset.filter(entity_type=value) if value else queryset


class DeliveryFilter(admin.SimpleListFilter):
    """Filter by delivery state: waiting, dead (gave up), delivered."""

    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "waiting"), ("dead", "dead"), ("delivered", "delivered")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        value = self.value()
        if value == "waiting":
            return queryset.filter(needs_delivery=True)
        if value == "dead":
            return queryset.filter(dead_at__isnull=False)
        if value == "delivered":
            return queryset.filter(needs_delivery=False, dead_at__isnull=True)
        return queryset


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events with their delivery state and links to their runs."""

    list_display = ("id", "name", "entity", "status", "at", "occurred_at", "delivery", "runs")
    list_filter = ("name", "status", EntityTypeFilter, DeliveryFilter, "scheduled")
    search_fields = ("name", "entity_id", "error")
    date_hierarchy = "created_at"
    actions = ("resend_events", "cancel_event_runs", "retry_failed_event_runs")
    readonly_fields = [f.name for f in Event._meta.fields] + ["runs"]

    @admin.display(description="entity", ordering="entity_type")
    def entity(self, obj: Event) -> str:
        return obj.entity_ref

    @admin.display(description="delivery")
    def delivery(self, obj: Event) -> str:
        if obj.dead_at is not None:
            return (f"DEAD after {obj.delivery_attempts} attempt(s): "
                    f"{obj.last_delivery_error[:200]} (re-send to retry)")
        if obj.target_errors:
            failed = ", ".join(sorted(obj.target_errors))
            return f"delivered; failed for {failed}"
        if obj.needs_delivery:
            error = f" ({obj.last_delivery_error[:80]})" if obj.last_delivery_error else ""
            return f"waiting, {obj.delivery_attempts} attempt(s){error}"
        return "delivered" if obj.delivered_at else "-"

    @admin.display(description="runs in Temporal")
    def runs(self, obj: Event) -> str:
        ids = obj.run_ids()
        if not ids:
            return "-"
        return format_html_join(
            ", ", '<a href="{}" target="_blank" rel="noopener">{}</a>',
            ((temporal_ui_url(run_id), run_id.split(":", 1)[0]) for run_id in ids),
        ) or format_html("-")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events come from model changes

    @admin.action(description="Re-send selected events to Temporal")
    def resend_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        from durable_automation.exceptions import DurableAutomationError

        from .outbox import resend

        try:
            result = resend(list(queryset))
        except DurableAutomationError as exc:
            self.message_user(request, f"Could not re-send: {exc}", messages.ERROR)
            return
        level = messages.SUCCESS if not (result.failed or result.retry_later) else messages.WARNING
        self.message_user(
            request,
            f"Re-sent {result.delivered} event(s); {result.failed} failed; "
            f"{result.retry_later} left in the outbox (Temporal unreachable).",
            level,
        )

    @admin.action(description="Cancel the runs of selected events")
    def cancel_event_runs(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        from durable_automation import engine

        self._each_run(request, queryset, "cancelled", lambda run_id: engine.get_run(run_id)
                       .cancel())

    @admin.action(description="Retry the failed runs of selected events (from the failed step)")
    def retry_failed_event_runs(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        from durable_automation.operations import retry_run

        self._each_run(request, queryset, "retried", retry_run)

    def _each_run(self, request: HttpRequest, queryset: QuerySet[Event], done: str,
                  act: Callable[[str], object]) -> None:
        """Apply ``act`` to every automation run the events started; report per run."""
        from durable_automation.exceptions import DurableAutomationError

        ok: list[str] = []
        refused: list[str] = []
        for event in queryset:
            # event:... ids are the events' own timers, not automation runs.
            for run_id in (i for i in event.run_ids() if not i.startswith("event:")):
                try:
                    act(run_id)
                except DurableAutomationError as exc:
                    refused.append(f"{run_id}: {exc}")
                else:
                    ok.append(run_id)
        self.message_user(request, f"{len(ok)} run(s) {done}." + (
            f" Left alone: {'; '.join(refused)[:800]}" if refused else ""),
            messages.WARNING if refused else messages.SUCCESS)
