"""Served bounds by column generation over vehicle duties, whose pricing keeps every duty's clock.

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
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from dispatch.network import Network
from dispatch.relaxation import Skipped, _depot_legs, _nearest_arcs

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


def _successors(net: Network, inside: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every leg the windows allow between trips of ``inside``: per trip, its successors and drive seconds."""
    tail, head, km, _, _ = _nearest_arcs(net, _ALL, inside)
    seconds = net.travel.seconds(km).astype(np.int64)
    order = np.argsort(tail, kind="stable")
    tail, head, seconds = tail[order], head[order], seconds[order]
    cut = np.searchsorted(tail, np.arange(net.n + 1))
    return [(head[cut[t]:cut[t + 1]], seconds[cut[t]:cut[t + 1]]) for t in range(net.n)]


def price(net: Network, cls: _Class, value: np.ndarray, legs: list[tuple[np.ndarray, np.ndarray]],
          keep: int = COLUMNS_PER_CLASS) -> tuple[float, list[list[int]]]:
    """The most a duty of ``cls`` is worth at ``value`` per trip, and up to ``keep`` of its best duties (trips in
    order). 0 and no duty when none is worth more than nothing."""
    useful = cls.trips & (value > 0)
    if not useful.any():
        return 0.0, []
    times: list[int] = []
    worth: list[float] = []
    trip_of: list[int] = []
    parent: list[int] = []
    fronts: dict[int, list[int]] = {}  # trip -> its labels, not dominated when they were made
    heap: list[tuple[int, int]] = []

    def offer(trip: int, at: int, gain: float, came: int) -> None:
        front = fronts.setdefault(trip, [])
        for other in front:
            if times[other] <= at and worth[other] >= gain - _EPS:
                return
        label = len(times)
        times.append(at)
        worth.append(gain)
        trip_of.append(trip)
        parent.append(came)
        front[:] = [o for o in front if not (times[o] >= at and worth[o] <= gain)] + [label]
        heapq.heappush(heap, (at, label))

    for trip in np.flatnonzero(useful).tolist():
        offer(trip, int(cls.lo[trip]), float(value[trip]), -1)
    alive: set[int] = set()
    while heap:
        at, label = heapq.heappop(heap)
        trip = trip_of[label]
        if label not in fronts[trip]:
            continue  # dominated after it was made
        alive.add(label)
        heads, drive = legs[trip]
        if not len(heads):
            continue
        ok = useful[heads]
        heads, drive = heads[ok], drive[ok]
        arrive = np.maximum(cls.lo[heads], at + int(net.service[trip]) + drive)
        fits = (arrive <= cls.hi[heads]) & ((arrive > at) | (heads > trip))
        for head, when in zip(heads[fits].tolist(), arrive[fits].tolist(), strict=True):
            offer(head, when, worth[label] + float(value[head]), label)
    ends = sorted(alive, key=lambda label: -worth[label])
    best = worth[ends[0]] if ends else 0.0
    duties: list[list[int]] = []
    seen: set[tuple[int, ...]] = set()
    for label in ends:
        if len(duties) >= keep or worth[label] <= _EPS:
            break
        chain = []
        at_label = label
        while at_label >= 0:
            chain.append(trip_of[at_label])
            at_label = parent[at_label]
        duty = tuple(reversed(chain))
        if duty not in seen:
            seen.add(duty)
            duties.append(list(duty))
    return max(best, 0.0), duties


def served_bound(net: Network, trips: np.ndarray, weight: np.ndarray, floors: list[tuple[np.ndarray, int]],
                 deadline: float, *, start: list[list[int]] | None = None) -> tuple[float, int]:
    """An upper bound on the weight of the trips (``weight`` per trip, over the ``trips`` mask) any plan serves
    while serving at least ``count`` of each ``(mask, count)`` in ``floors``; and the rounds it took.

    ``start``: duties to begin the master with (a plan's routes, each a feasible duty). Raises `Skipped` when not
    even one round finished by ``deadline``.
    """
    legs = _successors(net, trips)
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
