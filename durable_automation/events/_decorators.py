"""Decorators of single-step event handlers: ``@on_event`` and friends.

Like the workflow decorators they check every option at decoration time and report
all problems in one :class:`~durable_automation.exceptions.DefinitionError`, then
register a frozen :class:`~durable_automation._core.definitions.HandlerDefinition`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from .._core.batch import Batch
from .._core.definitions import HandlerDefinition, HandlerKind
from .._core.flow import check_flow_arguments, register_flow
from .._core.registry import registry
from .._core.retry import Retry
from ..exceptions import DefinitionError
from ..workflows._failure import check_on_failure
from ._batch import check_batch, register_batched_task
from ._debounce import check_debounce_options, register_batch_task

__all__ = ["on_event", "on_event_cancelled", "on_event_created"]

F = TypeVar("F", bound=Callable[..., Any])


def _handler_decorator(kind: HandlerKind) -> Callable[..., Callable[[F], F]]:
    def decorator(
        event_name: str,
        *,
        name: str | None = None,
        retry: Retry | None = None,
        ignores_claims: bool = False,
        timeout: timedelta | None = None,
        debounce_window: timedelta | float | None = None,
        debounce_key: Callable[[Any], Any] | str | None = None,
        max_wait: timedelta | float | None = None,
        batch: Batch | None = None,
        on_failure: Callable[..., Any] | None = None,
        **flow_options: Any,
    ) -> Callable[[F], F]:
        def register(fn: F) -> F:
            flow, problems = check_flow_arguments(flow_options, ("event",))
            flowing = any(value is not None for value in flow_options.values())
            if flowing and (debounce_window is not None or batch is not None):
                problems.append("concurrency, throttle, rate_limit, priority and fairness_key "
                                "apply to one run per event: not with debounce_window or batch")
            if not callable(fn):
                problems.append(f"{fn!r} is not callable")
            if not isinstance(event_name, str) or not event_name:
                problems.append(f"event_name must be a non-empty string, got {event_name!r}")
            if retry is not None and not isinstance(retry, Retry):
                problems.append(f"retry must be a Retry, got {retry!r}")
            window, limit, debounce_problems = check_debounce_options(
                kind, fn, debounce_window, debounce_key, max_wait, timeout
            )
            problems.extend(debounce_problems)
            problems += check_batch(kind, fn, batch, debounced=debounce_window is not None,
                                    timeout=timeout, on_failure=on_failure)
            problems += check_on_failure(on_failure)
            if on_failure is not None and debounce_window is not None:
                problems.append("on_failure= cannot be combined with debounce_window: a failed "
                                "window is recorded on its debounce workflow")
            target = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
            if problems:
                raise DefinitionError(target, problems)
            definition = HandlerDefinition(
                name=name or fn.__name__, fn=fn, event_name=event_name, kind=kind,
                retry=retry, ignores_claims=ignores_claims, timeout=timeout,
                debounce_window=window, debounce_key=debounce_key, max_wait=limit,
                batch=batch, on_failure=on_failure,
            )
            if window is not None:
                register_batch_task(definition)  # before the handler: see its docstring
            if batch is not None:
                register_batched_task(definition)  # likewise
            registry.add_handler(definition)
            register_flow(definition.name, flow)
            fn.__durable_automation__ = definition  # type: ignore[attr-defined]
            return fn

        return register

    return decorator


on_event = _handler_decorator("occurred")
on_event.__doc__ = """Run the decorated function (it receives the event) each time ``event_name``
occurs.

Args:
    event_name: The event to handle.
    name: Automation name (default: the function's name).
    retry: Retry policy when the handler raises (default: a raising handler fails once).
    ignores_claims: Run even when an agent has claimed the event.
    timeout: Longest one attempt may run (not with ``debounce_window``).
    debounce_window: Debounce the handler (seed 000's debounced event callbacks): it
        runs once the events of a key have been quiet this long, and receives all of
        them, in order, as one list (an :class:`~durable_automation.events.EventBatch`:
        ``def handler(events: list[Event])``). Every event lands in exactly one batch;
        a batch's call runs at least once (again if a worker dies), so use
        ``events.batch_id`` to make its effects idempotent.
    debounce_key: What groups events into windows: a function of the
        :class:`~durable_automation.events.Event` (user code; it may use the ORM) or a
        template such as ``"{{ event.data.guest_id }}"`` or ``"{{ event.entity_id }}"``.
        Default: one window for all the handler's events.
    max_wait: Run at the latest this long after a window's first event, even if events
        keep coming (at least ``debounce_window``; default: no bound).
    batch: Call the handler with lists of events (:class:`~durable_automation.Batch`:
        at most ``max_size`` events, at the latest ``timeout`` after a batch's first
        event, per ``key``); not with ``debounce_window`` (docs/batching.md).
    on_failure: A function ``(event, error)`` run once when a run fails for good
        (docs/failure-hooks.md); not with ``batch`` or ``debounce_window``.
    **flow_options: ``concurrency=``, ``throttle=``, ``rate_limit=``, ``priority=``,
        ``fairness_key=``, ``fairness_weight=``; key templates read ``event``
        (docs/flow-control.md); not with ``debounce_window`` or ``batch``.

Raises:
    DefinitionError: An option is invalid, or options are combined that cannot be.
"""
on_event_created = _handler_decorator("created")
on_event_created.__doc__ = (
    """Run the decorated function when an ``event_name`` event is created (scheduled).""")
on_event_cancelled = _handler_decorator("cancelled")
on_event_cancelled.__doc__ = (
    """Run the decorated function when an ``event_name`` event is cancelled.""")
