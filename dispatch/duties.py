"""Column generation over vehicle duties, whose pricing keeps every duty's clock: a small day's price-and-branch
(`recombine`, in the search) and served bounds (`served_bound`, after the arc LP in `dispatch.bounds`).

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
  no later with no less value and has met no trip the first could still meet (no duty meets a trip twice). Only
  trips of positive reduced value are visited: by the triangle inequality a duty without a trip of non-positive
  value is feasible and worth no less, so the best duty is still found. The search is compiled by Numba
  (`dispatch.labels`).
* Anytime: for any prices ``pi >= 0`` on the trips and ``lambda >= 0`` on the floors, ``sum(pi) - lambda . floor +
  sum over classes of units x max(0, best duty's reduced value)`` bounds the LP over every duty (Lagrangian duality),
  so every round gives a valid bound, whenever the deadline stops it.

What stays relaxed: a class pools its depots and kinds and the range of its vehicles is not counted (both only
let more duties in).

The price-and-branch of a small day keeps everything instead: one convexity row per vehicle, each priced with its
own depot, shift and range (a label also carries the km driven, and dominates only with no more of them), the
master's objective the trips' worth by priority less a small price per empty km, started from the searched routes.
With km priced, a trip worth less than nothing may still belong to the best duty (driven loaded towards the next
trip, it saves up to its own length in empty km), so a vehicle's pricing visits every trip worth more than its
length at the km's price: visiting only trips of positive value, the km stage below stopped at 727.2 km on a
20 x 80 day where OR-Tools' plan held duties it had missed (722.1 km; with them, 722.0).
When no duty is worth adding (13-24 rounds on the 20 x 80 tuning days, 0.3-1.3 s), SCIP picks among all the duties
found: the most trips by priority, then the fewest empty km at those counts, each proven optimal over the columns
(at the root on most days, 0.1-2 s). A second column generation then prices empty km at the counts picked, and
SCIP picks again. Where that pick's km stay above the LP's, price-and-dive (the primal heuristic of
branch-and-price) fixes the LP's whole duties and its surest fractional one and generates again, until the LP is
whole; later dives draw their fractional duties at random by value, and SCIP picks again among every duty found
after each. The searched plan is kept unless a pick is better.
"""

from __future__ import annotations

import math
import random
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
from ortools.linear_solver import linear_solver_pb2, pywraplp

from dispatch.network import Network
from dispatch.parallel import Runner
from dispatch.relaxation import Skipped, _depot_legs, _nearest_arcs
from dispatch.routes import Routes, better

_EPS = 1e-6
# The served bound prices duties at this mix of the best bound's prices and the master's (Wentges smoothing): on six
# 100 x 500 reporting days' law-enforcement and routine stages, 0.5 converged in 1.4-40.9 s where the master's own
# prices took 1.3-59.2 s (faster on 11 of 12 stages), to the same bounds.
SMOOTHING = 0.5
COLUMNS_PER_CLASS = 12  # duties added per class and round (the best end labels of its pricing)
_ALL = 1 << 20  # successors kept per trip: every one the windows allow
LABELS_AT_FIRST = 1024  # the pricing's room for labels before it grows (`dispatch.labels.search`)


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


@dataclass(frozen=True)
class Legs:
    """Every leg the windows allow between trips of a mask, in rows: trip ``t``'s successors are
    ``heads[starts[t]:starts[t + 1]]``, with their empty km and drive seconds."""

    starts: np.ndarray
    heads: np.ndarray
    km: np.ndarray
    seconds: np.ndarray


def _legs(net: Network, inside: np.ndarray) -> Legs:
    """Every leg the windows allow between trips of ``inside``."""
    tail, head, km, _, _ = _nearest_arcs(net, _ALL, inside)
    seconds = net.travel.seconds(km).astype(np.int64)
    order = np.argsort(tail, kind="stable")
    return Legs(starts=np.searchsorted(tail[order], np.arange(net.n + 1)).astype(np.int64),
                heads=head[order].astype(np.int64), km=km[order].astype(np.float64), seconds=seconds[order])


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


def load_pricing() -> None:
    """Load the compiled pricing (`dispatch.labels`) now. Loading it takes Numba and LLVM about 0.4 s and adds about
    130 MB to the process, so a process that never prices goes without (the API server, which places urgent trips
    but leaves whole days to its solve workers); `dispatch.solve` loads it before its clock starts and before the
    search forks its workers, which then share it."""
    import dispatch.labels  # noqa: F401


def _best_duties(net: Network, driver: _Driver, value: np.ndarray, useful: np.ndarray, legs: Legs,
                 keep: int) -> tuple[float, list[tuple[float, list[int]]]]:
    """Label setting in pickup-time order over the ``useful`` trips: the most any duty is worth and up to ``keep``
    of the best duties, each with its worth (trips' ``value`` less ``driver.km_price`` an empty km). No duty meets
    a trip twice.

    A label is (time, worth, km driven, trips it may not meet again). It is dominated by another at its trip that
    picks up no later, is worth no less, has (with a range) driven no more, and has met none of the trips it could
    still meet. A trip can be met again only if its window is at least its service long (a chain's clock moves on
    by the service), and only while its window is open, so those are the only trips a label keeps: without them a
    label that met such a trip early could dominate one whose best duty meets it later, and that duty would be
    lost."""
    # A vehicle's pricing (km priced) keeps a label that drove less even without a range: more distinct duties for
    # the pick, and the configuration measured (with the CP-SAT pick; without it 3 small tuning days better, 4 worse).
    ranged = math.isfinite(driver.range_km) or driver.km_price > 0
    again = (driver.hi - driver.lo >= net.service) & useful
    ints, floats, flags = (partial(np.ascontiguousarray, dtype=kind) for kind in (np.int64, np.float64, np.bool_))
    from dispatch.labels import search  # loaded on first use: see `load_pricing`

    gains, labels, trip_of, parent = search(
        flags(useful), floats(value), ints(driver.lo), ints(driver.hi), ints(net.service), floats(net.loaded_km),
        floats(driver.out_km), floats(driver.home_km), float(driver.range_km), float(driver.km_price), ranged,
        flags(again), legs.starts, legs.heads, legs.km, legs.seconds, LABELS_AT_FIRST)
    if len(gains) == 0:
        return 0.0, []
    order = np.argsort(-gains, kind="stable")
    found: list[tuple[float, list[int]]] = []
    seen_duties: set[tuple[int, ...]] = set()
    for end in order.tolist():
        gain = float(gains[end])
        if len(found) >= keep or gain <= _EPS:
            break
        chain = []
        label = int(labels[end])
        while label >= 0:
            chain.append(int(trip_of[label]))
            label = int(parent[label])
        duty = tuple(reversed(chain))
        if duty not in seen_duties:
            seen_duties.add(duty)
            found.append((gain, list(duty)))
    return float(gains[order[0]]), found


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

    ``start``: each vehicle's duty to begin the master with (a plan's routes, by vehicle, cut to ``trips``), in
    the class of its vehicle, so that together they meet the floors. Raises `Skipped` when not even one round
    finished by ``deadline``.
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
    for vehicle, duty in enumerate(start or []):
        own = [i for i, c in enumerate(classes) if c.members[vehicle] and c.trips[duty].all()]
        if duty and own:
            add(own[0], duty)
    cover_trips = np.fromiter(cover, dtype=np.int64, count=len(cover))
    cover_rows, floor_rows_at, limit_rows = _rows(cover.values()), _rows(floor_rows), _rows(limit)
    counts = np.array([count for _, count in floors], dtype=np.float64)
    inside = np.stack([mask for mask, _ in floors]).astype(np.float64) if floors else np.zeros((0, n))
    whole = bool(np.all(weight[trips] == np.round(weight[trips])))  # a count of trips: the bound is its floor
    best = math.inf
    centre: tuple[np.ndarray, np.ndarray] | None = None  # the prices of the best bound so far
    rounds = 0
    while time.perf_counter() < deadline:
        solved = _solve(solver, deadline - time.perf_counter())
        if solved is None:
            break
        master, dual, _ = solved
        pi_master = np.zeros(n)
        pi_master[cover_trips] = np.maximum(0.0, dual[cover_rows])
        lam_master = np.maximum(0.0, -dual[floor_rows_at])
        mu = np.maximum(0.0, dual[limit_rows])
        reduced = weight - pi_master + lam_master @ inside  # a duty's worth at the master's prices
        pi, lam = (pi_master, lam_master) if centre is None else (
            SMOOTHING * centre[0] + (1 - SMOOTHING) * pi_master, SMOOTHING * centre[1] + (1 - SMOOTHING) * lam_master)
        while True:
            value = weight - pi + lam @ inside
            bound = float(pi.sum() - lam @ counts)
            found: list[tuple[int, list[int]]] = []
            for index, cls in enumerate(classes):
                if time.perf_counter() >= deadline:
                    return _finish(best, rounds)
                most, duties = price(net, cls, value, legs)
                bound += cls.units * most
                found += [(index, duty) for duty in duties if float(reduced[duty].sum()) > mu[index] + _EPS]
            rounds += 1
            if bound < best:
                best, centre = bound, (pi, lam)
            if found or pi is pi_master:
                break
            pi, lam = pi_master, lam_master  # nothing worth adding at the smoothed prices: the master's own
        if not found or best <= master + _EPS or (whole and math.floor(best + _EPS) <= math.floor(master + _EPS)):
            break
        for index, duty in found:
            add(index, duty)
    return _finish(best, rounds)


# GLOP's presolve and scaling, on by default, are redone at every solve of a master that only grew by columns, and
# the presolved model no longer starts from the last basis: without them the duties' served stages on the nine
# 100 x 500 reporting days took 1.3-5.7 times fewer seconds (a third to a sixth of the simplex iterations), to the
# same bounds (docs/benchmarks.md). A master's coefficients are 0 and 1 and its objective whole trips: nothing to
# scale.
GLOP_PARAMETERS = "use_preprocessing: false use_scaling: false"


def _solve(master: pywraplp.Solver, seconds: float = math.inf, *,
           primal: bool = False) -> tuple[float, np.ndarray, np.ndarray] | None:
    """A column generation's master (GLOP) solved to optimality: its value, the dual of each row by the row's index,
    and with ``primal`` each column's value by its index (else nothing); None when GLOP found no optimum within
    ``seconds``.

    GLOP starts each solve from the last basis. Now and then, with columns added since, that start fails at once
    ("Error during the revised simplex algorithm": ABNORMAL after no iteration), though the same master solved
    afresh is optimal in a fraction of a second. Lanzhou 100 x 500 s100's law-enforcement stage stopped there after
    115 rounds with a bound of 222 trips where it converges to 180, and Chengdu's routine stage at 18,075. The
    master is then solved once more from its exported model."""
    limit = max(1, int(min(seconds, 1e6) * 1000))
    master.SetTimeLimit(limit)
    master.SetSolverSpecificParametersAsString(GLOP_PARAMETERS)
    solver, status = master, master.Solve()
    if status == pywraplp.Solver.ABNORMAL:
        model = linear_solver_pb2.MPModelProto()
        master.ExportModelToProto(model)
        solver = pywraplp.Solver.CreateSolver("GLOP")
        solver.LoadModelFromProto(model)
        solver.SetTimeLimit(limit)
        solver.SetSolverSpecificParametersAsString(GLOP_PARAMETERS)
        status = solver.Solve()
    if status != pywraplp.Solver.OPTIMAL:
        return None
    values = np.array([column.solution_value() for column in solver.variables()] if primal else [])
    return solver.Objective().Value(), np.array([row.dual_value() for row in solver.constraints()]), values


def _rows(constraints: Iterable[pywraplp.Constraint]) -> np.ndarray:
    """The indices of ``constraints`` in their solver (the positions of their duals in `_solve`'s answer)."""
    return np.array([row.index() for row in constraints], dtype=np.int64)


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
PICK_NODES = 1000  # branch-and-bound nodes per solve of the pick (1-2 on the 20 x 80 tuning days)
DIVE_GAP_KM = 0.05  # a dive runs when the km stage's pick is this far above its LP
_WHOLE = 1e-6  # a column's LP value this near 0 or 1 counts as whole
_BLOCKED = 1e9  # the worth of a trip a dive has given to a fixed duty: never visited by the pricing


def price_vehicle(net: Network, vehicle: int, value: np.ndarray, legs: Legs, keep: int,
                  km_price: float = _LP_KM) -> list[tuple[float, list[int]]]:
    """Up to ``keep`` of the best duties ``vehicle`` can drive (its depot, shift and range kept), each with its worth:
    ``value`` of its trips less ``km_price`` a km of its empty legs. Only trips worth more than ``km_price`` a km of
    their own length are visited: a trip cuts a duty's empty km by at most its length (the triangle inequality), so
    with km priced a trip of no value may still be worth driving, on the way to the next one."""
    depot = int(net.depot[vehicle])
    driver = _Driver(
        lo=np.maximum(net.early, int(net.shift_start[vehicle]) + net.out_s[depot]),
        hi=np.minimum(net.late, int(net.shift_end[vehicle]) - net.service - net.in_s[:, depot]),
        out_km=net.out_km[depot], home_km=net.in_km[:, depot], range_km=float(net.range_km[vehicle]),
        km_price=km_price)
    useful = net.eligible[:, vehicle] & (driver.lo <= driver.hi) & (value + km_price * net.loaded_km > 0)
    return _best_duties(net, driver, value, useful, legs, keep)[1]


def duty_km(net: Network, vehicle: int, duty: list[int]) -> float:
    """Empty km of ``duty`` driven by ``vehicle``, out of its depot and back (as `Routes` counts them)."""
    depot = int(net.depot[vehicle])
    km = float(net.out_km[depot, duty[0]]) + float(net.in_km[duty[-1], depot])
    return km + sum(net.leg(a, b)[0] for a, b in pairwise(duty))


def recombine(net: Network, routes: Routes, *, rounds: int, deadline: float, seed: int, km_rounds: int = 0,
              vehicles: list[int] | None = None, trips: np.ndarray | None = None,
              keep: int = COLUMNS_PER_CLASS, run: Runner[Any, Any] | None = None, dives: int = 0) -> Routes | None:
    """A plan better than ``routes`` from the duties column generation finds, or None (price-and-branch).

    Up to ``rounds`` rounds of column generation over each vehicle's duties (its depot, shift and range kept),
    begun from ``routes``' own; then `_pack` picks at most one duty per vehicle and each trip at most once,
    lexicographically (emergencies, law-enforcement trips, routine trips, then empty km), hinted with ``routes``.
    With ``km_rounds``, a second column generation follows over the same master, with the picked plan's count of
    each priority as floors and its empty km as the objective, and a second pick among every duty found. Then, where
    that pick's km stay more than `DIVE_GAP_KM` above the LP's, up to ``dives`` dives, and a pick after each. The
    same input and seed give the same plan, unless ``deadline`` stops it first.

    A neighbourhood of a larger day: only ``vehicles`` get new duties, over the ``trips`` mask (which holds every
    trip on them); every other vehicle keeps its route.

    ``run`` (a `dispatch.parallel` runner) prices the vehicles in its worker processes, a share of them each; the
    duties found and their order are the same as when they are priced here one after another.
    """
    vehicles = list(range(net.vehicles)) if vehicles is None else vehicles
    inside = np.ones(net.n, dtype=bool) if trips is None else trips
    legs = _legs(net, inside)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:
        return None
    inf = solver.infinity()
    cover = [solver.Constraint(-inf, 1.0) for _ in range(net.n)]
    one = [solver.Constraint(-inf, 1.0) for _ in range(net.vehicles)]
    floors: list[pywraplp.Constraint] = []  # the km stage's: at least the best plan's trips of each priority
    objective = solver.Objective()
    objective.SetMaximization()
    columns: list[tuple[int, list[int], float]] = []
    variables: list[pywraplp.Variable] = []
    known: set[tuple[int, tuple[int, ...]]] = set()

    def worth(duty: list[int], km: float) -> float:
        return -km if floors else float(_LP_WORTH[net.tier[duty]].sum()) - _LP_KM * km

    def add(vehicle: int, duty: list[int]) -> None:
        key = (vehicle, tuple(duty))
        if key in known:
            return
        known.add(key)
        km = duty_km(net, vehicle, duty)
        columns.append((vehicle, duty, km))
        column = solver.NumVar(0.0, inf, "")
        variables.append(column)
        one[vehicle].SetCoefficient(column, 1.0)
        for trip in duty:
            cover[trip].SetCoefficient(column, 1.0)
        stage(column, duty, km)

    def stage(column: pywraplp.Variable, duty: list[int], km: float) -> None:
        """The column's worth and floor counts in the stage the master is in."""
        objective.SetCoefficient(column, worth(duty, km))
        for row, count in zip(floors, _tiers(net, duty).tolist(), strict=False):
            row.SetCoefficient(column, float(count))

    def generate(limit: int, tier_value: Callable[[np.ndarray], np.ndarray], km_price: float,
                 priced: list[int], blocked: np.ndarray | None = None) -> tuple[float, np.ndarray] | None:
        """Rounds of column generation, pricing the ``priced`` vehicles away from the ``blocked`` trips: the last
        master's value and its columns' values, or None when no master was solved (the clock, or no plan meets the
        floors)."""
        cover_rows, one_rows = _rows(cover), _rows(one)
        last: tuple[float, np.ndarray] | None = None
        for _ in range(limit):
            solved = None if time.perf_counter() >= deadline else _solve(
                solver, deadline - time.perf_counter(), primal=dives > 0)  # the columns' values: for the dives
            if solved is None:
                return None
            dual, last = solved[1], (solved[0], solved[2])
            value = tier_value(dual)[net.tier] - np.maximum(0.0, dual[cover_rows])
            value[~inside] = 0.0
            if blocked is not None:
                value[blocked] = -_BLOCKED
            mu = np.maximum(0.0, dual[one_rows]).tolist()
            found_by = _price_all(net, priced, value, inside, legs, keep, km_price, deadline, run)
            if found_by is None:  # the clock ended the round
                return None
            found = [(vehicle, duty) for vehicle, best in zip(priced, found_by, strict=True)
                     for gain, duty in best if gain > mu[vehicle] + _EPS and (vehicle, tuple(duty)) not in known]
            if not found:
                break
            for vehicle, duty in found:
                add(vehicle, duty)
        return last

    for vehicle in vehicles:
        if routes.trips[vehicle]:
            add(vehicle, routes.copy_route(vehicle))
    generate(rounds, lambda _: _LP_WORTH, _LP_KM, vehicles)
    if time.perf_counter() >= deadline:  # a pick cut short at once is only the hint again
        return None
    picked = _pack(net, routes, vehicles, columns, deadline=deadline, seed=seed)
    if km_rounds <= 0 or time.perf_counter() >= deadline:
        return picked
    # Fewest empty km at the picked counts: the first master prices km so lightly that where its optimum serves a
    # fraction more than any plan can, its duties are the ones that reach for that fraction, not the ones that
    # drive least at the counts a plan reaches.
    best = picked if picked is not None else routes
    served = np.bincount(net.tier[inside & (best.where >= 0)], minlength=3)
    floors.extend(solver.Constraint(float(count), inf) for count in served.tolist())
    for column, (_, duty, km) in zip(variables, columns, strict=True):
        stage(column, duty, km)
    floor_rows = _rows(floors)

    def km_value(dual: np.ndarray) -> np.ndarray:
        value: np.ndarray = np.maximum(0.0, -dual[floor_rows])
        return value

    lp = generate(km_rounds, km_value, 1.0, vehicles)
    if time.perf_counter() >= deadline:
        return picked
    again = _pack(net, best, vehicles, columns, deadline=deadline, seed=seed)
    best = again if again is not None else best
    if dives > 0 and lp is not None and sum(map(best.route_empty_km, vehicles)) > -lp[0] + DIVE_GAP_KM:
        # Price-and-dive: the pick chooses among the duties the LP wanted, and where it stays above the LP's km
        # (608.2-614.7 km over an LP of 601.7 on Xi'an 20 x 80 s103, by the routes it began from), fixing the LP's
        # surest duties and pricing again finds the duties that fit beside them. Each later dive draws its
        # fractional duties at random, in proportion to their values (from ``seed``, so repeatable): forbidding
        # the first choice of the dive before instead (a limited discrepancy search) found less (docs/benchmarks.md).
        draw = random.Random(seed)
        for dive in range(dives):
            blocked = np.zeros(net.n, dtype=bool)
            priced = list(vehicles)
            fixed: list[int] = []
            while lp is not None and time.perf_counter() < deadline:
                step = _fix(lp[1], variables, columns, priced, blocked, draw if dive else None)
                if not step:
                    break
                fixed.extend(step)
                lp = generate(km_rounds, km_value, 1.0, priced, blocked)
            if time.perf_counter() >= deadline:
                break
            dived = _pack(net, best, vehicles, columns, deadline=deadline, seed=seed)
            best = dived if dived is not None else best
            if not fixed or dive == dives - 1:  # the LP was whole, or no dive follows
                break
            for index in fixed:
                variables[index].SetLb(0.0)
            lp = generate(km_rounds, km_value, 1.0, vehicles)
    return best if best is not routes else picked


def _fix(values: np.ndarray, variables: list[pywraplp.Variable], columns: list[tuple[int, list[int], float]],
         priced: list[int], blocked: np.ndarray, draw: random.Random | None = None) -> list[int]:
    """One step of a dive: fix in the master every duty the LP drives whole, then its largest fractional one (the
    first of equals), or with ``draw`` one drawn in proportion to the values, of those that share no vehicle or trip
    with a fixed duty; their vehicles leave ``priced`` and their trips join ``blocked``. The duties fixed, the
    fractional one last; none when no duty is fractional."""
    values_of = values.tolist()
    if not any(_WHOLE < value < 1 - _WHOLE for value in values_of):
        return []
    free = set(priced)
    fixed: list[int] = []

    def take(index: int) -> None:
        vehicle, duty, _ = columns[index]
        variables[index].SetLb(1.0)
        priced.remove(vehicle)
        free.discard(vehicle)
        blocked[duty] = True
        fixed.append(index)

    for index, value in enumerate(values_of):
        # Within the LP's tolerances a whole duty could still meet another: the first one holds.
        if value >= 1 - _WHOLE and columns[index][0] in free and not blocked[columns[index][1]].any():
            take(index)
    fractional = [(-value, index) for index, value in enumerate(values_of)
                  if _WHOLE < value < 1 - _WHOLE and columns[index][0] in free
                  and not blocked[columns[index][1]].any()]
    if fractional and draw is not None:
        take(draw.choices([index for _, index in fractional], weights=[-value for value, _ in fractional])[0])
    elif fractional:
        take(min(fractional)[1])
    return fixed



PRICING_SHARES = 4  # tasks a round of pricing is cut into when it runs in worker processes (vehicles dealt round)


@dataclass(frozen=True, slots=True)
class _Pricing:
    """A share of one round's vehicles to price in a worker process, with what their pricing reads."""

    vehicles: list[int]
    value: np.ndarray
    inside: np.ndarray
    keep: int
    km_price: float
    deadline: float


def _price_all(net: Network, vehicles: list[int], value: np.ndarray, inside: np.ndarray, legs: Legs, keep: int,
               km_price: float, deadline: float,
               run: Runner[Any, Any] | None) -> list[list[tuple[float, list[int]]]] | None:
    """Each vehicle's best duties at ``value`` (`price_vehicle`), in the order of ``vehicles``; None when the clock
    ended the round first. With ``run``, `PRICING_SHARES` tasks price a share of the vehicles each."""
    if run is None or len(vehicles) < 2:
        found = []
        for vehicle in vehicles:
            if time.perf_counter() >= deadline:
                return None
            found.append(price_vehicle(net, vehicle, value, legs, keep, km_price))
        return found
    shares = min(PRICING_SHARES, len(vehicles))
    tasks = [_Pricing(vehicles[k::shares], value, inside, keep, km_price, deadline) for k in range(shares)]
    answers = run(_price_share, tasks)
    if any(answer is None for answer in answers):
        return None
    found = [[] for _ in vehicles]
    for k, answer in enumerate(answers):
        found[k::shares] = answer
    return found


# The last legs a process's pricing shares used: (the network, the trips they join, the legs). A runner without
# worker processes runs the shares in the solving process itself, which may go on to solve another day.
_LEGS: tuple[weakref.ref[Network], bytes, Legs] | None = None


def _price_share(net: Network, task: _Pricing) -> list[list[tuple[float, list[int]]]] | None:
    """A worker's share of a round of pricing (`_price_all`)."""
    global _LEGS
    key = np.packbits(task.inside).tobytes()
    if _LEGS is None or _LEGS[0]() is not net or _LEGS[1] != key:
        _LEGS = (weakref.ref(net), key, _legs(net, task.inside))
    return _price_all(net, task.vehicles, task.value, task.inside, _LEGS[2], task.keep, task.km_price,
                      task.deadline, None)


def _tiers(net: Network, duty: list[int]) -> np.ndarray:
    """The duty's trips per priority (emergency, law enforcement, routine)."""
    return np.bincount(net.tier[duty], minlength=3)


def _pack(net: Network, routes: Routes, vehicles: list[int], columns: list[tuple[int, list[int], float]], *,
          deadline: float, seed: int) -> Routes | None:
    """The best plan of at most one duty per vehicle of ``vehicles`` (the columns' vehicles; the others keep their
    routes) and each trip at most once, by SCIP in two solves: the most trips lexicographically by priority, then the
    fewest empty km at those counts; ``routes`` is the first hint, and the plan is returned only when better than
    it.

    The counts' weights ((n+1)^2, n+1, 1) are exact and small, so the MIP's tolerances cannot trade a trip for
    another (one objective with metres below routine trips had weights of 1e12, which no LP tolerance respects: a
    single CP-SAT objective of that kind proved nothing within its limit on most small days, where these two solves
    close at the root on most). Each solve stops at `PICK_NODES` branch-and-bound nodes, so the same input gives the
    same plan, or at ``deadline``.
    """
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:
        return None
    # Without presolve and cutting planes: the LP over duties is nearly integral already, and on Xi'an and Chengdu
    # 20 x 80 they took 4-5 s of the first solve, which then closed in 0.5 s without them, at the same optimum.
    solver.SetSolverSpecificParametersAsString(
        f"limits/nodes = {PICK_NODES}\nrandomization/randomseedshift = {seed}\npresolving/maxrounds = 0\n"
        "separating/maxrounds = 0\nseparating/maxroundsroot = 0\n")
    exact = pywraplp.MPSolverParameters()
    exact.SetDoubleParam(exact.RELATIVE_MIP_GAP, 0.0)
    chosen = [solver.BoolVar("") for _ in columns]
    groups: dict[tuple[str, int], list[pywraplp.Variable]] = {}
    served = np.zeros((3, len(columns)))
    for index, (var, (vehicle, duty, _)) in enumerate(zip(chosen, columns, strict=True)):
        groups.setdefault(("vehicle", vehicle), []).append(var)
        for trip in duty:
            groups.setdefault(("trip", trip), []).append(var)
        served[:, index] = _tiers(net, duty)
    for group in groups.values():
        solver.Add(solver.Sum(group) <= 1)
    tiers = [solver.Sum([float(c) * var for c, var in zip(row, chosen, strict=True) if c]) for row in served]
    values = [float(routes.trips[vehicle] == duty) for vehicle, duty, _ in columns]
    weight = net.n + 1.0
    for stage in range(2):
        if stage == 0:
            solver.Maximize(weight * weight * tiers[0] + weight * tiers[1] + tiers[2])
        else:
            counts = served @ np.array(values)
            for tier, count in zip(tiers, counts.tolist(), strict=True):
                solver.Add(tier >= round(count))
            solver.Minimize(solver.Sum([km * var for var, (_, _, km) in zip(chosen, columns, strict=True)]))
        solver.SetHint(chosen, values)
        if math.isfinite(deadline):
            solver.SetTimeLimit(max(1, int((deadline - time.perf_counter()) * 1000)))
        if solver.Solve(exact) not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            break
        values = [var.solution_value() for var in chosen]
    trial = routes.copy()
    for vehicle in vehicles:
        trial.set_route(vehicle, [])
    for value, (vehicle, duty, _) in zip(values, columns, strict=True):
        if value > 0.5:
            trial.set_route(vehicle, duty)
            if not trial.feasible(vehicle):  # the pricing's km and the network's legs disagree by a rounding
                trial.set_route(vehicle, [])
    return trial if better(trial.objective(), routes.objective()) else None
