"""A small storm against a real server: every request answered, none with 5xx (a rare 503 with Retry-After aside:
the documented answer under load), nothing double-booked, the audit
chain and rows verified, and the desk kept working while a dispatch run solved (`benchmarks/storm.py` is the full
size, with its figures in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from benchmarks.api_booking import DEFAULT_POSTGRES, Database, postgresql_database, sqlite_database
from benchmarks.storm import Report, run_one

SMALL = argparse.Namespace(clients=50, requests=400, seconds=60, run_seconds=4, seed=1)


def check(report: Report) -> None:
    assert report.dropped == 0, report
    assert report.server_errors == 0, report
    # Shedding load with 503 + Retry-After is the documented answer under load; a rare one is allowed (the CI
    # machine's two cores also run PostgreSQL), a habit is not.
    assert report.overloaded <= report.answers // 100, report
    assert report.answers >= SMALL.requests, report
    assert report.overlaps == 0, report
    assert report.verified.get("ok") is True, report.verified
    assert report.emergencies_stored == report.emergencies_sent, report
    assert report.dispatch_runs.get(200, 0) >= 1, report
    # The long run solved for seconds; bookings were answered meanwhile, not queued behind it.
    assert report.bookings_during_long_run > 0, report


def storm_on(database: Database, tmp_path: Path) -> Report:
    try:
        return run_one(database, SMALL, tmp_path)
    finally:
        database.drop()


def test_a_storm_on_sqlite(tmp_path: Path) -> None:
    check(storm_on(sqlite_database(tmp_path), tmp_path))


@pytest.mark.postgres
def test_a_storm_on_postgresql(postgresql_engine: Engine, tmp_path: Path) -> None:
    check(storm_on(postgresql_database(DEFAULT_POSTGRES), tmp_path))
