"""Agents exercising lookups, index routing, conditions, retries and claim races."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from durable_automation import Retry
from durable_automation.agents import agent, claims, handler
from durable_automation.exceptions import ClaimHeldError


def is_vip(event, ctx):
    return ctx.vip


@agent("ag_property_watch", spawn_on="ag_property_opened", match={"id": "{{ ctx.property_id }}"})
class PropertyWatch:
    class Context(BaseModel):
        property_id: int
        valid_statuses: list[str] = ["confirmed", "checked_in"]
        levels: list[str] = ["high"]
        vip: bool = False
        attempts: int = 0
        seen: list[str] = []

    @classmethod
    def create_context(cls, event):
        return cls.Context(property_id=event.entity.id)

    # Django lookups: traverse a relation, and __in against a Context list.
    @handler("ag_reservation_updated",
             match={"property__id": "{{ ctx.property_id }}",
                    "status__in": "{{ ctx.valid_statuses }}"})
    def on_reservation(self, ctx, event):
        ctx.seen.append(f"reservation:{event.entity_id}")

    # No key field in the match: routed through the index of ctx.levels values.
    @handler("ag_alert_raised", match={"level__in": "{{ ctx.levels }}"})
    def on_alert(self, ctx, event):
        ctx.seen.append(f"alert:{event.entity_id}")

    @handler("ag_levels_changed")
    def change_levels(self, ctx, event):
        ctx.levels = list(event.data["levels"])

    @handler("ag_vip_granted")
    def grant_vip(self, ctx):
        ctx.vip = True

    @handler("ag_inspection_due", offset=timedelta(hours=-1), condition=is_vip)
    def vip_inspection(self, ctx):
        ctx.seen.append("vip_inspection")

    @handler("ag_flaky", retry=Retry(max_attempts=3, base_delay=timedelta(seconds=10)))
    def flaky(self, ctx):
        ctx.attempts += 1
        if ctx.attempts < 2:
            raise RuntimeError("transient")
        ctx.seen.append(f"flaky after {ctx.attempts}")

    @handler("ag_broken")
    def broken(self, ctx):
        raise ValueError("no retry configured")


@agent("ag_claim_racer", spawn_on="ag_racer_started", match={"id": "{{ ctx.racer_id }}"})
class ClaimRacer:
    class Context(BaseModel):
        racer_id: int
        pools: list[str]
        won: bool | None = None

    @classmethod
    def create_context(cls, event):
        return cls.Context(racer_id=event.entity.id, pools=event.entity.pools)

    @handler("ag_grab", match={"pool__in": "{{ ctx.pools }}"})
    def grab(self, ctx, event):
        try:
            claims.hold("ag_job_posted", match={"pool": event.entity.pool})
            ctx.won = True
        except ClaimHeldError:
            ctx.won = False
