"""Urgent insertion: place one new trip into a running plan, in milliseconds.

The trip goes where it adds the least empty km among the positions after each vehicle's last started trip. If no
vehicle has room, it may displace trips of lower priority that have not started (fewest and least important
first); displaced trips are then placed again wherever they fit, and the answer says which moved and which could
not be placed. Trips of equal or higher priority are never displaced, and nothing already started moves.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import numpy as np
from pydantic import ValidationError

from dispatch.messages import msg
from dispatch.network import Network, build
from dispatch.plan import Bounds, Plan, Unserved
from dispatch.problem import PRIORITIES, Problem, ProblemError, Trip, reason_of
from dispatch.reasons import reason
from dispatch.routes import Insertion, Routes
from dispatch.solve import objective_of, routes_out

_DISPLACE_CANDIDATES = 40  # nearest busy vehicles examined for displacement


@dataclass(frozen=True)
class Placement:
    """The outcome of `insert`: the new plan and problem, where the trip went, and what it displaced."""

    plan: Plan
    problem: Problem
    vehicle: str | None
    displaced: list[str]
    replaced: dict[str, str]
    unplaced: list[str]
    seconds: float


def insert(plan: Plan, problem: Problem, trip: Trip | dict[str, Any], *, now: datetime | None = None) -> Placement:
    """Place ``trip`` into ``plan`` (solved for ``problem``), displacing lower-priority trips if it must.

    :param plan: a plan `solve` returned for ``problem`` (or an earlier `insert`'s plan with its problem).
    :param problem: the problem the plan answers.
    :param trip: the new trip; refused with `ProblemError` naming the field if malformed or its id is taken.
    :param now: trips picked up at or before this instant have started and stay; default: the trip's earliest pickup.
    """
    started_at = time.perf_counter()
    new = _validate(problem, trip)
    grown_problem = problem.model_copy(update={"trips": (*problem.trips, new)})
    state = plan._state
    if isinstance(state, Routes) and state.net.problem is problem:
        net = state.net.with_trip(grown_problem, new)
        routes = _shallow(state, net)
    else:  # a plan read back from JSON: rebuild the solver's view once
        net = build(grown_problem)
        routes = _routes_from(plan, net)
    index = net.n - 1
    cutoff = int(np.ceil((now or new.earliest_pickup).timestamp() - net.epoch))
    first_free = _first_free(routes, cutoff)
    changed: set[int] = set()
    displaced: list[int] = []
    found = _place(routes, index, first_free, cutoff)
    if found is None:
        found, displaced = _displace(routes, index, first_free, cutoff)
    if found is not None:
        _apply(routes, index, found, cutoff)
        changed.add(found.vehicle)
    replaced: dict[str, str] = {}
    unplaced: list[str] = []
    for other in displaced:
        again = _place(routes, other, _first_free(routes, cutoff), cutoff)
        if again is None:
            unplaced.append(problem.trips[other].id)
            continue
        _apply(routes, other, again, cutoff)
        changed.add(again.vehicle)
        replaced[problem.trips[other].id] = problem.vehicles[again.vehicle].id
    new_plan = _replan(plan, net, routes, changed, time.perf_counter() - started_at)
    return Placement(
        plan=new_plan,
        problem=grown_problem,
        vehicle=problem.vehicles[found.vehicle].id if found is not None else None,
        displaced=[problem.trips[t].id for t in displaced],
        replaced=replaced,
        unplaced=unplaced,
        seconds=round(time.perf_counter() - started_at, 4),
    )


def _validate(problem: Problem, trip: Trip | dict[str, Any]) -> Trip:
    if not isinstance(trip, Trip):
        try:
            trip = Trip.model_validate(trip)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            field = ".".join(str(part) for part in ("trip", *error["loc"]))
            raise ProblemError(field, reason_of(error)) from None
    if trip.id in map(attrgetter("id"), problem.trips):  # a city day's 5,000 trips: ~0.3 ms, a genexpr ~3 ms
        raise ProblemError("trip.id", msg("duplicate id {id!r}", id=trip.id))
    return trip


def _first_free(routes: Routes, cutoff: int) -> list[int]:
    """Per vehicle, the first position after its trips that have started by ``cutoff``."""
    return [bisect_right(starts, cutoff) for starts in routes.start]  # a timetable's pickups only grow


def _place(routes: Routes, trip: int, first_free: list[int], cutoff: int) -> Insertion | None:
    net = routes.net
    best: Insertion | None = None
    for vehicle in np.flatnonzero(net.alone(trip)).tolist():
        open_ = routes.positions(trip, vehicle)
        for position in range(max(first_free[vehicle], open_.start), open_.stop):
            found = _check_after(routes, trip, vehicle, position, cutoff)
            if found is not None and (best is None or found.empty_km < best.empty_km):
                best = found
    return best


def _check_after(routes: Routes, trip: int, vehicle: int, position: int, cutoff: int) -> Insertion | None:
    """`Routes.check`, but the vehicle cannot set off towards the new trip before ``cutoff``."""
    found = routes.check(trip, vehicle, position)
    if found is None:
        return None
    pickup = _redirected_pickup(routes, trip, vehicle, position, cutoff)
    if pickup is None:
        return found
    # Redirected at ``cutoff`` from where the timetable leaves it: does it still make the window and the rest?
    net = routes.net
    if pickup > net.late[trip]:
        return None
    done = pickup + int(net.service[trip])
    route = routes.trips[vehicle]
    if position == len(route):
        return found if done + int(net.in_s[trip, net.depot[vehicle]]) <= net.shift_end[vehicle] else None
    return found if done + net.leg(trip, route[position])[1] <= routes.latest[vehicle][position] else None


def _redirected_pickup(routes: Routes, trip: int, vehicle: int, position: int, cutoff: int) -> int | None:
    """The pickup time if the vehicle is free before ``cutoff`` and so can only set off at it; None otherwise."""
    net = routes.net
    if position == 0:
        ready, drive = int(net.shift_start[vehicle]), int(net.out_s[net.depot[vehicle], trip])
    else:
        previous = routes.trips[vehicle][position - 1]
        ready = routes.start[vehicle][position - 1] + int(net.service[previous])
        drive = net.leg(previous, trip)[1]
    if ready >= cutoff:
        return None
    return max(int(net.early[trip]), cutoff + drive)


def _apply(routes: Routes, trip: int, found: Insertion, cutoff: int) -> None:
    """Insert, with the trip's window starting no earlier than the vehicle can get there from ``cutoff`` on, so
    that the timetable's pickup is the one the vehicle can keep (not one it could only have kept had it left
    before the call came)."""
    pickup = _redirected_pickup(routes, trip, found.vehicle, found.position, cutoff)
    if pickup is not None:
        routes.net.early[trip] = pickup  # the grown network's own array: the old plan's is untouched
    route = routes.trips[found.vehicle]
    routes.set_route(found.vehicle, [*route[: found.position], trip, *route[found.position :]])  # see `_shallow`


def _displace(routes: Routes, trip: int, first_free: list[int], cutoff: int) -> tuple[Insertion | None, list[int]]:
    """Free room by taking out lower-priority trips not yet started: one first, then two in a row."""
    net = routes.net
    tier = int(net.tier[trip])
    able = np.flatnonzero(net.alone(trip))
    if len(able) == 0:
        return None, []
    order = np.argsort(net.out_km[net.depot[able], trip], kind="stable")[:_DISPLACE_CANDIDATES]
    best: tuple[tuple[int, ...], float, Insertion, list[int]] | None = None
    for vehicle in able[order].tolist():
        route = routes.trips[vehicle]
        for length in (1, 2):
            for lo in range(first_free[vehicle], len(route) - length + 1):
                block = route[lo : lo + length]
                if any(int(net.tier[t]) <= tier for t in block):
                    continue
                # Fewer displaced, and less important ones, first; then the least empty km.
                key = tuple(sorted((-int(net.tier[t]) for t in block), reverse=True))
                key = (len(block), *key)
                if best is not None and key > best[0]:
                    continue
                saved = list(route)
                routes.set_route(vehicle, route[:lo] + route[lo + length :])
                found = _check_after(routes, trip, vehicle, lo, cutoff)
                routes.set_route(vehicle, saved)
                route = routes.trips[vehicle]
                if found is not None and (best is None or (key, found.empty_km) < (best[0], best[1])):
                    best = (key, found.empty_km, found, block)
    if best is None:
        return None, []
    _, _, found, block = best
    route = routes.trips[found.vehicle]
    lo = route.index(block[0])
    routes.set_route(found.vehicle, route[:lo] + route[lo + len(block) :])
    return found, block


def _shallow(routes: Routes, net: Network) -> Routes:
    """A copy of ``routes`` onto ``net`` (grown by `Network.with_trip`) that shares each vehicle's lists with them.

    `insert` only ever replaces a vehicle's lists (`Routes.set_route`), never changes one in place, so the plan it
    inserts into stays as it was, even while other placements read it; copying every list of a city day (5,000
    trips on some 1,700 stretches) cost more than the insertion itself.
    """
    twin = Routes.__new__(Routes)
    twin.net = net
    twin.trips = list(routes.trips)
    twin.start = list(routes.start)
    twin.latest = list(routes.latest)
    twin.legs = list(routes.legs)
    twin.legs_s = list(routes.legs_s)
    twin.km = list(routes.km)
    grow = net.n - len(routes.where)
    twin.where = np.concatenate((routes.where, np.full(grow, -1, dtype=np.int64)))
    twin.position = np.concatenate((routes.position, np.full(grow, -1, dtype=np.int64)))
    return twin


def carry(routes: Routes, net: Network, trips: np.ndarray, vehicles: Sequence[int],
          redo: Mapping[int, Sequence[int]]) -> Routes:
    """``routes`` moved onto ``net``, a network updated from theirs (`Network.without_trips`, `with_vehicles`,
    `with_trips`), without recomputing the timetables that did not change.

    :param trips: each old trip's index in ``net`` (-1: gone).
    :param vehicles: each of ``net``'s vehicles' index in the old network (-1: new).
    :param redo: the routes (``net``'s trip indices) of the vehicles, by ``net``'s index, whose route, shift,
        depot or range changed, or that are new; their timetables are recomputed. Every other vehicle keeps its
        route and timetable, which must still hold on ``net`` (its trips unchanged, renumbered by ``trips``).
    :raises ValueError: a kept route holding a trip that is gone.
    """
    if len(vehicles) == len(routes.trips) == net.vehicles and np.array_equal(trips, np.arange(len(trips))) and all(
            before == vehicle for vehicle, before in enumerate(vehicles)):
        # Nothing renumbered (trips only joined, the same vehicles): share the kept vehicles' lists, as `_shallow`.
        moved = _shallow(routes, net)
        for vehicle in redo:
            for trip in routes.trips[vehicle]:
                if moved.where[trip] == vehicle:
                    moved.where[trip] = moved.position[trip] = -1
            moved.trips[vehicle] = []
        for vehicle, again in redo.items():
            moved.set_route(vehicle, list(again))
        return moved
    moved = Routes.__new__(Routes)
    moved.net = net
    size = net.vehicles
    moved.trips = [[] for _ in range(size)]
    moved.start = [[] for _ in range(size)]
    moved.latest = [[] for _ in range(size)]
    moved.legs, moved.legs_s = [[0.0] for _ in range(size)], [[0] for _ in range(size)]
    moved.km = [0.0] * size
    moved.where = np.full(net.n, -1, dtype=np.int64)
    moved.position = np.full(net.n, -1, dtype=np.int64)
    for vehicle, before in enumerate(vehicles):
        if vehicle in redo:
            moved.set_route(vehicle, list(redo[vehicle]))
            continue
        if before < 0 or not routes.trips[before]:
            continue
        route = trips[routes.trips[before]]
        if (route < 0).any():
            raise ValueError(f"vehicle {net.problem.vehicles[vehicle].id} keeps a trip that is gone")
        moved.trips[vehicle] = route.tolist()
        moved.start[vehicle] = list(routes.start[before])
        moved.latest[vehicle] = list(routes.latest[before])
        moved.legs[vehicle] = list(routes.legs[before])
        moved.legs_s[vehicle] = list(routes.legs_s[before])
        moved.km[vehicle] = routes.km[before]
        moved.where[route] = vehicle
        moved.position[route] = np.arange(len(route))
    return moved


def _routes_from(plan: Plan, net: Network) -> Routes:
    routes = Routes(net)
    vehicles = net.problem.vehicle_index()
    trips = net.problem.trip_index()
    for route in plan.routes:
        routes.set_route(vehicles[route.vehicle], [trips[t] for t in route.trips])
    return routes


def _replan(old: Plan, net: Network, routes: Routes, changed: set[int], seconds: float) -> Plan:
    """The old plan with the changed routes and unserved list redone; bounds are the old ones (not recomputed)."""
    problem = net.problem
    changed_ids = {problem.vehicles[v].id for v in changed}
    kept = [r for r in old.routes if r.vehicle not in changed_ids]
    fresh = routes_out(net, routes, sorted(changed))
    before = {u.trip: u for u in old.unserved}
    unserved = [
        before.get(problem.trips[t].id)
        or Unserved(trip=problem.trips[t].id, priority=problem.trips[t].priority, reason=reason(net, routes, t))
        for t in np.flatnonzero(routes.where < 0).tolist()
    ]
    objective = objective_of(net, routes)
    served_upper = dict(old.bounds.served_upper)
    if net.alone(net.n - 1).any():
        served_upper[PRIORITIES[int(net.tier[-1])]] += 1
    bounds = Bounds(
        served_upper=served_upper,
        deadhead_lower_km=0.0,
        method="served: the solve's bound plus the inserted trip; empty km: not recomputed after an insertion",
    )
    plan = old.model_copy(
        update={
            "bounds": bounds,
            "gap": bounds.gap(objective),
            "routes": kept + fresh,
            "unserved": unserved,
            "objective": objective,
            "status": "feasible",
            "solve_seconds": round(seconds, 4),
            "build_seconds": 0.0,
        }
    )
    plan._state = routes
    return plan
