"""Long-running agents: ``@agent``, ``@handler``, ``AgentManager`` and event ``claims``.

::

    @agent("reservation_journey", spawn_on="reservation_created",
           match={"id": "{{ ctx.reservation_id }}"})
    class ReservationJourney:
        class Context(BaseModel):
            reservation_id: int

        @classmethod
        def create_context(cls, event):
            return cls.Context(reservation_id=event.entity.id)

        @handler("checkin_due", offset=timedelta(hours=-3))
        def send_pre_checkin(self, ctx): ...

Each instance is one Temporal workflow (``agent:<name>:<key>``, e.g.
``agent:reservation_journey:id=42``) whose type is the agent's name, so the UI
lists and filters them by name and key. See ``docs/agents.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import (
    _claims,
    _install,  # noqa: F401 - plugs agents into the core
)
from ._definitions import AgentDefinition, AgentHandlerDefinition, agent, handler
from ._manager import AgentManager, AgentRun
from ._wire import AgentState, AgentTimer, HandlerRecord

__all__ = [
    "AgentDefinition",
    "AgentHandlerDefinition",
    "AgentManager",
    "AgentRun",
    "AgentState",
    "AgentTimer",
    "Claims",
    "HandlerRecord",
    "agent",
    "claims",
    "handler",
]


class Claims:
    """``claims.hold`` / ``claims.release`` (and async twins), for use inside agent handlers.

    A claim makes events of ``event_name`` whose entity matches ``match`` go only to
    the claiming agent; ``@on_event`` handlers, event workflows, ``wait_for_event``
    and other agents skip them unless declared ``ignores_claims=True``.
    """

    @staticmethod
    def hold(event_name: str, match: Mapping[str, Any] | None = None, *,
             holder: str | None = None) -> None:
        """Claim matching events for the running agent (raises ``ClaimHeldError`` if taken)."""
        _claims.hold(event_name, match, holder=holder)

    @staticmethod
    async def ahold(event_name: str, match: Mapping[str, Any] | None = None, *,
                    holder: str | None = None) -> None:
        """Async twin of :meth:`hold`."""
        await _claims.ahold(event_name, match, holder=holder)

    @staticmethod
    def release(event_name: str, match: Mapping[str, Any] | None = None, *,
                holder: str | None = None) -> bool:
        """Release the running agent's claim (``match=None``: all its claims on the event)."""
        return _claims.release(event_name, match, holder=holder)

    @staticmethod
    async def arelease(event_name: str, match: Mapping[str, Any] | None = None, *,
                       holder: str | None = None) -> bool:
        """Async twin of :meth:`release`."""
        return await _claims.arelease(event_name, match, holder=holder)

    @staticmethod
    def holder(event_name: str, match: Mapping[str, Any] | None = None) -> str | None:
        """Run id of the agent holding exactly this claim, or ``None``."""
        return _claims.holder_of(event_name, match)

    @staticmethod
    async def aholder(event_name: str, match: Mapping[str, Any] | None = None) -> str | None:
        """Async twin of :meth:`holder`."""
        return await _claims.aholder(event_name, match)


claims = Claims()
