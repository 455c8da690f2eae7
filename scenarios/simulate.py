"""One simulated day: the booked trips dispatched in one batch, then each emergency inserted as it arrives.

`simulate_day` is a pure function of its `DayTask` (scenario, fleet scale, replication, day), so tasks can run in
any order on any process or machine and give the same `DayResult`.
"""

from __future__ import annotations

import time as clock
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np

from dispatch.exact import min_fleet_at
from dispatch.insert import insert
from dispatch.plan import Plan
from dispatch.problem import Depot, Priority, Problem, Trip, Vehicle
from dispatch.solve import solve
from dispatch.stop import MaxRuntime, WorkBudget
from dispatch.synthetic.city import CST
from dispatch.travel import Geodesic
from scenarios import demand
from scenarios.spec import Scenario
from scenarios.vehicles import SimVehicle, held

HOURS = 24


@dataclass(frozen=True)
class DayTask:
    scenario: Scenario
    scale: float  # fleet size relative to the scenario's (1.0 but in sweeps)
    replication: int
    day: int


@dataclass
class DayResult:
    """What one day did; `metrics` aggregates many of them."""

    scenario: str
    scale: float
    replication: int
    day: int
    date: str
    working: bool
    surge: bool
    offered: dict[str, int]
    served: dict[str, int]  # by the fleet
    rented: int  # routine trips sent to rental
    rental_km: float
    emergency_delay_s: list[float]  # pickup minus requested time, served emergencies
    empty_km: float
    total_km: float
    km_by_powertrain: dict[str, float]
    held_by_powertrain: dict[str, int]
    held_by_category: dict[str, int]
    used_by_category: dict[str, int]
    min_fleet: dict[str, int]  # per category, vehicles staying within their dispatch group (agency if separate)
    min_fleet_pooled: dict[str, int]  # per category, the same trips at the same times from one pool
    busy_hours: list[float]  # vehicle-hours busy in each hour of the day (0-23)
    seconds: float
    insert_ms: list[float] = field(default_factory=list)

    @property
    def vehicles_used(self) -> int:
        return sum(self.used_by_category.values())

    @property
    def held(self) -> int:
        return sum(self.held_by_category.values())


def simulate_day(task: DayTask) -> DayResult:
    started = clock.perf_counter()
    scenario = task.scenario
    vehicles = held(scenario, task.scale)
    today = demand.day(scenario, task.replication, task.day)
    midnight = datetime.combine(today.date, datetime.min.time(), tzinfo=CST)
    groups: dict[str, tuple[list[SimVehicle], list[Trip]]] = defaultdict(lambda: ([], []))
    separate = scenario.dispatch.mode == "separate"
    for vehicle in vehicles:
        groups[vehicle.agency if separate else "pool"][0].append(vehicle)
    for trip in today.trips:
        groups[today.agency[trip.id] if separate else "pool"][1].append(trip)

    plans: list[tuple[Plan, Problem]] = []
    insert_ms: list[float] = []
    for index, (name, (members, trips)) in enumerate(sorted(groups.items())):
        booked = [t for t in trips if t.priority != Priority.emergency]
        urgent = [t for t in trips if t.priority == Priority.emergency]
        problem = _problem(scenario, f"{scenario.name}-{today.date}-{name}", members, booked, trips, midnight)
        # Separate fleets share the pool's time budget by their trips: the same effort, however it is split.
        share = len(trips) / max(len(today.trips), 1)
        work = max(0.05, scenario.dispatch.time_limit_s * share)
        # The work budget stops the search, so a day gives the same plan however loaded the machine; the clock,
        # five times longer, is only a backstop.
        plan = solve(problem, stop=(WorkBudget(work), MaxRuntime(5 * work + 1)),
                     seed=scenario.seed + 1000 * task.replication + index)
        notice = timedelta(minutes=scenario.dispatch.notice_min)
        for trip in urgent:  # in order of arrival (the day's trips are sorted)
            placed = insert(plan, problem, trip, now=trip.earliest_pickup - notice)
            plan, problem = placed.plan, placed.problem
            insert_ms.append(placed.seconds * 1000)
        plans.append((plan, problem))
    return _result(task, today, vehicles, plans, insert_ms, clock.perf_counter() - started)


def _problem(scenario: Scenario, name: str, vehicles: list[SimVehicle], trips: list[Trip], day: list[Trip],
             midnight: datetime) -> Problem:
    """The batch problem of ``trips``; ``day`` (every trip of the group) only places a depot if it has no vehicle."""
    depots = sorted({v.depot for v in vehicles})
    if not depots:  # an agency without vehicles: the problem still needs a depot, and its trips go unserved
        depots = [(day[0].pickup.lat, day[0].pickup.lon)] if day else [(0.0, 0.0)]
    depot_id = {where: f"D{k + 1}" for k, where in enumerate(depots)}
    return Problem(
        name=name,
        road_factor=scenario.dispatch.road_factor,
        speed_kmh=scenario.dispatch.speed_kmh,
        depots=tuple(Depot(id=i, lat=lat, lon=lon) for (lat, lon), i in depot_id.items()),
        vehicles=tuple(
            Vehicle(
                id=v.id,
                depot=depot_id[v.depot],
                category=v.category,
                seats=v.seats,
                powertrain=v.powertrain,
                range_km=v.range_km,
                shift_start=midnight + timedelta(minutes=v.shift[0]),
                shift_end=midnight + timedelta(minutes=v.shift[1]),
            )
            for v in vehicles
        ),
        trips=tuple(trips),
    )


def _result(task: DayTask, today: demand.Day, vehicles: list[SimVehicle], plans: list[tuple[Plan, Problem]],
            insert_ms: list[float], seconds: float) -> DayResult:
    scenario = task.scenario
    by_id = {v.id: v for v in vehicles}
    offered = _count(t.priority for t in today.trips)
    served: dict[str, int] = {p.value: 0 for p in Priority}
    delays: list[float] = []
    km_by_powertrain: dict[str, float] = defaultdict(float)
    used: dict[str, int] = defaultdict(int)
    busy = np.zeros(HOURS)
    rows: list[tuple[float, float, Trip, SimVehicle]] = []  # pickup (s after midnight), busy s, trip, vehicle
    empty = total = 0.0
    midnight = datetime.combine(today.date, datetime.min.time(), tzinfo=CST).timestamp()
    travel = Geodesic(scenario.dispatch.road_factor, scenario.dispatch.speed_kmh)
    rented, rental_km = 0, 0.0
    for plan, problem in plans:
        trips = {t.id: t for t in problem.trips}
        for route in plan.routes:
            vehicle = by_id[route.vehicle]
            used[vehicle.category.value] += 1
            empty += route.empty_km
            total += route.road_km
            km_by_powertrain[vehicle.powertrain.value] += route.road_km
            where = vehicle.depot
            for trip_id, pickup in zip(route.trips, route.pickups, strict=True):
                trip = trips[trip_id]
                served[trip.priority.value] += 1
                at = pickup.timestamp() - midnight
                if trip.priority == Priority.emergency:
                    delays.append(pickup.timestamp() - trip.earliest_pickup.timestamp())
                to_pickup = _seconds(travel, where, (trip.pickup.lat, trip.pickup.lon))
                loaded = _seconds(travel, (trip.pickup.lat, trip.pickup.lon), (trip.dropoff.lat, trip.dropoff.lon))
                occupied = loaded + float(np.ceil(trip.dwell_min * 60 - 1e-6))
                _add_busy(busy, at - to_pickup, at + occupied)
                rows.append((at, occupied, trip, vehicle))
                where = (trip.dropoff.lat, trip.dropoff.lon)
            back = _seconds(travel, where, vehicle.depot)
            last = rows[-1]
            _add_busy(busy, last[0] + last[1], last[0] + last[1] + back)
        if scenario.rental is not None:
            for miss in plan.unserved:
                if miss.priority == Priority.routine:
                    trip = trips[miss.trip]
                    rented += 1
                    rental_km += travel.pair_km((trip.pickup.lat, trip.pickup.lon),
                                                (trip.dropoff.lat, trip.dropoff.lon))
    own, pooled = _min_fleet(rows, travel, separate=scenario.dispatch.mode == "separate")
    return DayResult(
        scenario=scenario.name,
        scale=task.scale,
        replication=task.replication,
        day=task.day,
        date=today.date.isoformat(),
        working=today.working,
        surge=today.surge,
        offered=offered,
        served=served,
        rented=rented,
        rental_km=round(rental_km, 3),
        emergency_delay_s=delays,
        empty_km=round(empty, 3),
        total_km=round(total, 3),
        km_by_powertrain=dict(km_by_powertrain),
        held_by_powertrain=dict(_count(v.powertrain for v in vehicles)),
        held_by_category=dict(_count(v.category for v in vehicles)),
        used_by_category=dict(used),
        min_fleet=own,
        min_fleet_pooled=pooled,
        busy_hours=[round(float(h), 4) for h in busy / 3600],
        seconds=round(seconds, 3),
        insert_ms=[round(ms, 2) for ms in insert_ms],
    )


def _count(items: Iterable[StrEnum]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item.value] += 1
    return dict(counts)


def _seconds(travel: Geodesic, a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(travel.seconds(np.array([travel.pair_km(a, b)]))[0])


def _add_busy(busy: np.ndarray, start: float, end: float) -> None:
    """Spread a busy interval (seconds after midnight) over the hours of the day; past midnight wraps round."""
    hour = int(start // 3600)
    while start < end:
        stop = min(end, (hour + 1) * 3600)
        busy[hour % HOURS] += stop - start
        start, hour = stop, hour + 1


def _min_fleet(rows: list[tuple[float, float, Trip, SimVehicle]], travel: Geodesic, *,
               separate: bool) -> tuple[dict[str, int], dict[str, int]]:
    """Exact fewest vehicles per category for the trips served, at the times they were served: within each
    agency when dispatch is separate, and from one pool."""
    own: dict[str, int] = {}
    pooled: dict[str, int] = {}
    for category in sorted({row[3].category for row in rows}):
        mine = [row for row in rows if row[3].category == category]
        pickup = np.array([row[0] for row in mine], dtype=float)
        occupied = np.array([row[1] for row in mine], dtype=float)
        pick = np.array([(row[2].pickup.lat, row[2].pickup.lon) for row in mine])
        drop = np.array([(row[2].dropoff.lat, row[2].dropoff.lon) for row in mine])
        agencies = sorted({row[3].agency for row in mine})
        agency = np.array([agencies.index(row[3].agency) for row in mine])
        pooled[category.value] = min_fleet_at(pickup, occupied, pick, drop, np.zeros(len(mine)), travel)
        own[category.value] = (min_fleet_at(pickup, occupied, pick, drop, agency, travel) if separate
                               else pooled[category.value])
    return own, pooled
