"""Urgent placement over HTTP at city scale: the live day (`fleet.live_day`) against reading the day afresh.

    python benchmarks/urgent.py [--vehicles 1000] [--trips 5000] [--emergencies 20] [--databases sqlite,postgresql]
                                [--postgres-url URL] [--writes 2] [--seed 0]

For each database: a fresh database (SQLite: a file in a temporary folder; PostgreSQL: a new schema and login role,
as ``benchmarks/api_booking.py`` makes them) with the API tests' small city, then ``--vehicles`` vehicles of agency
WH-GA at ``--yards`` yards across Wuhan and ``--trips`` trips assigned to them on one day (bulk-inserted, five a
vehicle two hours apart: a day that is feasible by construction). The app (``create_app``) is served in-process through
Starlette's TestClient, so each figure is the HTTP round trip of ``POST /api/v1/trips`` for an emergency the
dispatcher books with the agency's approval, which places it at once (booking, placement, writing).

Emergencies are booked one after another, alternating between the two paths on the same growing day: ``live``
(the live day, brought up to date from the audit log) and ``afresh`` (``live_day`` off: every placement reads the
whole day and builds its network, the behaviour before). The first ``live`` call builds the day and is reported on
its own. Phase 1 books with nothing else writing; in phase 2, before every emergency another writer changes
``--writes`` assignments through `fleet.assignments.assign` directly (as another worker process or the CLI
would): the live day learns of them only from the audit log. ``--live-only`` books every emergency on the live
day. Besides the wall time, each call's CPU time (client and server share this process) is given: on a machine
shared with other work, the CPU time is what an idle machine's wall time would come near.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DAY = date(2030, 3, 12)
CENTRE = (30.5928, 114.3055)
DEFAULT_POSTGRES = os.environ.get("GONGCHE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def local(hour: int, minute: int = 0) -> datetime:
    from fleet.clock import CHINA

    return datetime.combine(DAY, clock_time(0), CHINA) + timedelta(hours=hour, minutes=minute)


def near(rng: random.Random, point: tuple[float, float], km: float) -> tuple[float, float]:
    north, east = rng.uniform(-km, km), rng.uniform(-km, km)
    return (round(point[0] + north / 111.0, 6), round(point[1] + east / (111.0 * math.cos(math.radians(point[0]))), 6))


@dataclass
class Held:
    trip_id: int
    vehicle_id: int
    pickup: datetime
    earliest: datetime
    latest: datetime


def seed_day(engine: Any, vehicles: int, trips: int, seed: int, template_trip: int, yards: int = 100
             ) -> tuple[list[Held], list[Any]]:
    """Bulk-insert the fleet and the day's assigned trips, cloning rows the services wrote (so every column is as
    the platform writes it); returns the held trips and the yards."""
    import sqlalchemy as sa

    from fleet.assignments import TRAVEL, occupied
    from fleet.enums import AssignmentSource, Category, Priority, TripStatus
    from fleet.models import Assignment, Trip, Vehicle

    rng = random.Random(seed)
    with engine.begin() as conn:
        vehicle_row = dict(conn.execute(sa.select(Vehicle.__table__).where(
            Vehicle.category == Category.law_enforcement).order_by(Vehicle.id).limit(1)).mappings().one())
        trip_row = dict(conn.execute(sa.select(Trip.__table__).where(Trip.id == template_trip)).mappings().one())
        assignment_row = dict(conn.execute(sa.select(Assignment.__table__).where(
            Assignment.trip_id == template_trip)).mappings().one())
        sites = [near(rng, CENTRE, 15.0) for _ in range(yards)]
        rows = []
        for k in range(vehicles):
            yard = sites[k % len(sites)]
            category = Category.emergency if k % 4 == 0 else Category.law_enforcement
            row = {c: v for c, v in vehicle_row.items() if c != "id"}
            row.update(plate=f"鄂X{k:05d}", vin=f"BENCH{k:012d}", terminal_id=None, category=category,
                       seats=7 if k % 4 == 0 else 5, home_lat=yard[0], home_lon=yard[1], range_km=None)
            rows.append(row)
        conn.execute(sa.insert(Vehicle.__table__), rows)
        fleet = conn.execute(sa.select(Vehicle.id, Vehicle.home_lat, Vehicle.home_lon, Vehicle.category).where(
            Vehicle.plate.like("鄂X%")).order_by(Vehicle.plate)).all()
        per_vehicle = max(1, trips // len(fleet))
        plans: list[tuple[int, dict[str, Any], datetime]] = []
        for number in range(trips):
            vehicle = fleet[number // per_vehicle % len(fleet)]
            slot = number % per_vehicle
            pickup_at = local(8) + timedelta(hours=2 * slot, minutes=rng.randrange(0, 40))
            pickup = near(rng, (vehicle.home_lat, vehicle.home_lon), 4.0)
            dropoff = near(rng, pickup, 6.0)
            row = {c: v for c, v in trip_row.items() if c != "id"}
            row.update(
                purpose=f"压测 bench {number}", priority=Priority.routine if rng.random() < 0.6 else
                Priority.law_enforcement, categories=[vehicle.category.value], passengers=2,
                pickup_lat=pickup[0], pickup_lon=pickup[1], dropoff_lat=dropoff[0], dropoff_lon=dropoff[1],
                earliest_pickup=pickup_at, latest_pickup=pickup_at + timedelta(minutes=30),
                dwell_min=rng.randrange(10, 25), planned_km=round(TRAVEL.pair_km(pickup, dropoff), 1),
                status=TripStatus.assigned, idempotency_key=None, dispatch_note=None)
            plans.append((vehicle.id, row, pickup_at))
        conn.execute(sa.insert(Trip.__table__), [row for _, row, _ in plans])
        ids = conn.execute(sa.select(Trip.id).where(Trip.purpose.like("压测 bench %")).order_by(Trip.id)
                           ).scalars().all()
        held, assignments = [], []
        for trip_id, (vehicle_id, row, pickup_at) in zip(ids, plans, strict=True):
            spec = Trip(**{k: v for k, v in row.items() if k in ("planned_km", "dwell_min")})
            starts, ends = occupied(spec, pickup_at)
            assignment = {c: v for c, v in assignment_row.items() if c != "id"}
            assignment.update(trip_id=trip_id, vehicle_id=vehicle_id, driver_id=None, starts_at=starts,
                              ends_at=ends, source=AssignmentSource.dispatch, run_id=None, active=True)
            assignments.append(assignment)
            held.append(Held(trip_id, vehicle_id, pickup_at, row["earliest_pickup"], row["latest_pickup"]))
        conn.execute(sa.insert(Assignment.__table__), assignments)
    return held, sites


@contextmanager
def database(kind: str, folder: Path, postgres_url: str) -> Iterator[Any]:
    from benchmarks import api_booking

    made = api_booking.sqlite_database(folder) if kind == "sqlite" else api_booking.postgresql_database(postgres_url)
    try:
        yield made
    finally:
        made.drop()


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "-"
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return (f"n={len(ordered):3d}  p50 {1000 * statistics.median(ordered):7.1f}  p95 {1000 * p95:7.1f}  "
            f"max {1000 * ordered[-1]:7.1f} ms")


def run(kind: str, args: argparse.Namespace, folder: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keeper import Keeper
    from fleet import clock, live_day
    from fleet.assignments import assign
    from fleet.db import make_engine, unit_of_work
    from fleet.schemas import AssignIn
    from tests.api.conftest import AGENCY_A, trip_body
    from tests.factories import ADMIN

    with database(kind, folder, args.postgres_url) as made:
        engine = make_engine(made.url)
        rng = random.Random(args.seed)
        with TestClient(create_app(engine), raise_server_exceptions=False) as client:
            def call(user: str, method: str, url: str, **kwargs: Any) -> Any:
                return getattr(client, method)(f"/api/v1{url}", headers={
                    "Authorization": f"Bearer {made.tokens[user]}"}, **kwargs)

            # One trip written by the services, to clone: booked, approved, assigned.
            r = call("requester-a", "post", "/trips", json=trip_body(earliest_pickup=local(9).isoformat(),
                                                                     latest_pickup=local(9, 30).isoformat()))
            template = r.json()["id"]
            call("approver-a", "post", f"/trips/{template}/approve", json={"note": "同意"})
            vehicles = call("dispatcher", "get", "/vehicles", params={"limit": 50}).json()["items"]
            le = next(v["id"] for v in vehicles if v["category"] == "law_enforcement")
            r = call("dispatcher", "post", f"/trips/{template}/assign", json={"vehicle_id": le,
                                                                               "pickup_at": local(9).isoformat()})
            assert r.status_code == 200, r.text
            started = time.perf_counter()
            held, yards = seed_day(engine, args.vehicles, args.trips, args.seed, template, args.yards)
            print(f"{kind}: seeded {args.vehicles} vehicles at {args.yards} yards and {len(held)} assigned trips on "
                  f"{DAY} in "
                  f"{time.perf_counter() - started:.1f} s")

            def emergency(number: int) -> tuple[float, dict[str, Any]]:
                yard = yards[rng.randrange(len(yards))]
                pickup = near(rng, yard, 3.0)
                at = local(8) + timedelta(minutes=rng.randrange(0, 10 * 60))
                body = trip_body(priority="emergency", categories=["emergency", "law_enforcement"], purpose="防汛抢险",
                                 agency=AGENCY_A, approval_basis="单位审批人电话同意", dwell_min=20,
                                 pickup={"lat": pickup[0], "lon": pickup[1], "address": f"现场 {number}"},
                                 dropoff={"lat": yard[0], "lon": yard[1], "address": "安置点"},
                                 earliest_pickup=at.isoformat(), latest_pickup=(at + timedelta(minutes=20)).isoformat())
                sent, cpu = time.perf_counter(), time.process_time()
                r = call("dispatcher", "post", "/trips", json=body)
                took = time.perf_counter() - sent
                assert r.status_code == 201, r.text
                cpu_used[0] = time.process_time() - cpu
                return took, r.json()["urgent"]

            def other_writer() -> None:
                """Another process's change: a held trip's pickup moved within its window on its vehicle."""
                for _ in range(args.writes):
                    trip = held[rng.randrange(len(held))]
                    when = trip.earliest + timedelta(minutes=rng.choice((0, 5, 10)))
                    try:
                        with unit_of_work(engine) as session:
                            assign(session, ADMIN, trip_id=trip.trip_id, data=AssignIn(
                                vehicle_id=trip.vehicle_id, pickup_at=when))
                    except Exception:  # displaced or moved by an emergency meanwhile
                        continue

            cpu_used = [0.0]  # CPU seconds of this process (client and server) during the last call
            real_enabled = live_day.enabled
            figures: dict[tuple[str, str], list[float]] = {}
            placed = {"live": 0, "afresh": 0}
            booked = {"live": 0, "afresh": 0}
            first: tuple[float, dict[str, Any]] | None = None
            inner: dict[str, list[float]] = {"live": [], "afresh": []}
            cpu: dict[str, list[float]] = {"live": [], "afresh": []}
            number = 0
            phases = ("alone", "writer", "keeper") if args.keeper else ("alone", "writer")
            for phase in phases:
                moved = contextlib.ExitStack()
                if phase == "keeper":  # the keeper keeps "today": the seeded day's
                    moved.enter_context(clock.travel(local(6)))
                keeper = Keeper(engine, args.keeper).start() if phase == "keeper" else None
                for turn in range(args.emergencies):
                    mode = "live" if turn % 2 == 0 or args.live_only or keeper else "afresh"
                    if phase != "alone":
                        other_writer()
                    if keeper is not None:  # the keeper's next round reads the change before the emergency comes
                        time.sleep(args.keeper + 0.5)
                    live_day.enabled = (lambda: True) if mode == "live" else (lambda: False)  # type: ignore[assignment]
                    try:
                        took, urgent = emergency(number)
                    finally:
                        live_day.enabled = real_enabled  # type: ignore[assignment]
                    number += 1
                    booked[mode] += 1
                    placed[mode] += urgent["vehicle"] is not None
                    if first is None and mode == "live":
                        first = (took, urgent)
                        continue
                    figures.setdefault((phase, mode), []).append(took)
                    cpu[mode].append(cpu_used[0])
                    inner[mode].append(urgent["milliseconds"] / 1000)
                if keeper is not None:
                    keeper.stop()
                moved.close()
            assert first is not None
            print(f"{kind}: first live call (reads and builds the day): {1000 * first[0]:.0f} ms")
            if args.keeper:  # a restart: the live day forgotten, the keeper's first round builds it before the call
                live_day.clear()
                with clock.travel(local(6)):
                    started = time.perf_counter()
                    keeper = Keeper(engine, 3600).start()
                    while keeper.rounds < 1:
                        time.sleep(0.01)
                    built = time.perf_counter() - started
                    took, _ = emergency(number)
                    keeper.stop()
                print(f"{kind}: after a restart, the keeper built the day in {built:.1f} s; the first call then took "
                      f"{1000 * took:.0f} ms")
            labels = {"alone": "nothing else writing", "writer": f"another writer, {args.writes} changes/call",
                      "keeper": f"the same, read by the keeper ({args.keeper} s)"}
            for (phase, mode), samples in figures.items():
                label = labels[phase]
                print(f"{kind}: {mode:6s} {label:34s} {percentiles(samples)}")
            for mode in ("live", "afresh"):
                if not booked[mode]:
                    continue
                print(f"{kind}: {mode:6s} {'placement inside the server':34s} {percentiles(inner[mode])}; "
                      f"placed {placed[mode]} of {booked[mode]}")
                print(f"{kind}: {mode:6s} {'CPU of the whole call (one core)':34s} {percentiles(cpu[mode])}")
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--trips", type=int, default=5000)
    parser.add_argument("--yards", type=int, default=100, help="vehicles share this many home yards (depots)")
    parser.add_argument("--emergencies", type=int, default=20, help="per phase, alternating live / afresh")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--writes", type=int, default=2, help="the other writer's changes before each call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--live-only", action="store_true", help="every call on the live day (no afresh calls)")
    parser.add_argument("--keeper", type=float, default=0.0,
                        help="S > 0: a third phase with the server's keeper (`api.keeper`) every S seconds, the other "
                             "writer's changes S + 0.5 s before each call; and a restart with the keeper")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gongche-urgent-") as tmp:
        folder = Path(tmp)
        os.environ.update({"GONGCHE_AUDIT_KEY": "bench", "GONGCHE_AUDIT_CHECKPOINT_FILE": str(folder / "ckpt.jsonl"),
                           "GONGCHE_ENGINE_PROCESSES": "0", "GONGCHE_LIVE_DAY_KEEP_SECONDS": "0"})
        from fleet.settings import get_settings

        get_settings.cache_clear()
        for kind in args.databases.split(","):
            try:
                run(kind, args, folder)
            except Exception as exc:  # PostgreSQL may be absent: say so, go on
                if kind != "postgresql":
                    raise
                print(f"postgresql: skipped ({type(exc).__name__}: {str(exc)[:200]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

