"""The storm, once (``benchmarks/storm.py`` runs it N times in a row): creates, moves and
deletes faster than delivery run every handler exactly once, reminders at final times only,
a cancellation for each deleted row."""

from __future__ import annotations

from tests.django_integration.storm import run_storm


def test_storm_runs_every_handler_exactly_once_at_its_final_time(dev_worker, outbox):
    report = run_storm(rows=40, seed=11)
    assert report.deleted and report.moved
    report.check()
