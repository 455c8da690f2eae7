"""Improvement: large-neighbourhood search whose neighbourhoods OR-Tools routing re-optimises.

Each step frees a handful of related vehicles (sharing arcs with a seed trip, often an unserved one) together with
their trips and the unserved trips linked to them, hands that small vehicle-routing problem to OR-Tools (time
windows, shifts, range, allowed vehicles, and drop penalties that make the objective lexicographic) warm-started
from the current routes, and keeps the answer if it is better. A small problem is one neighbourhood.

The search runs on a work budget (routing nodes handed to OR-Tools) in seconds of the reference machine, so that the
same seed and budget give the same plan; the wall-clock deadline, if any, stops it early on a slower machine (and
says so).
"""

from __future__ import annotations

import math
import random
import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.network import Network
from dispatch.plan import StoppedBy
from dispatch.routes import Routes

# Work per second of budget (`WorkBudget`), measured on the 2-core reference machine with some room to spare:
# routing nodes re-optimised in neighbourhoods (1,700/s measured at 100x500, 780/s at 1000x5000) ...
WORK_PER_SECOND = 1500
# ... and guided-local-search solutions x nodes when the whole problem is one model
# (12,500/s measured at 30 trips, 6,000/s at 80).
_WHOLE_WORK_PER_SECOND = 3500
_MAX_TRIPS = 80  # trips in one neighbourhood
_MAX_VEHICLES = 12
_DROP_BASE = 10**8  # metres: more than any neighbourhood's empty km, so serving a trip always wins


def improve(
    net: Network, routes: Routes, *, deadline: float, seed: int, target: tuple[int, int, int], work: float
) -> StoppedBy:
    """Improve ``routes`` in place until the work budget, the deadline, or nothing left to gain.

    :param deadline: `time.perf_counter` instant to stop by; ``math.inf`` for no clock.
    :param work: the work budget, in seconds of the reference machine.
    """
    rng = random.Random(seed)
    budget = work * WORK_PER_SECOND
    whole = net.n <= _MAX_TRIPS and net.vehicles <= _MAX_VEHICLES * 2
    stale = 0
    if whole:
        # Small enough for one routing model: give OR-Tools the whole budget at once.
        solutions = max(1, int(work * _WHOLE_WORK_PER_SECOND / max(1, net.n + net.vehicles)))
        unserved = np.flatnonzero(routes.where < 0).tolist()
        reoptimise(net, routes, list(range(net.vehicles)), unserved, solutions=solutions, deadline=deadline)
        return "time limit" if time.perf_counter() >= deadline else "work budget"
    while budget > 0:
        if time.perf_counter() >= deadline:
            return "time limit"
        vehicles, extra = _neighbourhood(net, routes, rng)
        if not vehicles:
            break
        budget -= len(extra) + sum(len(routes.trips[v]) for v in vehicles) + len(vehicles)
        better = reoptimise(net, routes, vehicles, extra, solutions=0, deadline=deadline)
        stale = 0 if better else stale + 1
        if stale > 4 * max(1, net.vehicles) and routes.objective()[:3] == target:
            break
    return "work budget"


def _neighbourhood(net: Network, routes: Routes, rng: random.Random) -> tuple[list[int], list[int]]:
    """A seed trip (an unserved one more often than not), the vehicles around it, and the unserved trips nearby."""
    unserved = np.flatnonzero(routes.where < 0)
    servable = [t for t in unserved.tolist() if net.eligible[t].any()]
    if servable and rng.random() < 0.7:
        # Higher priorities first: pick among the most important unserved trips.
        top = min(int(net.tier[t]) for t in servable)
        seed = rng.choice([t for t in servable if net.tier[t] == top])
    else:
        served = np.flatnonzero(routes.where >= 0)
        if len(served) == 0:
            if not servable:
                return [], []
            seed = rng.choice(servable)
        else:
            seed = int(served[rng.randrange(len(served))])
    vehicles: list[int] = []
    extra: list[int] = []
    frontier = [seed]
    seen = {seed}
    trips = 0
    while frontier and len(vehicles) < _MAX_VEHICLES and trips < _MAX_TRIPS:
        trip = frontier.pop(0)
        owner = int(routes.where[trip])
        if owner >= 0 and owner not in vehicles:
            vehicles.append(owner)
            trips += len(routes.trips[owner])
            for other in routes.trips[owner]:
                if other not in seen:
                    seen.add(other)
                    frontier.append(other)
        elif owner < 0 and trip not in extra:
            extra.append(trip)
            trips += 1
            for vehicle in routes.empty_candidates(trip)[:2].tolist():
                if vehicle not in vehicles:
                    vehicles.append(int(vehicle))
        links = np.concatenate((net.pred[trip], net.succ[trip]))
        for other in links[np.argsort(np.array([rng.random() for _ in links]))].tolist() if len(links) else []:
            if other not in seen:
                seen.add(other)
                frontier.append(other)
    return vehicles, extra


def reoptimise(
    net: Network, routes: Routes, vehicles: list[int], extra: list[int], *, solutions: int, deadline: float
) -> bool:
    """Re-solve ``vehicles`` with their trips plus ``extra`` unserved trips in OR-Tools; keep it if better.

    ``solutions`` > 0 runs guided local search for that many solutions; 0 descends to a local optimum.
    """
    trips = [t for v in vehicles for t in routes.trips[v]] + [t for t in extra if routes.where[t] < 0]
    trips = [t for t in trips if net.eligible[t, vehicles].any()]
    if not trips:
        return False
    depots = sorted({int(net.depot[v]) for v in vehicles})
    k, m = len(depots), len(trips)
    at = {d: i for i, d in enumerate(depots)}
    nodes = np.array(trips, dtype=np.int64)
    # Empty metres and drive seconds between every pair of nodes (depots first, then trips).
    empty = np.zeros((k + m, k + m), dtype=np.float64)
    drive = np.zeros((k + m, k + m), dtype=np.int64)
    empty[:k, k:] = net.out_km[depots][:, nodes]
    drive[:k, k:] = net.out_s[depots][:, nodes]
    empty[k:, :k] = net.in_km[nodes][:, depots]
    drive[k:, :k] = net.in_s[nodes][:, depots]
    tail = np.repeat(nodes, m)
    head = np.tile(nodes, m)
    km = net.travel.km(net.drop[tail, 0], net.drop[tail, 1], net.pick[head, 0], net.pick[head, 1]).reshape(m, m)
    empty[k:, k:] = km
    drive[k:, k:] = net.travel.seconds(km).astype(np.int64)
    metres = np.ceil(empty * 1000).astype(np.int64)
    service = np.concatenate((np.zeros(k, dtype=np.int64), net.service[nodes]))
    loaded = np.concatenate((np.zeros(k, dtype=np.int64), np.ceil(net.loaded_km[nodes] * 1000).astype(np.int64)))
    np.fill_diagonal(metres, 0)
    np.fill_diagonal(drive, 0)

    starts = [at[int(net.depot[v])] for v in vehicles]
    manager = pywrapcp.RoutingIndexManager(k + m, len(vehicles), starts, starts)
    model = pywrapcp.RoutingModel(manager)
    cost = model.RegisterTransitMatrix(metres.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(cost)
    busy = model.RegisterTransitMatrix((drive + service[:, None]).tolist())
    horizon = int(max(net.shift_end[vehicles].max(), net.late[nodes].max() + net.service[nodes].max())) + 1
    model.AddDimension(busy, horizon, horizon, False, "time")
    clock = model.GetDimensionOrDie("time")
    road = model.RegisterTransitMatrix((metres + loaded[None, :]).tolist())
    caps = [int(min(net.range_km[v] * 1000, 10**12)) for v in vehicles]
    model.AddDimensionWithVehicleCapacity(road, 0, caps, True, "road")
    for slot, vehicle in enumerate(vehicles):
        lo, hi = int(net.shift_start[vehicle]), int(net.shift_end[vehicle])
        clock.CumulVar(model.Start(slot)).SetRange(lo, hi)
        clock.CumulVar(model.End(slot)).SetRange(lo, hi)
    penalty = _penalties(m)
    for j, trip in enumerate(trips):
        index = manager.NodeToIndex(k + j)
        clock.CumulVar(index).SetRange(int(net.early[trip]), int(net.late[trip]))
        allowed = [slot for slot, v in enumerate(vehicles) if net.eligible[trip, v]]
        # SetAllowedVehiclesForIndex's binding refuses Python lists in this OR-Tools; this is what it does.
        model.VehicleVar(index).SetValues([-1, *allowed])
        model.AddDisjunction([index], penalty[int(net.tier[trip])])
    local = {trip: k + j for j, trip in enumerate(trips)}
    before = [[manager.NodeToIndex(local[t]) for t in routes.trips[v]] for v in vehicles]
    params = _parameters(solutions, deadline, whole=solutions > 0)
    model.CloseModelWithParameters(params)
    initial = model.ReadAssignmentFromRoutes(before, True)
    if initial is None:
        return False
    found = model.SolveFromAssignmentWithParameters(initial, params)
    if found is None:
        return False
    after: list[list[int]] = []
    for slot in range(len(vehicles)):
        order: list[int] = []
        index = found.Value(model.NextVar(model.Start(slot)))
        while not model.IsEnd(index):
            order.append(trips[manager.IndexToNode(index) - k])
            index = found.Value(model.NextVar(index))
        after.append(order)
    return _keep_if_better(routes, vehicles, after)


def _penalties(trips: int) -> list[int]:
    """Drop penalties per priority that make the routing objective lexicographic."""
    routine = _DROP_BASE
    law = routine * (trips + 1)
    return [law * (trips + 1), law, routine]


def _parameters(solutions: int, deadline: float, *, whole: bool) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    if whole:
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        params.solution_limit = solutions
    else:
        # A neighbourhood is small: descending to its local optimum beats a metaheuristic per second spent.
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    # The wall clock only as a backstop: the solution limit is what makes runs repeatable.
    if math.isfinite(deadline):
        params.time_limit.FromMilliseconds(max(1, int((deadline - time.perf_counter()) * 1000)))
    params.use_full_propagation = False
    return params


def _keep_if_better(routes: Routes, vehicles: list[int], after: list[list[int]]) -> bool:
    before = routes.objective()
    saved = [routes.copy_route(v) for v in vehicles]
    for vehicle in vehicles:
        routes.set_route(vehicle, [])
    for vehicle, order in zip(vehicles, after, strict=True):
        routes.set_route(vehicle, order)
    if all(routes.feasible(v) for v in vehicles) and _better(routes.objective(), before):
        return True
    for vehicle in vehicles:
        routes.set_route(vehicle, [])
    for vehicle, order in zip(vehicles, saved, strict=True):
        routes.set_route(vehicle, order)
    return False


def _better(new: tuple[int, int, int, float], old: tuple[int, int, int, float]) -> bool:
    return new[:3] < old[:3] or (new[:3] == old[:3] and new[3] < old[3] - 1e-6)
