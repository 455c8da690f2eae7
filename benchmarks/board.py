"""The day board under a city's load: ``GET /board`` for 300 vehicles and 1,000 trips of one day.

    python benchmarks/board.py [--vehicles 300] [--trips 1000] [--calls 50] [--database-url URL]

Seeds the demo city (武汉市, `gongche.demo.registry_year.seed`: its agencies, quotas, about 290 vehicles and 60
drivers), tops the fleet up to ``vehicles`` at the platform's yard, seals a few vehicles and sends a few to the
workshop (status history in the audit log), and books ``trips`` trips on one day through the services: about half
assigned (with a driver where one is free), a quarter approved and waiting in the queue, the rest requested. Then
the API (in process, over the same database) answers ``GET /board`` ``calls`` times after a warm-up; the table
gives the answer's size, the SQL statements per call, and the median, p95 and slowest latency.

The default database is a SQLite file in a temporary folder; ``--database-url`` names an empty database instead
(migrated here), e.g. a PostgreSQL schema made for the run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

DAY = date(2030, 3, 12)  # a Tuesday, as the API tests book


@dataclass
class Seeded:
    vehicles: int
    trips: int
    assigned: int
    queued: int
    token: str
    seconds: float


def seed(engine: Engine, *, vehicles: int, trips: int, rng: random.Random) -> Seeded:
    """The demo city at ``vehicles`` vehicles, and ``trips`` trips on DAY."""
    from fleet import assignments, bookings, queries, registry, users
    from fleet import clock as platform_clock
    from fleet import vehicles as fleet_vehicles
    from fleet.clock import CHINA
    from fleet.db import unit_of_work
    from fleet.enums import Category, Role, TripStatus, VehicleSource, VehicleStatus
    from fleet.errors import Conflict
    from fleet.models import Vehicle
    from fleet.schemas import AssignIn, QuotaIn, TripIn
    from gongche.demo import registry_year
    from gongche.demo.city import ADMIN, models_for

    started = time.perf_counter()
    seeded_on = date(DAY.year, 1, 15)  # the registry's year runs up to then, on the platform's clock moved there
    with platform_clock.travel(datetime.combine(seeded_on, clock(9, 0), CHINA)), unit_of_work(engine) as session:
        state = registry_year.seed(session, seed=2026, today=seeded_on)
        held = session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) or 0
        extra = max(0, vehicles - held)
        if extra:
            registry.set_quota(session, ADMIN, data=QuotaIn(agency="WH-JGSW", category=Category.general,
                                                            limit=22 + extra, reason="平台扩容(基准测试)"))
            model = models_for(Category.general)[0]
            for _ in range(extra):
                data = registry_year.vehicle_data(state["rng"], state["counters"], agency="WH-JGSW",  # type: ignore[arg-type]
                                                  category=Category.general, model=model,
                                                  acquired_on=date(DAY.year - 2, 6, 1), odometer=30000,
                                                  source=VehicleSource.platform)
                fleet_vehicles.register(session, ADMIN, agency="WH-JGSW", data=data)
        fleet = list(session.scalars(sa.select(Vehicle).order_by(Vehicle.id)))
        for vehicle in rng.sample(fleet, 8):
            fleet_vehicles.seal(session, ADMIN, vehicle_id=vehicle.id, reason="闲置封存")
        for vehicle in rng.sample([v for v in fleet if v.status is VehicleStatus.active], 8):
            fleet_vehicles.maintenance_in(session, ADMIN, vehicle_id=vehicle.id, reason="定期保养")
        token = users.add_user(session, ADMIN, name="基准调度员", role=Role.dispatcher)[1]
    with unit_of_work(engine) as session:
        active = queries.dispatchable_vehicles(session)
        crew = queries.active_drivers(session)
        busy: assignments.DriverCalendar = {}
        next_free = {v.id: datetime.combine(DAY, clock(7, 0), CHINA) for v in active}
        assigned = queued = 0
        for n in range(trips):
            vehicle = rng.choice(active)
            pickup = next_free[vehicle.id] + timedelta(minutes=rng.randint(0, 40))
            roll = rng.random()
            priority = rng.choice(["emergency", "law_enforcement", "routine"])
            booked, _ = bookings.book(session, ADMIN, agency=vehicle.agency.code, approved=roll < 0.8,
                                      data=TripIn.parse({
                "purpose": f"公务出行 {n}", "priority": priority,
                "priority_reason": "突发事件现场处置" if priority == "emergency" else None,
                "categories": [vehicle.category.value], "passengers": 1,
                "pickup": {"lat": vehicle.home_lat, "lon": vehicle.home_lon, "address": f"{vehicle.agency.name}"},
                "dropoff": {"lat": float(vehicle.home_lat or 30.59) + rng.uniform(-0.05, 0.05),
                            "lon": float(vehicle.home_lon or 114.30) + rng.uniform(-0.05, 0.05),
                            "address": f"目的地 {n % 97}"},
                "earliest_pickup": pickup.isoformat(), "latest_pickup": (pickup + timedelta(minutes=30)).isoformat(),
                "dwell_min": rng.choice([15, 30, 60])}))
            if roll < 0.55 and booked.status is TripStatus.approved:
                interval = [assignments.occupied(booked, pickup)]
                driver = assignments.free_driver(vehicle, interval, busy, crew)
                try:
                    assignments.assign(session, ADMIN, trip_id=booked.id, data=AssignIn(
                        vehicle_id=vehicle.id, driver_id=driver.id if driver else None, pickup_at=pickup))
                    assigned += 1
                    next_free[vehicle.id] = interval[0][1] + timedelta(minutes=20)
                except Conflict:
                    queued += 1
            elif booked.status is TripStatus.approved:
                queued += 1
        count = session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) or 0
    return Seeded(int(count), trips, assigned, queued, token, time.perf_counter() - started)


def measure(engine: Engine, token: str, calls: int) -> dict[str, Any]:
    from api.app import create_app

    statements: list[int] = []
    seen = [0]

    def count(*_: Any) -> None:
        seen[0] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    size = 0
    body: dict[str, Any] = {}
    with TestClient(create_app(engine)) as client:
        for _ in range(3):  # warm-up: the app's routes, the pool, SQLite's page cache
            client.get("/api/v1/board", params={"day": DAY.isoformat()}, headers=headers)
        for _ in range(calls):
            seen[0] = 0
            began = time.perf_counter()
            r = client.get("/api/v1/board", params={"day": DAY.isoformat()}, headers=headers)
            latencies.append((time.perf_counter() - began) * 1000)
            assert r.status_code == 200, r.text
            statements.append(seen[0])
            size, body = len(r.content), r.json()
    sa.event.remove(engine, "before_cursor_execute", count)
    latencies.sort()
    return {
        "vehicles": len(body["vehicles"]), "items": len(body["items"]), "queue": len(body["queue"]),
        "kb": size / 1024, "statements": max(statements), "median": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], "max": latencies[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vehicles", type=int, default=300)
    parser.add_argument("--trips", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--database-url", default=None, help="an empty database to seed (default: a SQLite file)")
    args = parser.parse_args(argv)

    from fleet.db import make_engine
    from fleet.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="gongche-board-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'board.db'}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            seeded = seed(engine, vehicles=args.vehicles, trips=args.trips, rng=random.Random(args.seed))
            result = measure(engine, seeded.token, args.calls)
        finally:
            engine.dispose()
    database = url.split(":", 1)[0].split("+", 1)[0]
    print(f"seeded {seeded.vehicles} vehicles and {seeded.trips} trips on {DAY} ({seeded.assigned} assigned, "
          f"{seeded.queued} approved and waiting) in {seeded.seconds:.1f} s on {database}")
    rows = [("database", database), ("vehicles on the board", str(result["vehicles"])),
            ("calendar items", str(result["items"])), ("queue", str(result["queue"])),
            ("answer size", f"{result['kb']:.0f} KiB"), ("SQL statements per call", str(result["statements"])),
            ("calls", str(args.calls)), ("median", f"{result['median']:.1f} ms"), ("p95", f"{result['p95']:.1f} ms"),
            ("slowest", f"{result['max']:.1f} ms")]
    width = max(len(k) for k, _ in rows)
    print(f"{'GET /board':<{width}} | ")
    print(f"{'-' * width}-+-{'-' * 12}")
    for key, value in rows:
        print(f"{key:<{width}} | {value:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
