"""The tracks' loader (``fleet.usage_audit.evidence.tracks``) on SQLite and PostgreSQL: every column read back as
stored, whatever order the fixes were written in, the window's bounds and the vehicle filter kept."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from fleet import clock, positions
from fleet.enums import Category
from fleet.positions import Fix
from fleet.tracks import Track
from fleet.usage_audit import evidence
from tests.factories import agency, jurisdiction_tree, registered
from tests.fleet.usage_audit_data import MONDAY, YARD, local


def _same(got: Track, want: Track) -> None:
    assert got.vehicle_id == want.vehicle_id
    for name in ("t", "lat", "lon", "speed_kmh", "acc", "alarm", "mileage_km", "status"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)  # NaN equals NaN here


def test_every_column_comes_back_as_stored(session: Session) -> None:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 10})
    cars = [registered(session, "WH-GA", home_lat=YARD[0], home_lon=YARD[1]) for _ in range(3)]
    rng = random.Random(7)
    start = local(MONDAY, 8)
    fixes = []
    for car in cars[:2]:
        at = start - timedelta(minutes=5)
        for _ in range(300):
            at += timedelta(seconds=rng.randint(1, 20), microseconds=rng.choice([0, 1, 999_999, rng.randrange(10**6)]))
            fixes.append(Fix(car.id, at, YARD[0] + rng.uniform(-0.2, 0.2), YARD[1] + rng.uniform(-0.2, 0.2),
                             speed_kmh=rng.choice([0.0, rng.uniform(0, 140)]), acc=rng.choice([None, True, False]),
                             alarm=rng.choice([0, 1 << 5, 1 << 8, (1 << 32) - 1]),
                             mileage_km=rng.choice([None, rng.uniform(0, 500_000)]),
                             status=rng.choice([None, 0, 2, 3, (1 << 32) - 1])))
    rng.shuffle(fixes)  # back-fill arrives out of order
    with clock.travel(local(MONDAY, 23)):
        for i in range(0, len(fixes), 97):
            positions.store(session, fixes[i:i + 97])
    session.flush()
    lo, hi = start, start + timedelta(minutes=40)
    for ids in (None, [cars[0].id, cars[1].id, cars[2].id], [cars[1].id]):
        got = evidence.tracks(session, lo, hi, ids)
        wanted = [c.id for c in cars[:2] if ids is None or c.id in ids]
        assert sorted(got) == wanted  # the third car has no fixes: no track
        for vid in wanted:
            _same(got[vid], Track.from_fixes(vid, (f for f in fixes if lo <= f.fixed_at < hi)))
    assert evidence.tracks(session, hi + timedelta(days=1), hi + timedelta(days=2), None) == {}
    assert evidence.tracks(session, lo, hi, []) == {}


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_fixes(session: Session, n: int) -> None:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 10})
    car = registered(session, "WH-GA")
    at = local(MONDAY, 9)
    fixes = [Fix(car.id, at + timedelta(seconds=i), YARD[0], YARD[1]) for i in range(n)]
    with clock.travel(local(MONDAY, 23)):
        positions.store(session, fixes)
    session.flush()
    got = evidence.tracks(session, at, at + timedelta(hours=1), None)
    _same(got[car.id], Track.from_fixes(car.id, fixes))
