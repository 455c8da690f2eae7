"""Column generation over vehicle duties, whose pricing keeps every duty's clock: a small day's price-and-branch
(`recombine`, in the search) and served bounds (`served_bound`, for the benchmarks).

The arc LP of `dispatch.relaxation` checks each leg ``i -> j`` from ``i``'s earliest pickup alone, so a chain may
pick up every trip late in its window and still leave the next one from the earliest: on Harbin 100 x 500 s1 an
integer optimum of that model had 20 of its 43 chains late somewhere, and neither per-vehicle commodities nor
windows cut into 5-minute pieces moved its law-enforcement bound (182). Here a column is a duty (a chain of trips a
vehicle of a class can drive, its pickups propagated from the shift start), so a duty's clock is exact:

* The master LP (GLOP): at most one duty through each trip, at most a class's vehicles on its duties, and for the
  stages below the first at least the plan's count of each priority above; maximise the trips of the stage's
  priority.
* Pricing per class (category x shift, its depots and kinds pooled as in `dispatch.relaxation`): a label-setting
  search over (pickup time, value) labels in time order, a label dominated when another at the same trip picks up
  no later with no less value. Only trips of positive reduced value are visited: by the triangle inequality a
  duty without a trip of non-positive value is feasible and worth no less, so the best duty is still found.
* Anytime: for any prices ``pi >= 0`` on the trips and ``lambda >= 0`` on the floors, ``sum(pi) - lambda . floor +
  sum over classes of units x max(0, best duty's reduced value)`` bounds the LP over every duty (Lagrangian duality),
  so every round gives a valid bound, whenever the deadline stops it.

What stays relaxed: a class pools its depots and kinds and the range of its vehicles is not counted (both only
let more duties in). A duty may also meet a trip twice where a window is longer than the trip's service and the
way back (again only more duties).

The price-and-branch of a small day keeps everything instead: one convexity row per vehicle, each priced with its
own depot, shift and range (a label also carries the km driven, and dominates only with no more of them), the
master's objective the trips' worth by priority less a small price per empty km, started from the searched routes.
When no duty is worth adding (13-24 rounds on the 20 x 80 tuning days, 0.3-1.3 s), CP-SAT picks among all the
duties found, exactly lexicographic, hinted with the searched plan. On 13 of 15 tuning days it bettered what the
guided local searches had found in 5 s (a law or routine trip more, or up to 13 % less empty km).
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from dispatch.network import Network
from dispatch.relaxation import Skipped, _depot_legs, _nearest_arcs
from dispatch.routes import Routes, better

_EPS = 1e-6
COLUMNS_PER_CLASS = 12  # duties added per class and round (the best end labels of its pricing)
_ALL = 1 << 20  # successors kept per trip: every one the windows allow


@dataclass
class _Class:
    members: np.ndarray  # its vehicles (bool, V)
    units: int
    trips: np.ndarray  # the stage's trips a vehicle of the class could serve in its shift (bool, n)
    lo: np.ndarray  # earliest pickup in the shift (n)
    hi: np.ndarray  # latest pickup that still gets home by the shift end (n)


def _classes(net: Network, inside: np.ndarray) -> list[_Class]:
    category = net.kind_category[net.kind]
    keys = sorted(set(zip(category.tolist(), net.shift_start.tolist(), net.shift_end.tolist(), strict=True)))
    out = []
    for cat, start, end in keys:
        members = (category == cat) & (net.shift_start == start) & (net.shift_end == end)
        kinds = np.unique(net.kind[members])
        eligible = np.asarray(net.by_kind[:, kinds].any(axis=1), dtype=bool) & inside
        _, _, out_s, in_s = _depot_legs(net, members, kinds)
        lo = np.maximum(net.early, start + out_s)
        hi = np.minimum(net.late, end - net.service - in_s)
        present = eligible & (lo <= hi)
        if present.any():
            out.append(_Class(members=members, units=int(members.sum()), trips=present, lo=lo, hi=hi))
    return out


Legs = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def _legs(net: Network, inside: np.ndarray) -> Legs:
    """Every leg the windows allow between trips of ``inside``: per trip, its successors, their empty km and drive
    seconds."""
    tail, head, km, _, _ = _nearest_arcs(net, _ALL, inside)
    seconds = net.travel.seconds(km).astype(np.int64)
    order = np.argsort(tail, kind="stable")
    tail, head, km, seconds = tail[order], head[order], km[order], seconds[order]
    cut = np.searchsorted(tail, np.arange(net.n + 1))
    return [(head[cut[t]:cut[t + 1]], km[cut[t]:cut[t + 1]], seconds[cut[t]:cut[t + 1]]) for t in range(net.n)]


@dataclass
class _Driver:
    """What a duty's pricing keeps of who drives it: the pickup window within the shift, km out of and back to the
    depot, the range and the price of an empty km (zeros, inf and 0 where not counted)."""

    lo: np.ndarray
    hi: np.ndarray
    out_km: np.ndarray
    home_km: np.ndarray
    range_km: float = math.inf
    km_price: float = 0.0


def _best_duties(net: Network, driver: _Driver, value: np.ndarray, useful: np.ndarray, legs: Legs,
                 keep: int) -> tuple[float, list[tuple[float, list[int]]]]:
    """Label setting in pickup-time order over the ``useful`` trips: the most any duty is worth (one meeting a trip
    twice included) and up to ``keep`` of the best duties without a repeat, each with its worth (trips' ``value``
    less ``driver.km_price`` an empty km). A label (time, worth, km driven) is dominated by another at its trip
    that picks up no later, is worth no less and (with a range) has driven no more."""
    # A vehicle's pricing (km priced) keeps a label that drove less even without a range: more distinct duties for
    # CP-SAT, and the configuration measured (without it 3 small tuning days better, 4 worse).
    ranged = math.isfinite(driver.range_km) or driver.km_price > 0
    times: list[int] = []
    worth: list[float] = []
    road: list[float] = []
    trip_of: list[int] = []
    parent: list[int] = []
    fronts: dict[int, list[int]] = {}  # trip -> its labels, not dominated when they were made
    heap: list[tuple[int, int]] = []

    def offer(trip: int, at: int, gain: float, driven: float, came: int) -> None:
        if driven + driver.home_km[trip] > driver.range_km:
            return
        front = fronts.setdefault(trip, [])
        for other in front:
            if times[other] <= at and worth[other] >= gain and (not ranged or road[other] <= driven):
                return
        label = len(times)
        times.append(at)
        worth.append(gain)
        road.append(driven)
        trip_of.append(trip)
        parent.append(came)
        front[:] = [o for o in front
                    if not (times[o] >= at and worth[o] <= gain and (not ranged or road[o] >= driven))] + [label]
        heapq.heappush(heap, (at, label))

    for trip in np.flatnonzero(useful).tolist():
        out = float(driver.out_km[trip])
        offer(trip, int(driver.lo[trip]), float(value[trip]) - driver.km_price * out,
              out + float(net.loaded_km[trip]), -1)
    ends: list[tuple[float, int]] = []
    while heap:
        at, label = heapq.heappop(heap)
        trip = trip_of[label]
        if label not in fronts[trip]:
            continue  # dominated after it was made
        ends.append((worth[label] - driver.km_price * float(driver.home_km[trip]), label))
        heads, km, drive = legs[trip]
        ok = useful[heads]
        heads, km, drive = heads[ok], km[ok], drive[ok]
        arrive = np.maximum(driver.lo[heads], at + int(net.service[trip]) + drive)
        fits = (arrive <= driver.hi[heads]) & ((arrive > at) | (heads > trip))
        for head, when, leg in zip(heads[fits].tolist(), arrive[fits].tolist(), km[fits].tolist(), strict=True):
            offer(head, when, worth[label] + float(value[head]) - driver.km_price * leg,
                  road[label] + leg + float(net.loaded_km[head]), label)
    ends.sort(key=lambda end: -end[0])
    best = ends[0][0] if ends else 0.0
    found: list[tuple[float, list[int]]] = []
    seen: set[tuple[int, ...]] = set()
    for gain, label in ends:
        if len(found) >= keep or gain <= _EPS:
            break
        chain = []
        while label >= 0:
            chain.append(trip_of[label])
            label = parent[label]
        duty = tuple(reversed(chain))
        if len(set(duty)) == len(duty) and duty not in seen:
            seen.add(duty)
            found.append((gain, list(duty)))
    return best, found


def price(net: Network, cls: _Class, value: np.ndarray, legs: Legs,
          keep: int = COLUMNS_PER_CLASS) -> tuple[float, list[list[int]]]:
    """The most a duty of ``cls`` is worth at ``value`` per trip, and up to ``keep`` of its best duties (trips in
    order). 0 and no duty when none is worth more than nothing."""
    zeros = np.zeros(net.n)
    best, found = _best_duties(net, _Driver(cls.lo, cls.hi, zeros, zeros), value, cls.trips & (value > 0), legs, keep)
    return max(best, 0.0), [duty for _, duty in found]


def served_bound(net: Network, trips: np.ndarray, weight: np.ndarray, floors: list[tuple[np.ndarray, int]],
                 deadline: float, *, start: list[list[int]] | None = None) -> tuple[float, int]:
    """An upper bound on the weight of the trips (``weight`` per trip, over the ``trips`` mask) any plan serves
    while serving at least ``count`` of each ``(mask, count)`` in ``floors``; and the rounds it took.

    ``start``: duties to begin the master with (a plan's routes, each a feasible duty). Raises `Skipped` when not
    even one round finished by ``deadline``.
    """
    legs = _legs(net, trips)
    classes = _classes(net, trips)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:
        raise Skipped("GLOP is not available")
    inf = solver.infinity()
    n = net.n
    cover = {t: solver.Constraint(-inf, 1.0) for t in np.flatnonzero(trips).tolist()}
    limit = [solver.Constraint(-inf, float(c.units)) for c in classes]
    floor_rows = [solver.Constraint(float(count), inf) for _, count in floors]
    objective = solver.Objective()
    objective.SetMaximization()
    known: set[tuple[int, tuple[int, ...]]] = set()

    def add(index: int, duty: list[int]) -> None:
        key = (index, tuple(duty))
        if key in known:
            return
        known.add(key)
        column = solver.NumVar(0.0, inf, "")
        objective.SetCoefficient(column, float(weight[duty].sum()))
        limit[index].SetCoefficient(column, 1.0)
        for trip in duty:
            cover[trip].SetCoefficient(column, cover[trip].GetCoefficient(column) + 1.0)
        for row, (mask, _) in zip(floor_rows, floors, strict=True):
            inside = float(mask[duty].sum())
            if inside:
                row.SetCoefficient(column, inside)

    # A floor the first duties miss is met by a slack at a price above any trip's weight, so that the master always
    # has an optimum; its prices are then as valid as any others for the bound below.
    penalty = float(weight.sum()) + 1.0
    for row in floor_rows:
        slack = solver.NumVar(0.0, inf, "")
        row.SetCoefficient(slack, 1.0)
        objective.SetCoefficient(slack, -penalty)
    for duty in start or []:
        fitting = [i for i, c in enumerate(classes) if c.trips[duty].all()]
        if fitting and trips[duty].all():
            add(fitting[0], duty)
    best = math.inf
    rounds = 0
    while time.perf_counter() < deadline:
        left = deadline - time.perf_counter()
        solver.SetTimeLimit(max(1, int(left * 1000)))
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            break
        pi = np.zeros(n)
        for trip, row in cover.items():
            pi[trip] = max(0.0, row.dual_value())
        value = weight.astype(np.float64) - pi
        lam = [max(0.0, -row.dual_value()) for row in floor_rows]
        for (mask, _), extra in zip(floors, lam, strict=True):
            value = value + extra * mask
        mu = [max(0.0, row.dual_value()) for row in limit]
        master = objective.Value()
        bound = float(pi.sum()) - sum(extra * count for (_, count), extra in zip(floors, lam, strict=True))
        found: list[tuple[int, list[int]]] = []
        for index, cls in enumerate(classes):
            if time.perf_counter() >= deadline:
                return _finish(best, rounds)
            most, duties = price(net, cls, value, legs)
            bound += cls.units * most
            if most > mu[index] + _EPS:
                found += [(index, duty) for duty in duties]
        rounds += 1
        best = min(best, bound)
        if not found or best <= master + _EPS:
            break
        for index, duty in found:
            add(index, duty)
    return _finish(best, rounds)


def _finish(best: float, rounds: int) -> tuple[float, int]:
    if not math.isfinite(best):
        raise Skipped("no round of column generation finished in time")
    return best, rounds


__all__ = ["COLUMNS_PER_CLASS", "price", "served_bound"]


# ----- a plan from the duties: price-and-branch on small days

# The master's worth of a trip per priority, in routine trips, and of an empty km: only the duties' pricing reads
# these (lexicographic enough to steer it); the integer program counts exactly.
_LP_WORTH = np.array([10_000.0, 100.0, 1.0])
_LP_KM = 1e-3
_IP_WORTH = (10**12, 10**10, 10**8)  # metres: an emergency outweighs every law trip, a routine trip every km


def price_vehicle(net: Network, vehicle: int, value: np.ndarray, legs: Legs,
                  keep: int) -> list[tuple[float, list[int]]]:
    """Up to ``keep`` of the best duties ``vehicle`` can drive (its depot, shift and range kept), each with its worth:
    ``value`` of its trips less `_LP_KM` a km of its empty legs; only trips of positive value are visited."""
    depot = int(net.depot[vehicle])
    driver = _Driver(
        lo=np.maximum(net.early, int(net.shift_start[vehicle]) + net.out_s[depot]),
        hi=np.minimum(net.late, int(net.shift_end[vehicle]) - net.service - net.in_s[:, depot]),
        out_km=net.out_km[depot], home_km=net.in_km[:, depot], range_km=float(net.range_km[vehicle]),
        km_price=_LP_KM)
    useful = net.eligible[:, vehicle] & (driver.lo <= driver.hi) & (value > 0)
    return _best_duties(net, driver, value, useful, legs, keep)[1]


def duty_km(net: Network, vehicle: int, duty: list[int]) -> float:
    """Empty km of ``duty`` driven by ``vehicle``, out of its depot and back (as `Routes` counts them)."""
    depot = int(net.depot[vehicle])
    km = float(net.out_km[depot, duty[0]]) + float(net.in_km[duty[-1], depot])
    return km + sum(net.leg(a, b)[0] for a, b in pairwise(duty))


def recombine(net: Network, routes: Routes, *, rounds: int, deadline: float, seed: int, ip_seconds: float,
              keep: int = COLUMNS_PER_CLASS) -> Routes | None:
    """A plan better than ``routes`` from the duties column generation finds, or None (price-and-branch).

    Up to ``rounds`` rounds of column generation over each vehicle's duties (its depot, shift and range kept),
    begun from ``routes``' own; then CP-SAT picks at most one duty per vehicle and each trip at most once,
    lexicographically (emergencies, law-enforcement trips, routine trips, then empty metres), hinted with
    ``routes``. One CP-SAT worker and a deterministic time limit: the same input gives the same plan, unless
    ``deadline`` stops it first.
    """
    legs = _legs(net, np.ones(net.n, dtype=bool))
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:
        return None
    inf = solver.infinity()
    cover = [solver.Constraint(-inf, 1.0) for _ in range(net.n)]
    one = [solver.Constraint(-inf, 1.0) for _ in range(net.vehicles)]
    objective = solver.Objective()
    objective.SetMaximization()
    columns: list[tuple[int, list[int], float]] = []
    known: set[tuple[int, tuple[int, ...]]] = set()

    def add(vehicle: int, duty: list[int]) -> None:
        key = (vehicle, tuple(duty))
        if key in known:
            return
        known.add(key)
        km = duty_km(net, vehicle, duty)
        columns.append((vehicle, duty, km))
        column = solver.NumVar(0.0, inf, "")
        objective.SetCoefficient(column, float(_LP_WORTH[net.tier[duty]].sum()) - _LP_KM * km)
        one[vehicle].SetCoefficient(column, 1.0)
        for trip in duty:
            cover[trip].SetCoefficient(column, 1.0)

    for vehicle in range(net.vehicles):
        if routes.trips[vehicle]:
            add(vehicle, routes.copy_route(vehicle))
    for _ in range(rounds):
        if time.perf_counter() >= deadline or solver.Solve() != pywraplp.Solver.OPTIMAL:
            break
        value = _LP_WORTH[net.tier] - np.array([max(0.0, row.dual_value()) for row in cover])
        mu = [max(0.0, row.dual_value()) for row in one]
        found = [(vehicle, duty) for vehicle in range(net.vehicles)
                 for gain, duty in price_vehicle(net, vehicle, value, legs, keep) if gain > mu[vehicle] + _EPS]
        if not found:
            break
        for vehicle, duty in found:
            add(vehicle, duty)
    return _pack(net, routes, columns, deadline=deadline, seed=seed, seconds=ip_seconds)


def _pack(net: Network, routes: Routes, columns: list[tuple[int, list[int], float]], *, deadline: float, seed: int,
          seconds: float) -> Routes | None:
    model = cp_model.CpModel()
    chosen = [model.new_bool_var("") for _ in columns]
    by_vehicle: dict[int, list[cp_model.IntVar]] = {}
    by_trip: dict[int, list[cp_model.IntVar]] = {}
    worth = []
    for var, (vehicle, duty, km) in zip(chosen, columns, strict=True):
        by_vehicle.setdefault(vehicle, []).append(var)
        for trip in duty:
            by_trip.setdefault(trip, []).append(var)
        worth.append(sum(_IP_WORTH[int(net.tier[trip])] for trip in duty) - round(km * 1000))
        model.add_hint(var, routes.trips[vehicle] == duty)
    for group in (*by_vehicle.values(), *by_trip.values()):
        model.add_at_most_one(group)
    model.maximize(sum(w * var for w, var in zip(worth, chosen, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = seconds
    if math.isfinite(deadline):  # a work budget alone keeps only the deterministic limit: the same plan every time
        solver.parameters.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    trial = routes.copy()
    for vehicle in range(net.vehicles):
        trial.set_route(vehicle, [])
    for var, (vehicle, duty, _) in zip(chosen, columns, strict=True):
        if solver.value(var):
            trial.set_route(vehicle, duty)
            if not trial.feasible(vehicle):  # the pricing's km and the network's legs disagree by a rounding
                trial.set_route(vehicle, [])
    return trial if better(trial.objective(), routes.objective()) else None
