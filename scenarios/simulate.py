"""One simulated day: the booked trips dispatched in one batch, then each emergency inserted as its call comes in.

`simulate_day` is a pure function of its `DayTask` (scenario, fleet scale, replication, day), so tasks can run in
any order on any process or machine and give the same `DayResult`. `simulate_days` runs the days of a fleet-size
sweep that differ only in the fleet's scale as one chain, smallest fleet first: each size also searches from the
plan of the size before (`dispatch.solve(start=...)`) and may keep the size before's day, which its fleet can drive
since the sizes are nested (`scenarios.vehicles.held`). So a larger fleet never serves less than a smaller one, by
the engine's own order (most emergencies, then law enforcement, then routine trips), and a sweep is a frontier
rather than a scatter of independent searches.

An emergency the source says was booked before the day (a replayed registry's, booked the evening before) is
known to the batch like any booked trip; the others are calls, placed when they come in (`dispatch.insert`): at
their earliest pickup less the scenario's notice, or when they were booked if that was earlier.
"""

from __future__ import annotations

import time as clock
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np

from dispatch.exact import min_fleet_at
from dispatch.insert import insert
from dispatch.plan import Plan
from dispatch.problem import PRIORITIES, Depot, Priority, Problem, Trip, Vehicle
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
    sweep: bool = False  # a point of the fleet-size sweep (which runs as a chain), not one of the scenario's own days


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
    sweep: bool = False  # a point of the fleet-size sweep
    # Which day stands for this fleet: its own search ("own"), in a sweep that search started from the size
    # below's batch ("start"), or the size below's day itself ("smaller"), whichever served most (`simulate_days`).
    source: str = "own"

    @property
    def vehicles_used(self) -> int:
        return sum(self.used_by_category.values())

    @property
    def held(self) -> int:
        return sum(self.held_by_category.values())


@dataclass
class _Dispatched:
    """A simulated day's plans, kept for the next larger fleet of a sweep."""

    vehicles: dict[str, SimVehicle]  # the fleet the plans were made for
    batch: dict[str, dict[str, tuple[str, ...]]]  # dispatch group -> vehicle -> trip ids, before the calls
    plans: list[tuple[Plan, Problem]]  # after the calls
    insert_ms: list[float]
    source: str = "own"

    @property
    def rank(self) -> tuple[int, ...]:
        """Served counts in the engine's lexicographic order (most emergencies, then law enforcement, ...), then
        the least empty km."""
        served = dict.fromkeys(PRIORITIES, 0)
        empty = 0.0
        for plan, problem in self.plans:
            priority = {t.id: t.priority for t in problem.trips}
            for route in plan.routes:
                empty += route.empty_km
                for trip in route.trips:
                    served[priority[trip]] += 1
        return (*(served[p] for p in PRIORITIES), -round(empty * 1000))


def simulate_day(task: DayTask) -> DayResult:
    """One day on its own (the scenario's own fleet, or one point of a sweep run alone)."""
    return simulate_days([task])[0]


def simulate_days(tasks: Sequence[DayTask]) -> list[DayResult]:
    """Days that differ only in the fleet's scale, smallest fleet first, each knowing the day of the size before.

    Each size's day is the best, by served counts in the engine's order then empty km, of: its own search; the
    same search started from the previous size's batch plan (``DayResult.source`` "start"); and the previous
    size's day itself ("smaller"), which the larger fleet can drive since it holds every vehicle that day used.
    So a size never serves less than the size before, nor less than its own search alone.
    """
    ordered = sorted(tasks, key=lambda t: t.scale)
    first = ordered[0] if ordered else None
    if first is None:
        return []
    if any((t.scenario, t.replication, t.day, t.sweep) != (first.scenario, first.replication, first.day, first.sweep)
           for t in ordered):
        raise ValueError("a chain of days must differ only in the fleet's scale")
    today = demand.day(first.scenario, first.replication, first.day)
    results: list[DayResult] = []
    before: _Dispatched | None = None
    for task in ordered:
        started = clock.perf_counter()
        vehicles = held(task.scenario, task.scale)
        by_id = {v.id: v for v in vehicles}
        candidates = [_dispatch(task, today, vehicles, None)]
        if before is not None:
            candidates.append(_dispatch(task, today, vehicles, before))
            if _drivable(before, by_id):
                candidates.append(_Dispatched(by_id, before.batch, before.plans, before.insert_ms, "smaller"))
        best = max(candidates, key=lambda c: c.rank)  # the first of equals: the own search, then the started one
        results.append(_result(task, today, vehicles, best.plans, best.insert_ms, clock.perf_counter() - started,
                               best.source))
        before = best
    return results


def _dispatch(task: DayTask, today: demand.Day, vehicles: list[SimVehicle],
              before: _Dispatched | None) -> _Dispatched:
    """The day's batch (started from ``before``'s batch if given), then its calls placed as they come in."""
    scenario = task.scenario
    midnight = datetime.combine(today.date, datetime.min.time(), tzinfo=CST)
    groups: dict[str, tuple[list[SimVehicle], list[Trip]]] = defaultdict(lambda: ([], []))
    separate = scenario.dispatch.mode == "separate"
    for vehicle in vehicles:
        groups[vehicle.agency if separate else "pool"][0].append(vehicle)
    for trip in today.trips:
        groups[today.agency[trip.id] if separate else "pool"][1].append(trip)

    notice = timedelta(minutes=scenario.dispatch.notice_min)
    plans: list[tuple[Plan, Problem]] = []
    batch: dict[str, dict[str, tuple[str, ...]]] = {}
    insert_ms: list[float] = []
    for index, (name, (members, trips)) in enumerate(sorted(groups.items())):
        calls = {t.id: _call(t, today.booked_at.get(t.id), midnight, notice) for t in trips}
        booked = [t for t in trips if calls[t.id] is None]
        urgent = sorted((t for t in trips if calls[t.id] is not None),
                        key=lambda t: (calls[t.id], t.earliest_pickup, t.id))
        problem = _problem(scenario, f"{scenario.name}-{today.date}-{name}", members, booked, trips, midnight)
        # Separate fleets share the pool's time budget by their trips: the same effort, however it is split.
        share = len(trips) / max(len(today.trips), 1)
        work = max(0.05, scenario.dispatch.time_limit_s * share)
        # The work budget stops the search, so a day gives the same plan however loaded the machine; the clock,
        # five times longer, is only a backstop. One process: the runner already keeps every core busy with days.
        # No time for the bounds' LP (bound_seconds=0): a simulated day reads the plan, never its gap; the LP took
        # a third of the day's time (2.4 of 7.4 s on the demo's registry day).
        plan = solve(problem, stop=(WorkBudget(work), MaxRuntime(5 * work + 1)),
                     seed=scenario.seed + 1000 * task.replication + index,
                     start=_start(before, name, members), workers=1, bound_seconds=0)
        batch[name] = {route.vehicle: tuple(route.trips) for route in plan.routes}
        for trip in urgent:  # in the order the calls come in
            placed = insert(plan, problem, trip, now=calls[trip.id])
            plan, problem = placed.plan, placed.problem
            insert_ms.append(placed.seconds * 1000)
        plans.append((plan, problem))
    return _Dispatched({v.id: v for v in vehicles}, batch, plans, insert_ms, "own" if before is None else "start")


def _call(trip: Trip, booked_at: datetime | None, midnight: datetime, notice: timedelta) -> datetime | None:
    """When the dispatcher learns of ``trip``, or None if the day's batch knows it already.

    Law-enforcement and routine trips are booked ahead. An emergency is a call at its earliest pickup less the
    notice, unless the source says it was booked earlier: before the day, it is in the batch like a booking.
    """
    if trip.priority != Priority.emergency or (booked_at is not None and booked_at <= midnight):
        return None
    called = trip.earliest_pickup - notice
    return called if booked_at is None else min(called, booked_at)


def _start(before: _Dispatched | None, group: str, members: list[SimVehicle]) -> dict[str, tuple[str, ...]] | None:
    """The previous size's batch routes of this group's vehicles (a smaller nested fleet: all of them are here)."""
    if before is None:
        return None
    ids = {v.id for v in members}
    routes = {vehicle: trips for vehicle, trips in before.batch.get(group, {}).items() if vehicle in ids and trips}
    return routes or None


def _drivable(before: _Dispatched, vehicles: Mapping[str, SimVehicle]) -> bool:
    """Whether every vehicle the earlier day used is in this fleet, as it was (seats, shift, range, depot)."""
    return all(vehicles.get(route.vehicle) == before.vehicles[route.vehicle]
               for plan, _ in before.plans for route in plan.routes)


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
            insert_ms: list[float], seconds: float, source: str = "own") -> DayResult:
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
        sweep=task.sweep,
        source=source,
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
