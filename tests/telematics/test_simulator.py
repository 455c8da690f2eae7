"""The terminal simulator against the ingest in this process, on SQLite: a few vehicles' compressed day over real
TCP (2013 and 2019 headers) and OsmAnd HTTP; every fix acknowledged is stored once; the planted misuse (an unbooked
drive to a geofenced scenic spot, an unplugged terminal) is found by the usage audit from the track. The plan itself
(pure) is checked on its own: times in order, road speeds, the signal loss back-filled out of order."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from fleet import assignments, bookings, clock, usage_audit
from fleet.audit import Actor
from fleet.clock import local_moment
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category
from fleet.migrate import upgrade
from fleet.models import Position
from fleet.schemas import AssignIn, OdometerIn, TripIn
from fleet.usage_audit import FindingKind, track_checks
from telematics import simulator
from telematics.ingest import Ingest
from telematics.simulator import Misuse, Protocol
from tests.factories import agency, jurisdiction_tree, registered

ADMIN = Actor("test-admin", "admin")
YARD = (30.5928, 114.3055)  # 武汉 江岸区
# (vehicle index, pickup hour, pickup, drop-off): trips of 7-10 km, the last vehicle busy only in the late afternoon
TRIPS = [
    (0, time(9, 0), (30.600, 114.300), (30.650, 114.360)),
    (0, time(14, 0), (30.560, 114.280), (30.600, 114.200)),
    (1, time(9, 30), (30.590, 114.310), (30.530, 114.370)),
    (1, time(15, 0), (30.580, 114.250), (30.640, 114.300)),
    (2, time(10, 0), (30.610, 114.330), (30.560, 114.400)),
    (3, time(8, 30), (30.585, 114.290), (30.620, 114.220)),
    (4, time(16, 30), (30.595, 114.305), (30.650, 114.250)),
]


def _past_day() -> date:
    """A day that is over, a few days back."""
    return clock.today() - timedelta(days=3)


@pytest.fixture(scope="module")
def day_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, date]]:
    """Five vehicles with terminal numbers and the day's trips booked, assigned, started and completed at their
    hours (the platform's clock moved to each)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('simulator') / 'day.db'}")
    upgrade(engine)
    day = _past_day()
    with clock.travel(local_moment(day - timedelta(days=1), time(9, 0))), unit_of_work(engine) as session:
        jurisdiction_tree(session, live_on=day - timedelta(days=1))
        agency(session, "WH-GA", quotas={Category.general: 10})
        cars = [registered(session, "WH-GA", home_lat=YARD[0] + 0.002 * n, home_lon=YARD[1]) for n in range(5)]
        for n, car in enumerate(cars):
            car.terminal_id = f"0001440{n:013d}" if n == 0 else f"1440{n:07d}"  # 20 digits: a 2019 terminal
        session.flush()
        ids = [car.id for car in cars]
        held = []
        for n, (vehicle, at, pickup, dropoff) in enumerate(TRIPS):
            moment = local_moment(day, at)
            trip, _ = bookings.book(session, ADMIN, agency="WH-GA", approved=True, data=TripIn.parse({
                "purpose": f"公务 {n}", "priority": "routine", "categories": ["general"], "passengers": 1,
                "pickup": {"lat": pickup[0], "lon": pickup[1], "address": "上车点"},
                "dropoff": {"lat": dropoff[0], "lon": dropoff[1], "address": "目的地"},
                "earliest_pickup": moment.isoformat(), "latest_pickup": (moment + timedelta(minutes=20)).isoformat(),
                "dwell_min": 20}))
            assignments.assign(session, ADMIN, trip_id=trip.id, data=AssignIn(vehicle_id=ids[vehicle],
                                                                                pickup_at=moment))
            held.append(trip.id)
    with unit_of_work(engine, readonly=True) as session:
        days, _ = simulator.read_day(session, day)
    windows = {b.trip_id: (b.starts_at, b.ends_at) for v in days for b in v.bookings}
    odometer = {v.vehicle_id: int(v.odometer_km) for v in days}
    for trip_id in held:
        starts, ends = windows[trip_id]
        vehicle = next(v.vehicle_id for v in days if any(b.trip_id == trip_id for b in v.bookings))
        with clock.travel(starts), unit_of_work(engine) as session:
            bookings.start(session, ADMIN, trip_id=trip_id, data=OdometerIn(odometer_km=odometer[vehicle] + 5))
        with clock.travel(ends), unit_of_work(engine) as session:
            bookings.complete(session, ADMIN, trip_id=trip_id, data=OdometerIn(odometer_km=odometer[vehicle] + 20))
        odometer[vehicle] += 40
    yield engine, day
    engine.dispose()


def _plan(engine: Engine, day: date, plant: set[Misuse]) -> simulator.DayPlan:
    with unit_of_work(engine, readonly=True) as session:
        days, without = simulator.read_day(session, day)
    assert without == 0
    return simulator.plan_day(days, day, usage_audit.configured_rules(), plant=plant, seed=3, interval_s=30,
                              osmand_share=0.2)


class TestThePlan:
    def test_each_terminal_reports_in_time_order_at_road_speeds(self, day_db: tuple[Engine, date]) -> None:
        engine, day = day_db
        plan = _plan(engine, day, set())
        assert len(plan.scripts) == 5
        assert {s.protocol for s in plan.scripts} == set(Protocol)
        for script in plan.scripts:
            sent = [fix for item in script.items if not item.backfill for fix in item.fixes]
            assert all(a.at < b.at for a, b in itertools.pairwise(sent))
            every = sorted(fix.at for item in script.items for fix in item.fixes)
            assert len(every) == len(set(every)) == script.fixes
            moving = [fix.speed_kmh for fix in every_fix(script) if fix.speed_kmh > 0]
            assert moving
            assert max(moving) <= 80
            assert 25 <= sum(moving) / len(moving) <= 60
            parked = [fix for fix in every_fix(script) if not fix.acc]
            assert all(fix.speed_kmh == 0 for fix in parked)
            odometer = [fix.mileage_km for fix in sorted(every_fix(script), key=lambda f: f.at)]
            assert odometer == sorted(odometer)

    def test_a_signal_loss_is_back_filled_afterwards_out_of_order(self, day_db: tuple[Engine, date]) -> None:
        engine, day = day_db
        plan = _plan(engine, day, set())
        loss = plan.backfill
        assert loss is not None
        assert loss.fixes >= 5
        (script,) = [s for s in plan.scripts if s.vehicle_id == loss.vehicle_id]
        assert script.protocol is not Protocol.osmand
        batches = [item for item in script.items if item.backfill]
        held = [fix for item in batches for fix in item.fixes]
        assert len(held) == loss.fixes
        assert all(loss.start <= fix.at < loss.end for fix in held)
        assert [f.at for f in held] != sorted(f.at for f in held)  # shuffled
        assert all(item.due >= loss.end for item in batches)  # sent once the signal is back

    def test_the_unplugged_terminal_cuts_power_then_falls_silent(self, day_db: tuple[Engine, date]) -> None:
        engine, day = day_db
        plan = _plan(engine, day, {Misuse.unplugged, Misuse.unbooked})
        (cut,) = [p for p in plan.planted if p.kind is Misuse.unplugged]
        (script,) = [s for s in plan.scripts if s.vehicle_id == cut.vehicle_id]
        fixes = list(every_fix(script))
        alarmed = [f for f in fixes if f.alarm & simulator.ALARM_POWER_CUT]
        assert [f.at for f in alarmed] == [cut.start]
        assert not [f for f in fixes if cut.start < f.at <= cut.end]
        assert cut.end - cut.start >= timedelta(minutes=20)
        (drive,) = [p for p in plan.planted if p.kind is Misuse.unbooked]
        assert drive.vehicle_id != cut.vehicle_id
        assert drive.trip_id is None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def every_fix(script: simulator.Script) -> Iterator[simulator.PlannedFix]:
    return (fix for item in script.items for fix in item.fixes)


async def _drive_against_ingest(engine: Engine, plan: simulator.DayPlan,
                                codes: dict[str, str] | None = None) -> simulator.Report:
    ingest = Ingest(engine)
    ports = await ingest.start("127.0.0.1", 0, 0)
    try:
        return await simulator.drive(plan, host="127.0.0.1", jt808_port=ports["jt808"], osmand_port=ports["osmand"],
                                     speedup=40_000, codes=codes)
    finally:
        await ingest.close()


def test_every_fix_acknowledged_is_stored_once_and_the_audit_finds_the_misuse(
        day_db: tuple[Engine, date]) -> None:
    engine, day = day_db
    plan = _plan(engine, day, {Misuse.unbooked, Misuse.unplugged})
    report = asyncio.run(_drive_against_ingest(engine, plan))
    assert report.register_failures == []
    assert report.registered == 5
    assert report.acknowledged == report.sent == plan.fixes
    assert report.refused == report.unanswered == 0
    assert report.backfilled == (plan.backfill.fixes if plan.backfill else 0) > 0
    with engine.connect() as conn:
        stored = {(v, at) for v, at in conn.execute(sa.select(Position.vehicle_id, Position.fixed_at))}
        count = conn.scalar(sa.select(sa.func.count()).select_from(Position))
    assert count == len(stored)  # once each
    assert {(v, _utc(at)) for v, at in report.acknowledged_keys} == {(v, _utc(at)) for v, at in stored}

    # Run again, the terminals keeping their auth codes (an active terminal may not register again unauthenticated):
    # they resend everything; nothing is stored twice.
    assert len(report.codes) == 4  # the JT/T 808 ones
    again = asyncio.run(_drive_against_ingest(engine, plan, report.codes))
    assert again.register_failures == []
    assert again.acknowledged == plan.fixes
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Position)) == count

    with unit_of_work(engine, readonly=True) as session:
        found = usage_audit.findings(session, start=local_moment(day), end=local_moment(day + timedelta(days=1)))
    by_kind: dict[FindingKind, list[usage_audit.Finding]] = {}
    for finding in found:
        by_kind.setdefault(finding.kind, []).append(finding)
    (drive,) = [p for p in plan.planted if p.kind is Misuse.unbooked]
    (cut,) = [p for p in plan.planted if p.kind is Misuse.unplugged]

    def caught(kind: FindingKind, planted: simulator.Planted) -> list[usage_audit.Finding]:
        return [f for f in by_kind.get(kind, []) if f.vehicle_id == planted.vehicle_id and f.at is not None
                and planted.start - timedelta(minutes=15) <= f.at <= planted.end
                and f.evidence.get("source") == "track"]

    assert caught(FindingKind.unscheduled_drive, drive), found
    assert caught(FindingKind.geofence_entry, drive), found
    assert caught(FindingKind.terminal_offline, cut), found
    planted_vehicles = {drive.vehicle_id, cut.vehicle_id}
    false_alarms = [f for f in found if f.evidence.get("source") == "track" and f.vehicle_id not in planted_vehicles
                    and f.kind in (FindingKind.unscheduled_drive, FindingKind.terminal_offline, FindingKind.detour,
                                   FindingKind.speeding, FindingKind.idling, FindingKind.geofence_entry)]
    assert false_alarms == []


class TestTheCommand:
    """`gongche simulate` refuses bad input with one sentence and exit 2, before any terminal connects."""

    @pytest.mark.parametrize(("args", "says"), [
        (["--plant", "joyride"], "--plant 'joyride' is not one of unbooked-sunday, detour"),
        (["--speedup", "0"], "--speedup must be above 0"),
        (["--day", "2026-02-30"], "--day must be a date like"),
        (["--jt808-port", "70000"], "--jt808-port must be a TCP port"),
    ])
    def test_bad_input(self, args: list[str], says: str, day_db: tuple[Engine, date],
                       monkeypatch: pytest.MonkeyPatch) -> None:
        result = _simulate(day_db[0], monkeypatch, *args)
        assert result.exit_code == 2
        assert says in " ".join(result.output.split())

    def test_a_day_not_over_is_refused(self, day_db: tuple[Engine, date], monkeypatch: pytest.MonkeyPatch) -> None:
        engine, day = day_db
        with clock.travel(local_moment(day, time(12))):  # the day's afternoon and evening trips are still ahead
            result = _simulate(engine, monkeypatch, "--day", day.isoformat())
        assert result.exit_code == 2
        assert "is not over" in " ".join(result.output.split())


def _simulate(engine: Engine, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    from typer.testing import CliRunner

    from fleet.settings import get_settings
    from gongche.cli import app

    monkeypatch.setenv("GONGCHE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["simulate", *args])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@given(home_km=st.floats(0.0, 40.0), trip_km=st.floats(2.0, 25.0), bearing=st.floats(0.0, 360.0),
       home_bearing=st.floats(0.0, 360.0))
@settings(max_examples=60, deadline=None)
def test_a_planted_detour_strays_beyond_the_audit_s_corridor(home_km: float, trip_km: float, bearing: float,
                                                              home_bearing: float) -> None:
    """However far the vehicle's yard (a long home leg widens the corridor the audit allows) and wherever it lies,
    the point a planted detour is driven by way of is beyond that corridor: the audit must be able to find it."""
    rules = usage_audit.configured_rules().tracks
    pickup = (30.59, 114.30)
    dropoff = simulator._moved(pickup, trip_km * 1000, bearing)
    home = simulator._moved(pickup, home_km * 1000, home_bearing)
    at = datetime(2026, 12, 3, 9, tzinfo=UTC)
    booking = simulator.Booking(1, at, at + timedelta(hours=1), pickup, dropoff, trip_km, started=True)
    _, point = simulator._detour(home, booking, rules)
    route = [home, pickup, dropoff]
    away = track_checks.distance_to_route(np.array([point[0]]), np.array([point[1]]), route)[0]
    assert away > track_checks.detour_corridor_m(rules, route)
