"""Dispatching booked trips: a batch run over a window, and the urgent placement of one trip into the running day.

Both build the exchange problem from the registry's free stretches (`fleet.exchange`), let the engine plan, and
write what it planned through `fleet.assignments.assign`, so every rule an assignment obeys holds for them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch.insert import Placement, insert
from dispatch.plan import Plan
from dispatch.solve import InfeasibleRoutes, plan_of, solve
from fleet import audit, queries
from fleet.assignments import assign, driver_calendar, free_driver, occupied
from fleet.audit import Actor
from fleet.clock import local_date, local_moment
from fleet.db import atomic
from fleet.enums import AssignmentSource, TripStatus
from fleet.errors import FleetError, InvalidInput, InvalidState
from fleet.exchange import Segment, problem_of, segments, service_hours, trip_row
from fleet.models import Assignment, DispatchRun, Trip
from fleet.schemas import AssignIn

# How far past the last pickup a run (or an insertion) looks: long enough to finish any trip and drive home, so a
# trip late in the window is not refused for the want of a shift end.
HORIZON_TAIL = timedelta(hours=12)
TRIP_LIMIT = 5000  # trips per run: the engine's city-scale size, and a bound on one request's work


class Unavailable(FleetError):
    """The engine gave no plan in time (HTTP 503): nothing was assigned."""

    status = 503


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
    fleet = queries.dispatchable_vehicles(session)
    horizon_end = max([end, *(t.latest_pickup for t in trips)]) + HORIZON_TAIL
    held: dict[int, list[Assignment]] = {}
    ids = [v.id for v in fleet]
    for holding in queries.assignments_between(session, start - timedelta(hours=12), horizon_end, ids):
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
    busy = driver_calendar(session, start, horizon_end)
    drivers = queries.active_drivers(session)
    without_driver = 0
    refused: list[dict[str, Any]] = []
    for route in plan.routes:
        stretch = by_id[route.vehicle]
        intervals = [occupied(by_trip[t], at) for t, at in zip(route.trips, route.pickups, strict=True)]
        driver = free_driver(stretch.vehicle, intervals, busy, drivers)
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
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status is not TripStatus.approved:
        raise InvalidState(f"trip {trip_id} is {booked.status.value}; urgent insertion needs approved",
                           field="status")
    start = local_moment(local_date(booked.earliest_pickup))
    end = max(start + timedelta(days=1), booked.latest_pickup) + HORIZON_TAIL
    duty: dict[str, Segment] = {}
    for vehicle in queries.dispatchable_vehicles(session):
        hours = service_hours(vehicle, start, end)
        if hours:  # the day's longest stretch on duty: one engine vehicle per registry vehicle
            opens, closes = max(hours, key=lambda h: h[1] - h[0])
            duty[f"{vehicle.plate}#1"] = Segment(vehicle, opens, closes, vehicle.range_km)
    held: dict[int, list[Assignment]] = {}
    ids = [s.vehicle.id for s in duty.values()]
    for holding in queries.assignments_between(session, start, end, ids):
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
        driver = free_driver(vehicle, interval, driver_calendar(session, *interval[0]),
                             queries.active_drivers(session), prefer=driving)
        holding = assign(session, actor, trip_id=booked.id, source=AssignmentSource.urgent, data=AssignIn(
            vehicle_id=vehicle.id, driver_id=driver.id if driver else None, pickup_at=at))
    return Urgent(
        trip=booked, assignment=holding, displaced=[int(t) for t in placement.displaced],
        replaced={int(t): duty[key].vehicle.plate for t, key in placement.replaced.items()},
        unplaced=[int(t) for t in placement.unplaced], reason=reason, seconds=perf_counter() - started)
