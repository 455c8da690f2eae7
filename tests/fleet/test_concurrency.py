"""Writers racing on real databases (committed, not rolled back): the quota and the audit chain hold.

SQLite serialises writers with BEGIN IMMEDIATE; PostgreSQL with row locks on the quota and an advisory lock on
the chain head. Either way: exactly as many successes as there is room for, clean refusals for the rest, and one
unbroken chain.
"""

from __future__ import annotations

import threading
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fleet import audit, vehicles
from fleet.db import unit_of_work
from fleet.enums import Category
from fleet.errors import FleetError
from fleet.models import AuditRecord, Vehicle
from tests.factories import ADMIN, agency, jurisdiction_tree, vehicle_in

THREADS = 8


def race(engine: Engine, n: int, work: object) -> Counter[str]:
    """Run ``work(i)`` in ``n`` threads released together; count outcomes by exception name or 'ok'."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(n)

    def runner(i: int) -> None:
        start.wait()
        try:
            work(i)  # type: ignore[operator]
            result = "ok"
        except FleetError as exc:
            result = exc.code
        except Exception as exc:  # anything else is a bug the assertion below will show
            result = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_racing_for_the_last_quota_slots_admits_exactly_the_room_left(fresh_engine: Engine) -> None:
    """Eight clerks register vehicles at once into an agency with room for three: three succeed, five are
    refused with QuotaExceeded, and the agency holds exactly three."""
    with unit_of_work(fresh_engine) as session:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.law_enforcement: 3})
    data = [vehicle_in(category=Category.law_enforcement) for _ in range(THREADS)]

    def register(i: int) -> None:
        with unit_of_work(fresh_engine) as session:
            vehicles.register(session, ADMIN, agency="WH-GA", data=data[i])

    outcomes = race(fresh_engine, THREADS, register)
    assert outcomes == Counter({"ok": 3, "QuotaExceeded": THREADS - 3})
    with unit_of_work(fresh_engine, readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) == 3
        assert audit.verify(session).ok


def test_concurrent_writers_extend_one_unbroken_chain(fresh_engine: Engine) -> None:
    """Writers in parallel never fork the chain: sequence numbers are 1..N without gaps or duplicates."""
    with unit_of_work(fresh_engine) as session:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.general: 100})
    data = [vehicle_in() for _ in range(THREADS * 3)]

    def register_three(i: int) -> None:
        for k in range(3):
            with unit_of_work(fresh_engine) as session:
                vehicles.register(session, ADMIN, agency="WH-GA", data=data[i * 3 + k])

    outcomes = race(fresh_engine, THREADS, register_three)
    assert outcomes == Counter({"ok": THREADS})
    with unit_of_work(fresh_engine, readonly=True) as session:
        seqs = session.scalars(sa.select(AuditRecord.seq).order_by(AuditRecord.seq)).all()
        assert seqs == list(range(1, len(seqs) + 1))
        result = audit.verify(session)
        assert result.ok, str(result)
        assert session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) == THREADS * 3
