"""From the registry to the dispatch engine: batch runs over booked trips, urgent insertion, and demo days.

A run sees each vehicle as its free stretches: its hours on duty minus what it already holds and the drives to
and from it, each stretch starting and ending at the yard. So the engine needs no notion of pinned trips, and
nothing it plans can collide with an assignment already made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import fmean
from time import perf_counter
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch.insert import Placement, insert
from dispatch.plan import Plan
from dispatch.problem import Problem
from dispatch.solve import InfeasibleRoutes, plan_of, solve
from dispatch.synthetic import city_instance
from fleet import audit
from fleet.audit import Actor
from fleet.bookings import CHINA, TRAVEL, assign, assignments_between, licence_allows, occupied, on_shift, trip
from fleet.db import atomic
from fleet.enums import AssignmentSource, Category, TripStatus, VehicleStatus
from fleet.errors import FleetError, InvalidInput, InvalidState
from fleet.models import Agency, Assignment, DispatchRun, Driver, Trip, Vehicle
from fleet.schemas import AssignIn

_ROUND_THE_CLOCK = {Category.emergency}  # 应急保障 vehicles are on call day and night


def available(session: Session) -> list[Vehicle]:
    """Vehicles that can be dispatched: active (not sealed, disposed of or in the workshop), with a home yard."""
    query = (
        sa.select(Vehicle)
        .where(Vehicle.status == VehicleStatus.active, Vehicle.home_lat.is_not(None))
        .order_by(Vehicle.plate)
    )
    return list(session.scalars(query))


def problem_for_day(session: Session, day: date, *, trips_per_vehicle: float = 3.0, seed: int = 0) -> dict[str, Any]:
    """An exchange-format instance: today's available vehicles at their agencies' yards, and a day of requests."""
    vehicles = available(session)
    by_agency: dict[int, list[Vehicle]] = {}
    for vehicle in vehicles:
        by_agency.setdefault(vehicle.agency_id, []).append(vehicle)
    rows = session.execute(sa.select(Agency.id, Agency.code).where(Agency.id.in_(by_agency)))
    codes: dict[int, str] = {agency: code for agency, code in rows}
    depots = [
        {
            "id": codes[agency],
            "lat": round(fmean(v.home_lat for v in held if v.home_lat is not None), 6),
            "lon": round(fmean(v.home_lon for v in held if v.home_lon is not None), 6),
        }
        for agency, held in sorted(by_agency.items(), key=lambda item: codes[item[0]])
    ]
    morning = datetime.combine(day, time(7, 30), CHINA)
    evening = datetime.combine(day, time(19, 30), CHINA)
    midnight = datetime.combine(day, time(0, 0), CHINA)
    fleet = [
        {
            "id": v.plate,
            "depot": codes[v.agency_id],
            "category": v.category.value,
            "seats": v.seats,
            "powertrain": v.powertrain.value,
            "range_km": v.range_km,
            "shift_start": (midnight if v.category in _ROUND_THE_CLOCK else morning).isoformat(),
            "shift_end": (
                midnight + timedelta(days=1) - timedelta(minutes=1) if v.category in _ROUND_THE_CLOCK else evening
            ).isoformat(),
        }
        for v in vehicles
    ]
    requests = city_instance(max(1, len(fleet)), round(len(fleet) * trips_per_vehicle), seed=seed, day=day)
    return {
        "format": "dispatch/1",
        "name": f"wuhan-{day.isoformat()}",
        "road_factor": requests["road_factor"],
        "speed_kmh": requests["speed_kmh"],
        "depots": depots,
        "vehicles": fleet,
        "trips": requests["trips"],
    }


# --- Dispatching booked trips -------------------------------------------------------------------------------------

WORKDAY = (time(7, 30), time(19, 30))  # non-emergency vehicles' service hours, local time
MIN_SEGMENT = timedelta(minutes=10)
# How far past the last pickup a run (or an insertion) looks: long enough to finish any trip and drive home, so a
# trip late in the window is not refused for the want of a shift end.
HORIZON_TAIL = timedelta(hours=12)
TRIP_LIMIT = 5000  # trips per run: the engine's city-scale size, and a bound on one request's work


class Unavailable(FleetError):
    """The engine gave no plan in time (HTTP 503): nothing was assigned."""

    status = 503


@dataclass(frozen=True)
class Segment:
    """A stretch of one vehicle's day free of existing assignments: one engine vehicle."""

    vehicle: Vehicle
    start: datetime
    end: datetime
    range_km: float | None


def service_hours(vehicle: Vehicle, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The vehicle's hours on duty within [start, end): round the clock for emergency vehicles."""
    if vehicle.category in _ROUND_THE_CLOCK:
        return [(start, end)]
    hours = []
    day = start.astimezone(CHINA).date() - timedelta(days=1)
    while datetime.combine(day, WORKDAY[0], CHINA) < end:
        opens = max(start, datetime.combine(day, WORKDAY[0], CHINA))
        closes = min(end, datetime.combine(day, WORKDAY[1], CHINA))
        if opens < closes:
            hours.append((opens, closes))
        day += timedelta(days=1)
    return hours


def _home(vehicle: Vehicle) -> tuple[float, float]:
    assert vehicle.home_lat is not None  # available() keeps only vehicles with a yard
    assert vehicle.home_lon is not None
    return vehicle.home_lat, vehicle.home_lon


def _drive(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, timedelta]:
    km = TRAVEL.pair_km(a, b)
    return km, timedelta(seconds=float(TRAVEL.seconds(np.asarray(km))))


def segments(vehicle: Vehicle, start: datetime, end: datetime, held: Sequence[Assignment]) -> list[Segment]:
    """The vehicle's free stretches: its hours minus each held assignment and the drives to and from it.

    A stretch begins and ends at the yard, so a plan inside it can never collide with what is already held; the
    battery range left after the held trips' round drives is shared evenly between the stretches.
    """
    home = _home(vehicle)
    busy: list[tuple[datetime, datetime]] = []
    used_km = 0.0
    for holding in held:
        booked = holding.trip
        km_in, drive_in = _drive(home, (booked.pickup_lat, booked.pickup_lon))
        km_out, drive_out = _drive((booked.dropoff_lat, booked.dropoff_lon), home)
        busy.append((holding.starts_at - drive_in, holding.ends_at + drive_out))
        used_km += km_in + booked.planned_km + km_out
    free: list[tuple[datetime, datetime]] = []
    for opens, closes in service_hours(vehicle, start, end):
        cursor = opens
        for taken_from, taken_to in sorted(busy):
            if taken_to <= cursor or taken_from >= closes:
                continue
            if taken_from - cursor >= MIN_SEGMENT:
                free.append((cursor, taken_from))
            cursor = max(cursor, taken_to)
        if closes - cursor >= MIN_SEGMENT:
            free.append((cursor, closes))
    if vehicle.range_km is None:
        return [Segment(vehicle, s, e, None) for s, e in free]
    left = (vehicle.range_km - used_km) / max(1, len(free))
    return [Segment(vehicle, s, e, left) for s, e in free if left > 1.0]


def trip_row(booked: Trip) -> dict[str, Any]:
    """A booked trip in the exchange format; its id is the trip's id."""
    return {
        "id": str(booked.id), "priority": booked.priority.value, "categories": booked.categories,
        "passengers": booked.passengers,
        "pickup": {"lat": booked.pickup_lat, "lon": booked.pickup_lon},
        "dropoff": {"lat": booked.dropoff_lat, "lon": booked.dropoff_lon},
        "earliest_pickup": booked.earliest_pickup.isoformat(), "latest_pickup": booked.latest_pickup.isoformat(),
        "dwell_min": booked.dwell_min,
    }


def problem_of(name: str, stretches: Sequence[Segment], trips: Sequence[Trip]) -> tuple[Problem, dict[str, Segment]]:
    """The exchange-format problem of free stretches and trips; each yard is a depot. Returns the stretch by id."""
    depots: dict[tuple[float, float], str] = {}
    by_id: dict[str, Segment] = {}
    rows = []
    count: dict[int, int] = {}
    for stretch in stretches:
        home = _home(stretch.vehicle)
        depot = depots.setdefault(home, f"yard-{len(depots) + 1}")
        count[stretch.vehicle.id] = count.get(stretch.vehicle.id, 0) + 1
        key = f"{stretch.vehicle.plate}#{count[stretch.vehicle.id]}"
        by_id[key] = stretch
        rows.append({
            "id": key, "depot": depot, "category": stretch.vehicle.category.value, "seats": stretch.vehicle.seats,
            "powertrain": stretch.vehicle.powertrain.value, "range_km": stretch.range_km,
            "shift_start": stretch.start.isoformat(), "shift_end": stretch.end.isoformat(),
        })
    data = {
        "format": "dispatch/1", "name": name, "road_factor": TRAVEL.road_factor, "speed_kmh": TRAVEL.speed_kmh,
        "depots": [{"id": d, "lat": lat, "lon": lon} for (lat, lon), d in depots.items()] or
                  [{"id": "none", "lat": 0.0, "lon": 0.0}],
        "vehicles": rows, "trips": [trip_row(t) for t in trips],
    }
    return Problem.parse(data), by_id


def _free_driver(vehicle: Vehicle, intervals: Sequence[tuple[datetime, datetime]],
                 busy: dict[int, list[tuple[datetime, datetime]]], drivers: Sequence[Driver],
                 prefer: frozenset[int] = frozenset()) -> Driver | None:
    """A driver for the whole route: one already driving the vehicle (``prefer``), then the vehicle's agency's
    own, then the platform pool."""
    order = sorted(drivers, key=lambda d: (d.id not in prefer, d.agency_id != vehicle.agency_id, d.id))
    for driver in order:
        if driver.id not in prefer and driver.agency_id not in (None, vehicle.agency_id):
            continue
        if not licence_allows(driver.licence_class, vehicle.seats):
            continue
        if not all(on_shift(driver, s, e) for s, e in intervals):
            continue
        taken = busy.get(driver.id, [])
        if any(s < te and ts < e for s, e in intervals for ts, te in taken):
            continue
        busy.setdefault(driver.id, []).extend(intervals)
        return driver
    return None


def _driver_calendar(session: Session, start: datetime, end: datetime) -> dict[int, list[tuple[datetime, datetime]]]:
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for holding in assignments_between(session, start - timedelta(days=1), end + timedelta(days=1)):
        if holding.driver_id is not None:
            busy.setdefault(holding.driver_id, []).append((holding.starts_at, holding.ends_at))
    return busy


def _active_drivers(session: Session) -> list[Driver]:
    return list(session.scalars(sa.select(Driver).where(Driver.active)))


@atomic
def run(session: Session, actor: Actor, *, start: datetime, end: datetime, time_limit: float = 10.0,
        seed: int = 0) -> tuple[DispatchRun, Plan]:
    """Dispatch the approved trips picked up in [start, end) over the free vehicles, in one transaction."""
    if end <= start:
        raise InvalidInput("the window ends before it starts", field="end")
    if end - start > timedelta(days=2):
        raise InvalidInput("a dispatch window spans at most 2 days", field="end")
    trips = list(session.scalars(
        sa.select(Trip).where(Trip.status == TripStatus.approved, Trip.earliest_pickup >= start,
                              Trip.earliest_pickup < end)
        .order_by(Trip.earliest_pickup, Trip.id).limit(TRIP_LIMIT).with_for_update()))
    fleet = available(session)
    horizon_end = max([end, *(t.latest_pickup for t in trips)]) + HORIZON_TAIL
    held: dict[int, list[Assignment]] = {}
    for holding in assignments_between(session, start - timedelta(hours=12), horizon_end, [v.id for v in fleet]):
        held.setdefault(holding.vehicle_id, []).append(holding)
    stretches = [s for v in fleet for s in segments(v, start, horizon_end, held.get(v.id, []))]
    problem, by_id = problem_of(f"run-{start:%Y%m%dT%H%M}", stretches, trips)
    try:
        plan = solve(problem, time_limit=time_limit, seed=seed)
    except Exception as exc:  # an engine failure must not become a 500 or a half-written run
        raise Unavailable(f"the dispatch engine found no plan within {time_limit:g} s ({type(exc).__name__}); "
                          f"nothing was assigned — retry, or narrow the window", field=None) from exc
    record = DispatchRun(window_start=start, window_end=end, time_limit_s=time_limit, actor=str(actor), summary={})
    session.add(record)
    session.flush()
    by_trip = {str(t.id): t for t in trips}
    busy = _driver_calendar(session, start, horizon_end)
    drivers = _active_drivers(session)
    without_driver = 0
    refused: list[dict[str, Any]] = []
    for route in plan.routes:
        stretch = by_id[route.vehicle]
        intervals = [occupied(by_trip[t], at) for t, at in zip(route.trips, route.pickups, strict=True)]
        driver = _free_driver(stretch.vehicle, intervals, busy, drivers)
        without_driver += driver is None
        for trip_id, pickup in zip(route.trips, route.pickups, strict=True):
            try:
                assign(session, actor, trip_id=int(trip_id), source=AssignmentSource.dispatch, run_id=record.id,
                       data=AssignIn(vehicle_id=stretch.vehicle.id, driver_id=driver.id if driver else None,
                                     pickup_at=pickup))
            except FleetError as exc:  # kept out of the run, and said so, rather than failing every other trip
                refused.append({"trip_id": int(trip_id), "reason": exc.detail})
    record.summary = summary(plan, by_id, without_driver, refused, vehicles=len(fleet))
    audit.record(session, actor, "dispatch.run", record, {
        "start": start, "end": end, "time_limit_s": time_limit, "trips": len(trips),
        "served": plan.objective.served, "unserved": len(plan.unserved)})
    return record, plan


def summary(plan: Plan, by_id: dict[str, Segment], without_driver: int, refused: list[dict[str, Any]],
            *, vehicles: int) -> dict[str, Any]:
    """What a dispatcher reads after a run: served per priority, unserved with reasons, the bound gap."""
    return {
        "trips": sum(plan.objective.offered.values()),
        "vehicles_available": vehicles,
        "served": {p.value: n for p, n in plan.objective.served.items()},
        "offered": {p.value: n for p, n in plan.objective.offered.items()},
        "unserved": [{"trip_id": int(u.trip), "priority": u.priority.value, "reason": u.reason}
                     for u in plan.unserved],
        "refused_at_commit": refused,
        "deadhead_km": plan.objective.deadhead_km,
        "total_km": plan.objective.total_km,
        "vehicles_used": len({by_id[r.vehicle].vehicle.id for r in plan.routes}),
        "routes_without_driver": without_driver,
        "bounds": {"served_upper": {p.value: n for p, n in plan.bounds.served_upper.items()},
                   "deadhead_lower_km": plan.bounds.deadhead_lower_km, "method": plan.bounds.method},
        "gap": plan.gap,
        "status": plan.status,
        "stopped_by": plan.stopped_by,
        "solve_seconds": plan.solve_seconds,
        "build_seconds": plan.build_seconds,
    }


@dataclass(frozen=True)
class Urgent:
    """Where an urgent trip went, what it displaced, and how long the insertion took."""

    trip: Trip
    assignment: Assignment | None
    displaced: list[int]
    replaced: dict[int, str]
    unplaced: list[int]
    reason: str | None
    seconds: float


@atomic
def place_urgent(session: Session, actor: Actor, *, trip_id: int, now: datetime) -> Urgent:
    """Insert one approved trip into the running day at once, displacing lower-priority trips not yet started."""
    started = perf_counter()
    booked = trip(session, trip_id, lock=True)
    if booked.status is not TripStatus.approved:
        raise InvalidState(f"trip {trip_id} is {booked.status.value}; urgent insertion needs approved",
                           field="status")
    start = datetime.combine(booked.earliest_pickup.astimezone(CHINA).date(), time(0, 0), CHINA)
    end = max(start + timedelta(days=1), booked.latest_pickup) + HORIZON_TAIL
    duty: dict[str, Segment] = {}
    for vehicle in available(session):
        hours = service_hours(vehicle, start, end)
        if hours:  # the day's longest stretch on duty: one engine vehicle per registry vehicle
            opens, closes = max(hours, key=lambda h: h[1] - h[0])
            duty[f"{vehicle.plate}#1"] = Segment(vehicle, opens, closes, vehicle.range_km)
    held: dict[int, list[Assignment]] = {}
    ids = [s.vehicle.id for s in duty.values()]
    for holding in assignments_between(session, start, end, ids):
        held.setdefault(holding.vehicle_id, []).append(holding)
    routes = {key: [str(h.trip_id) for h in held.get(s.vehicle.id, [])] for key, s in duty.items()}
    running = {str(h.trip_id): h for hs in held.values() for h in hs}
    while True:  # vehicles whose held trips the engine cannot re-drive (manual exceptions) are left as they are
        problem, _ = problem_of(f"urgent-{trip_id}", list(duty.values()),
                                [running[t].trip for route in routes.values() for t in route])
        try:
            plan = plan_of(problem, {key: route for key, route in routes.items() if route})
            break
        except InfeasibleRoutes as exc:
            for stuck in exc.vehicles:
                del duty[stuck]
                for t in routes.pop(stuck):
                    running.pop(t)
    placement = insert(plan, problem, trip_row(booked), now=now)
    return _apply_urgent(session, actor, booked, placement, running, duty, started)


def _apply_urgent(session: Session, actor: Actor, booked: Trip, placement: Placement,
                  running: dict[str, Assignment], duty: dict[str, Segment], started: float) -> Urgent:
    """Write the insertion: every trip whose vehicle or pickup changed is re-assigned; unplaced ones wait again."""
    wanted = {t: (route.vehicle, at) for route in placement.plan.routes
              for t, at in zip(route.trips, route.pickups, strict=True)}
    moved = [t for t, (key, at) in wanted.items() if t in running and
             (duty[key].vehicle.id != running[t].vehicle_id or at != running[t].starts_at)]
    for t in [*moved, *placement.unplaced]:
        running[t].active = False
    session.flush()
    for t in placement.unplaced:
        displaced = running[t].trip
        displaced.status = TripStatus.approved
        audit.record(session, actor, "trip.displaced", displaced, {
            "by_trip_id": booked.id, "released_vehicle_id": running[t].vehicle_id,
            "reason": f"displaced by urgent trip {booked.id} and no other vehicle could take it"})
    for t in moved:
        key, at = wanted[t]
        assign(session, actor, trip_id=int(t), source=AssignmentSource.urgent, data=AssignIn(
            vehicle_id=duty[key].vehicle.id, driver_id=running[t].driver_id, pickup_at=at))
    holding = None
    reason = None
    if placement.vehicle is None:
        reason = next((u.reason for u in placement.plan.unserved if u.trip == str(booked.id)), "no vehicle can take it")
    else:
        key, at = wanted[str(booked.id)]
        vehicle = duty[key].vehicle
        interval = [occupied(booked, at)]
        driving = frozenset(h.driver_id for h in running.values()
                            if h.vehicle_id == vehicle.id and h.driver_id is not None)
        driver = _free_driver(vehicle, interval, _driver_calendar(session, *interval[0]), _active_drivers(session),
                              prefer=driving)
        holding = assign(session, actor, trip_id=booked.id, source=AssignmentSource.urgent, data=AssignIn(
            vehicle_id=vehicle.id, driver_id=driver.id if driver else None, pickup_at=at))
    return Urgent(
        trip=booked, assignment=holding, displaced=[int(t) for t in placement.displaced],
        replaced={int(t): duty[key].vehicle.plate for t, key in placement.replaced.items()},
        unplaced=[int(t) for t in placement.unplaced], reason=reason, seconds=perf_counter() - started)
