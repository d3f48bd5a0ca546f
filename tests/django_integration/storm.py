"""The storm: creates, moves and deletes of scheduled events, faster than delivery.

Used once by the suite (``test_storm.py``) and N times in a row by
``benchmarks/storm.py``. Each ``Storm`` row has a scheduled event ``tb_storm_due``
(its ``due_at``) with four listeners in ``testapp.automations``: created, occurred and
cancelled handlers, and a reminder workflow 2 s before the due time. After the storm:

* every row ever created had its ``created`` handler run exactly once;
* every deleted row had its ``cancelled`` handler run exactly once, and nothing else
  ran for it (no occurrence, no reminder);
* every surviving row occurred exactly once, at (or just after) its *final* due time,
  and its reminder ran exactly once, 2 s before that final time (never at a time it
  was moved away from).

Optional faults run in the middle of the storm (see ``run_storm``'s ``fault``).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from temporalio.api.enums.v1 import EventType

from django_integration.models import Event
from django_integration.outbox import flush
from durable_automation import engine
from durable_automation._core.runtime import call_sync
from tests.django_integration.testapp.automations import STORM_REMINDER
from tests.django_integration.testapp.models import Effect, Storm

__all__ = ["StormPlan", "StormReport", "check_storm", "run_storm", "storm_operations"]

# The server fires a timer on time whatever the worker's load: the time of a run's last
# TimerFired event must be its target, within the timer granularity (1 s) and a loaded
# server's slack. When a handler then *ran* depends on the worker's load: a generous
# bound, only a sanity check (the timer check is the one that sees a lost move).
TIMER_SLACK = timedelta(seconds=1.5)
LATE = timedelta(seconds=30)
EARLY = timedelta(milliseconds=50)  # clock granularity between the DB and the worker


@dataclass
class StormReport:
    """What one storm did and what it found."""

    created: int = 0
    moved: int = 0
    deleted: int = 0
    operations: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise AssertionError listing every problem found."""
        if self.problems:
            raise AssertionError("storm failed:\n  " + "\n  ".join(self.problems[:40]))


@dataclass
class StormPlan:
    """What the storm did to the database: every row's final due time, and the deleted."""

    final: dict[int, datetime] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, object]:
        return {"final": {str(k): v.isoformat() for k, v in self.final.items()},
                "deleted": sorted(self.deleted)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StormPlan:
        final = data["final"]
        assert isinstance(final, dict)
        deleted = data["deleted"]
        assert isinstance(deleted, list)
        return cls({int(k): datetime.fromisoformat(v) for k, v in final.items()},
                   {int(d) for d in deleted})


def storm_operations(rows: int, *, seed: int | None, lead: float,
                     fault: Callable[[int], None] | None = None,
                     report: StormReport | None = None) -> StormPlan:
    """Create, move and delete, interleaved, with no pause: far faster than delivery."""
    rng = random.Random(seed)
    report = report if report is not None else StormReport()
    plan = StormPlan()
    instances: dict[int, Storm] = {}
    t0 = timezone.now()

    def op() -> None:
        report.operations += 1
        if fault is not None and report.operations % 10 == 0:
            fault(report.operations)

    def due(base: float) -> datetime:
        return t0 + timedelta(seconds=lead + base)

    for i in range(rows):
        storm = Storm.objects.create(due_at=due(rng.uniform(0, 4)))
        instances[storm.pk], plan.final[storm.pk] = storm, storm.due_at
        report.created += 1
        op()
        if i and rng.random() < 0.6:  # move an earlier row, maybe for the second time
            pk = rng.choice([p for p in instances if p not in plan.deleted])
            target = instances[pk]
            target.due_at = due(rng.uniform(0, 4))
            target.save()
            plan.final[pk] = target.due_at
            report.moved += 1
            op()
        if i and rng.random() < 0.25:  # delete a row (some right after their creation)
            pk = rng.choice([p for p in instances if p not in plan.deleted])
            instances[pk].delete()
            plan.deleted.add(pk)
            report.deleted += 1
            op()
    return plan


def run_storm(rows: int = 40, *, seed: int | None = None, lead: float = 8.0,
              fault: Callable[[int], None] | None = None, settle: float = 60.0,
              timer_slack: timedelta = TIMER_SLACK) -> StormReport:
    """Run one storm against the dev worker the engine is bound to, and check it.

    Args:
        rows: Rows created.
        seed: For the random moves and deletes (printed by the script on failure).
        lead: Seconds from the storm's start to the earliest final due time.
        fault: Called with the operation index every 10 operations (kill a process,
            stop the server...).
        settle: Seconds to wait, after the last due time, for every handler.
    """
    report = StormReport()
    started = time.monotonic()
    plan = storm_operations(rows, seed=seed, lead=lead, fault=fault, report=report)
    report.seconds = time.monotonic() - started
    if report.seconds > lead - 2 + STORM_REMINDER.total_seconds():
        report.problems.append(f"the storm itself took {report.seconds:.1f}s: too slow to check "
                               "reminders (raise lead)")
    flush(60)
    check_storm(plan, report, settle=settle, timer_slack=timer_slack)
    return report


def last_timer_fired(run_id: str) -> datetime | None:
    """Server time of the run's last TimerFired event (``None``: no timer fired)."""

    async def fetch() -> datetime | None:
        client = await engine._aclient()
        history = await client.get_workflow_handle(run_id).fetch_history()
        fired = [e.event_time.ToDatetime(tzinfo=UTC) for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
        return fired[-1] if fired else None

    return call_sync(engine._ensure().loop, fetch, sync_name="last_timer_fired",
                     async_name="last_timer_fired")


def check_storm(plan: StormPlan, report: StormReport, *, settle: float = 60.0,
                timer_slack: timedelta = TIMER_SLACK) -> None:
    """Wait for every handler the plan implies, then add what is wrong to ``report``."""
    final, deleted = plan.final, plan.deleted
    alive = {pk: at for pk, at in final.items() if pk not in deleted}
    ids = [str(pk) for pk in final]

    def effects(automation: str) -> Counter[str]:
        return Counter(Effect.objects.filter(automation=automation, entity__in=ids)
                       .values_list("entity", flat=True))

    def complete() -> bool:
        return (len(effects("tb_storm_created")) == len(final)
                and len(effects("tb_storm_cancelled")) == len(deleted)
                and len(effects("tb_storm_occurred")) == len(alive)
                and len(effects("tb_storm_reminder")) == len(alive))

    deadline = max(final.values()) + timedelta(seconds=settle)
    while timezone.now() < deadline and not complete():
        time.sleep(0.25)
    time.sleep(1.0)  # anything running twice would show up now

    expected = {
        "tb_storm_created": {str(pk) for pk in final},
        "tb_storm_cancelled": {str(pk) for pk in deleted},
        "tb_storm_occurred": {str(pk) for pk in alive},
        "tb_storm_reminder": {str(pk) for pk in alive},
    }
    for automation, wanted in expected.items():
        seen = effects(automation)
        missing = sorted(wanted - set(seen), key=int)
        extra = sorted(set(seen) - wanted, key=int)
        twice = sorted((e for e, n in seen.items() if n > 1), key=int)
        if missing:
            report.problems.append(f"{automation}: never ran for {missing}")
        if extra:
            report.problems.append(f"{automation}: ran for rows it must not: {extra}")
        if twice:
            report.problems.append(f"{automation}: ran more than once for {twice}")
    for automation, offset, late in (("tb_storm_occurred", timedelta(0), LATE),
                                     ("tb_storm_reminder", STORM_REMINDER, LATE)):
        for entity, ran_at in Effect.objects.filter(automation=automation, entity__in=ids) \
                .values_list("entity", "created_at"):
            pk = int(entity)
            if pk not in alive:
                continue
            at = alive[pk] + offset
            if ran_at < at - EARLY or ran_at > at + late:
                report.problems.append(
                    f"{automation} for {pk} ran at {ran_at.isoformat()}, due "
                    f"{at.isoformat()} ({(ran_at - at).total_seconds():+.2f}s)")
    rows = Event.objects.filter(name="tb_storm_due", entity_id__in=ids)
    # The timers themselves fired at the final times (a lost move fires at an old one).
    for pk, at in alive.items():
        row = rows.filter(entity_id=str(pk), status="occurred").order_by("-id").first()
        if row is None:
            continue  # reported below
        ref = f"testapp.storm:{pk}:{row.pk}"
        for run_id, target in ((f"TbStormReminder:{ref}", at + STORM_REMINDER),
                               (f"event:tb_storm_due:{ref}", at)):
            fired = last_timer_fired(run_id)
            if fired is not None and abs(fired - target) > timer_slack:
                report.problems.append(
                    f"{run_id}: its timer fired at {fired.isoformat()}, target "
                    f"{target.isoformat()} ({(fired - target).total_seconds():+.2f}s)")
    stuck = rows.filter(needs_delivery=True).count()
    dead = rows.filter(dead_at__isnull=False).count()
    if stuck or dead:
        report.problems.append(f"{stuck} event(s) still waiting for delivery, {dead} dead")
    # Every row in its final state: cancelled if deleted, occurred at its final time.
    for pk, at in alive.items():
        row = rows.filter(entity_id=str(pk)).order_by("-id").first()
        if row is None or row.status != "occurred" or row.at != at:
            state = None if row is None else (row.status, row.at)
            report.problems.append(f"row {pk}: final event {state}, expected occurred at {at}")
    for pk in deleted:
        if rows.filter(entity_id=str(pk)).exclude(status="cancelled").exists():
            report.problems.append(f"row {pk} was deleted but an event of it is not cancelled")
