"""Fixed-time vehicle scheduling: trips with fixed times, depots with vehicle counts, sparse feasible arcs.

A vehicle leaves its depot, serves a chain of trips along allowed arcs and returns to the same depot. One depot is
a min-cost flow problem, solved exactly. Several depots (MDVSP) are solved from the LP relaxation of the
multi-commodity formulation (one flow per depot), whose bound is very tight: column generation solves the LP, the
LP reduced costs prune every arc that cannot appear in a better schedule, and SCIP solves what is left exactly.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp

_log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
Route = tuple[int, list[int]]

# Reduced costs and duals come from a floating-point simplex; anything within this of zero counts as zero.
_EPS = 1e-6
# Building and reading back a solver model is not covered by the solvers' own time limits; keep this in reserve.
_RESERVE_SECONDS = 0.5
# The LP bound is already within a hair of the optimum: cutting planes and restarts cost more than they gain.
_SCIP_PARAMS = "presolving/maxrestarts = 0\nseparating/maxroundsroot = 0\nrandomization/randomseedshift = {seed}"


class InfeasibleScheduleError(ValueError):
    """The trips cannot all be covered with the vehicles and arcs available."""


class ScheduleTimeoutError(RuntimeError):
    """The time limit ran out before any schedule was found (only when no simple schedule exists)."""


@dataclass(frozen=True)
class ScheduleGraph:
    """Fixed-time scheduling core: trips, depots with vehicle counts, sparse feasible arcs with costs."""

    depot_vehicles: IntArray  # (m,) int64 vehicles available at each depot
    pull_out: IntArray  # (m, n) int64 cost depot k -> trip t; -1 = not allowed
    pull_in: IntArray  # (n, m) int64 cost trip t -> depot k; -1 = not allowed
    arc_tail: npt.NDArray[np.int32]  # (A,) int32 trip index
    arc_head: npt.NDArray[np.int32]  # (A,) int32 trip index
    arc_cost: IntArray  # (A,) int64

    def __post_init__(self) -> None:
        # Arrays are copied and frozen so that a graph, once checked, stays valid.
        vehicles = _int_array("depot_vehicles", self.depot_vehicles, 1, np.int64)
        m = vehicles.shape[0]
        pull_out = _int_array("pull_out", self.pull_out, 2, np.int64)
        n = pull_out.shape[1]
        if pull_out.shape[0] != m:
            raise ValueError(f"pull_out: shape {pull_out.shape}, expected ({m}, n) for {m} depots")
        pull_in = _int_array("pull_in", self.pull_in, 2, np.int64)
        if pull_in.shape != (n, m):
            raise ValueError(f"pull_in: shape {pull_in.shape}, expected {(n, m)}")
        tail = _int_array("arc_tail", self.arc_tail, 1, np.int32)
        head = _int_array("arc_head", self.arc_head, 1, np.int32)
        cost = _int_array("arc_cost", self.arc_cost, 1, np.int64)
        if not tail.shape == head.shape == cost.shape:
            raise ValueError(f"arc_tail, arc_head, arc_cost: lengths {len(tail)}, {len(head)}, {len(cost)} differ")
        if (vehicles < 0).any():
            raise ValueError("depot_vehicles: negative vehicle count")
        for name, arr in (("pull_out", pull_out), ("pull_in", pull_in)):
            if (arr < -1).any():
                raise ValueError(f"{name}: costs must be >= 0, or -1 for not allowed")
        if (cost < 0).any():
            raise ValueError("arc_cost: costs must be >= 0")
        for name, idx in (("arc_tail", tail), ("arc_head", head)):
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"{name}: trip index outside 0..{n - 1}")
        if (tail == head).any():
            raise ValueError("arc_tail, arc_head: an arc from a trip to itself")
        keys = tail.astype(np.int64) * max(n, 1) + head
        if len(np.unique(keys)) != len(keys):
            raise ValueError("arc_tail, arc_head: duplicate arc")
        if not _is_acyclic(n, tail, head):
            # A cycle of trips would be a "vehicle" that never leaves a depot; fixed times rule it out.
            raise ValueError("arc_tail, arc_head: the arcs contain a cycle")
        for name, arr in (
            ("depot_vehicles", vehicles),
            ("pull_out", pull_out),
            ("pull_in", pull_in),
            ("arc_tail", tail),
            ("arc_head", head),
            ("arc_cost", cost),
        ):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def n_depots(self) -> int:
        """Number of depots m."""
        return int(self.depot_vehicles.shape[0])

    @property
    def n_trips(self) -> int:
        """Number of trips n."""
        return int(self.pull_out.shape[1])


@dataclass(frozen=True)
class Schedule:
    """A schedule: one (depot, trips in order) per vehicle, its cost and the best lower bound proven."""

    cost: int
    lower_bound: int
    vehicles: list[Route] = field(default_factory=list)
    optimal: bool = False
    seconds: float = 0.0


def _int_array(name: str, value: object, ndim: int, dtype: type[np.integer]) -> npt.NDArray[np.integer]:
    arr = np.array(value, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got {arr.ndim}-d")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integers, got dtype {arr.dtype}")
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise ValueError(f"{name}: values do not fit {np.dtype(dtype).name}")
    return arr.astype(dtype)


def _is_acyclic(n: int, tail: npt.NDArray[np.integer[Any]], head: npt.NDArray[np.integer[Any]]) -> bool:
    indegree = np.bincount(head, minlength=n)
    order = np.argsort(tail, kind="stable")
    starts = np.searchsorted(tail[order], np.arange(n + 1))
    heads = head[order].tolist()
    remaining = indegree.tolist()
    stack = [t for t in range(n) if remaining[t] == 0]
    seen = 0
    while stack:
        t = stack.pop()
        seen += 1
        for u in heads[starts[t] : starts[t + 1]]:
            remaining[u] -= 1
            if remaining[u] == 0:
                stack.append(u)
    return seen == n


def route_cost(graph: ScheduleGraph, depot: int, trips: Sequence[int]) -> int:
    """Cost of one vehicle leaving `depot`, serving `trips` in order and returning; ValueError if not allowed."""
    if not trips:
        return 0
    total = int(graph.pull_out[depot, trips[0]]) + int(graph.pull_in[trips[-1], depot])
    if graph.pull_out[depot, trips[0]] < 0 or graph.pull_in[trips[-1], depot] < 0:
        raise ValueError(f"depot {depot}: trips {trips[0]}..{trips[-1]} cannot start or end there")
    lookup = _ArcLookup(graph)
    for a, b in pairwise(trips):
        total += lookup.cost(a, b)
    return total


class _ArcLookup:
    """Cost of trip arc (a, b) by binary search over sorted keys."""

    def __init__(self, graph: ScheduleGraph) -> None:
        self._n = max(graph.n_trips, 1)
        keys = graph.arc_tail.astype(np.int64) * self._n + graph.arc_head
        order = np.argsort(keys)
        self._keys = keys[order]
        self._cost = graph.arc_cost[order]

    def cost(self, a: int, b: int) -> int:
        key = a * self._n + b
        i = int(np.searchsorted(self._keys, key))
        if i >= len(self._keys) or self._keys[i] != key:
            raise ValueError(f"trip {b} cannot follow trip {a}")
        return int(self._cost[i])


def _cover_flow(
    graph: ScheduleGraph, depots: Sequence[int], trips: npt.NDArray[np.int64]
) -> tuple[int, list[tuple[int, int, list[int]]]] | None:
    """Cheapest cover of `trips` by chains from `depots` (a chain may end at any of them); None if impossible.

    Returns the cost and the chains as (start depot, end depot, trips). With one depot this is exact.
    """
    s, d = len(trips), len(depots)
    pos = np.full(graph.n_trips, -1, dtype=np.int64)
    pos[trips] = np.arange(s)
    # Nodes: trip i in = i, out = s + i; depot j out = 2s + 2j, in = 2s + 2j + 1; hub = 2s + 2d.
    hub = 2 * s + 2 * d
    tails: list[IntArray] = []
    heads: list[IntArray] = []
    caps: list[IntArray] = []
    costs: list[IntArray] = []

    def add(t: IntArray, h: IntArray, cap: IntArray, c: IntArray) -> None:
        tails.append(t)
        heads.append(h)
        caps.append(cap)
        costs.append(c)

    keep = (pos[graph.arc_tail] >= 0) & (pos[graph.arc_head] >= 0)
    arc_t, arc_h = pos[graph.arc_tail[keep]], pos[graph.arc_head[keep]]
    add(s + arc_t, arc_h, np.ones(len(arc_t), np.int64), graph.arc_cost[keep])
    n_trip_arcs = len(arc_t)
    local = np.arange(s, dtype=np.int64)
    for j, k in enumerate(depots):
        r = np.array([graph.depot_vehicles[k]], np.int64)
        zero = np.zeros(1, np.int64)
        add(np.array([hub]), np.array([2 * s + 2 * j]), r, zero)
        add(np.array([2 * s + 2 * j + 1]), np.array([hub]), r, zero)
        out_c = graph.pull_out[k, trips]
        ok = out_c >= 0
        add(np.full(ok.sum(), 2 * s + 2 * j), local[ok], np.ones(ok.sum(), np.int64), out_c[ok])
        in_c = graph.pull_in[trips, k]
        ok = in_c >= 0
        add(s + local[ok], np.full(ok.sum(), 2 * s + 2 * j + 1), np.ones(ok.sum(), np.int64), in_c[ok])
    flow = min_cost_flow.SimpleMinCostFlow()
    t_all, h_all = np.concatenate(tails), np.concatenate(heads)
    arcs = flow.add_arcs_with_capacity_and_unit_cost(t_all, h_all, np.concatenate(caps), np.concatenate(costs))
    flow.set_nodes_supplies(np.arange(2 * s), np.concatenate([-np.ones(s, np.int64), np.ones(s, np.int64)]))
    if s == 0:
        return 0, []
    if flow.solve() != flow.OPTIMAL:
        return None
    used = flow.flows(arcs) > 0
    # Every trip has exactly one arc in and one out in an integral flow: follow them.
    succ = np.full(s, -1, dtype=np.int64)  # next trip, or -(j + 1) for depot j
    start = np.full(s, -1, dtype=np.int64)  # depot j that a chain starts from, at its first trip
    node_t, node_h = t_all[used], h_all[used]
    is_trip_arc = np.zeros(len(t_all), dtype=bool)
    is_trip_arc[:n_trip_arcs] = True
    tr = is_trip_arc[used]
    succ[node_t[tr] - s] = node_h[tr]
    back = (~tr) & (node_t >= s) & (node_t < 2 * s)
    succ[node_t[back] - s] = -((node_h[back] - 2 * s - 1) // 2 + 1)
    leave = (~tr) & (node_h < s)
    start[node_h[leave]] = (node_t[leave] - 2 * s) // 2
    chains: list[tuple[int, int, list[int]]] = []
    for first in np.nonzero(start >= 0)[0].tolist():
        chain = [first]
        while succ[chain[-1]] >= 0:
            chain.append(int(succ[chain[-1]]))
        end = int(-succ[chain[-1]] - 1)
        chains.append((depots[int(start[first])], depots[end], [int(trips[i]) for i in chain]))
    return int(flow.optimal_cost()), chains


def lower_bound(graph: ScheduleGraph) -> int:
    """Min-cost-flow bound that lets a vehicle return to any depot; exact for one depot."""
    result = _cover_flow(graph, range(graph.n_depots), np.arange(graph.n_trips, dtype=np.int64))
    if result is None:
        raise InfeasibleScheduleError("the trips cannot all be covered with the vehicles and arcs available")
    return result[0]


def _depot_split(graph: ScheduleGraph, depot_of: IntArray) -> tuple[int, list[Route]] | None:
    """Best schedule with trip t served from depot depot_of[t]: one exact min-cost flow per depot."""
    total, routes = 0, []
    for k in range(graph.n_depots):
        result = _cover_flow(graph, [k], np.nonzero(depot_of == k)[0])
        if result is None:
            return None
        total += result[0]
        routes += [(k, chain) for _, _, chain in result[1]]
    return total, routes


def _chain_depots(graph: ScheduleGraph, chains: list[tuple[int, int, list[int]]]) -> IntArray:
    """Each trip's depot: the one its chain in the relaxation starts from."""
    depot_of = np.full(graph.n_trips, -1, dtype=np.int64)
    for k, _, trips in chains:
        depot_of[trips] = k
    return depot_of


@dataclass
class _Columns:
    """All arc variables of the multi-commodity formulation; node n stands for the depot of commodity k."""

    k: IntArray
    tail: IntArray
    head: IntArray
    cost: IntArray

    @classmethod
    def build(cls, graph: ScheduleGraph) -> _Columns:
        n, m = graph.n_trips, graph.n_depots
        parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
        trips = np.arange(n, dtype=np.int64)
        for k in range(m):
            ok = graph.pull_out[k] >= 0
            parts.append((np.full(ok.sum(), k), np.full(ok.sum(), n), trips[ok], graph.pull_out[k, ok]))
            ok = graph.pull_in[:, k] >= 0
            parts.append((np.full(ok.sum(), k), trips[ok], np.full(ok.sum(), n), graph.pull_in[ok, k]))
            a = len(graph.arc_tail)
            parts.append(
                (np.full(a, k), graph.arc_tail.astype(np.int64), graph.arc_head.astype(np.int64), graph.arc_cost)
            )
        return cls(*(np.concatenate([p[i] for p in parts]).astype(np.int64) for i in range(4)))

    def __len__(self) -> int:
        return len(self.k)

    def index_of(self, routes: list[Route], n: int) -> IntArray:
        """Column indices used by a schedule."""
        key = (self.k * (n + 1) + self.tail) * (n + 1) + self.head
        order = np.argsort(key)
        wanted = [(k * (n + 1) + a) * (n + 1) + b for k, trips in routes for a, b in pairwise([n, *trips, n])]
        return np.asarray(order[np.searchsorted(key[order], wanted)], dtype=np.int64)


@dataclass
class _Duals:
    cover: npt.NDArray[np.float64]  # (n,) coverage of each trip
    flow: npt.NDArray[np.float64]  # (m, n) flow conservation per depot and trip
    fleet: npt.NDArray[np.float64]  # (m,) vehicles per depot, <= 0

    def reduced_costs(self, cols: _Columns) -> npt.NDArray[np.float64]:
        n = len(self.cover)
        cover = np.append(self.cover, 0.0)
        flow = np.hstack([self.flow, np.zeros((self.flow.shape[0], 1))])
        rc: npt.NDArray[np.float64] = (
            cols.cost - cover[cols.head] - flow[cols.k, cols.head] + flow[cols.k, cols.tail]
        ) - np.where(cols.tail == n, self.fleet[cols.k], 0.0)
        return rc

    def bound(self, graph: ScheduleGraph, rc: npt.NDArray[np.float64]) -> float:
        """Lagrangian bound valid whatever the duals: every column is at most 1 in any schedule."""
        return float(self.cover.sum() + self.fleet @ graph.depot_vehicles + np.minimum(rc, 0.0).sum())


class _Model:
    """The multi-commodity model over a subset of columns, as an LP (GLOP) or a 0-1 program (SCIP)."""

    def __init__(self, graph: ScheduleGraph, cols: _Columns, backend: str, params: str = "") -> None:
        solver = pywraplp.Solver.CreateSolver(backend)
        if solver is None:
            raise RuntimeError(f"OR-Tools has no {backend} solver")
        if params and not solver.SetSolverSpecificParametersAsString(params):
            raise RuntimeError(f"{backend} refused parameters {params!r}")
        self.solver = solver
        self.graph, self.cols, self.integer = graph, cols, backend != "GLOP"
        n, m = graph.n_trips, graph.n_depots
        self.cover = [solver.Constraint(1.0, 1.0) for _ in range(n)]
        self.flow = [[solver.Constraint(0.0, 0.0) for _ in range(n)] for _ in range(m)]
        self.fleet = [solver.Constraint(-solver.infinity(), float(graph.depot_vehicles[k])) for k in range(m)]
        self.members: list[int] = []
        self.vars: list[pywraplp.Variable] = []

    def add(self, idx: IntArray) -> None:
        n, c = self.graph.n_trips, self.cols
        objective = self.solver.Objective()
        for i, k, a, b, cost in zip(
            idx.tolist(),
            c.k[idx].tolist(),
            c.tail[idx].tolist(),
            c.head[idx].tolist(),
            c.cost[idx].tolist(),
            strict=True,
        ):
            # No upper bound needed in the LP: covering the head already caps every arc at 1.
            var = self.solver.BoolVar("") if self.integer else self.solver.NumVar(0.0, self.solver.infinity(), "")
            objective.SetCoefficient(var, float(cost))
            if a == n:
                self.fleet[k].SetCoefficient(var, 1.0)
            else:
                self.flow[k][a].SetCoefficient(var, -1.0)
            if b != n:
                self.cover[b].SetCoefficient(var, 1.0)
                self.flow[k][b].SetCoefficient(var, 1.0)
            self.members.append(i)
            self.vars.append(var)

    def solve(self, seconds: float, hint: IntArray | None = None) -> int:
        self.solver.SetTimeLimit(max(1, int(seconds * 1000)))
        if hint is not None:
            chosen = set(hint.tolist())
            self.solver.SetHint(self.vars, [1.0 if i in chosen else 0.0 for i in self.members])
        params = pywraplp.MPSolverParameters()
        if self.integer:
            params.SetDoubleParam(params.RELATIVE_MIP_GAP, 0.0)
        return int(self.solver.Solve(params))

    def objective(self) -> float:
        return float(self.solver.Objective().Value())

    def best_bound(self) -> float:
        return float(self.solver.Objective().BestBound())

    def duals(self) -> _Duals:
        return _Duals(
            np.array([c.dual_value() for c in self.cover]),
            np.array([[c.dual_value() for c in row] for row in self.flow]).reshape(self.graph.n_depots, -1),
            np.minimum(np.array([c.dual_value() for c in self.fleet]), 0.0),
        )

    def routes(self) -> list[Route]:
        chosen = np.array([i for i, v in zip(self.members, self.vars, strict=True) if v.solution_value() > 0.5])
        return _routes_from_columns(self.graph, self.cols, chosen.astype(np.int64))


def _routes_from_columns(graph: ScheduleGraph, cols: _Columns, chosen: IntArray) -> list[Route]:
    n = graph.n_trips
    succ = np.full((graph.n_depots, n), -1, dtype=np.int64)
    inner = cols.tail[chosen] < n
    succ[cols.k[chosen][inner], cols.tail[chosen][inner]] = cols.head[chosen][inner]
    routes: list[Route] = []
    for i in chosen[~inner].tolist():
        k, trip, trips = int(cols.k[i]), int(cols.head[i]), []
        while trip != n:
            trips.append(trip)
            trip = int(succ[k, trip])
        routes.append((k, trips))
    return sorted(routes)


def _column_generation(
    graph: ScheduleGraph, cols: _Columns, start: IntArray, deadline: float
) -> tuple[npt.NDArray[np.float64], float, bool]:
    """Price columns into the LP until none has negative reduced cost or time runs out.

    Returns the reduced costs of all columns, the Lagrangian bound they prove and whether the LP is optimal.
    """
    # Without presolve GLOP keeps its basis when columns are added: each round then takes a few hundred pivots.
    lp = _Model(graph, cols, "GLOP", "use_preprocessing: false")
    in_lp = np.zeros(len(cols), dtype=bool)
    in_lp[start] = True
    lp.add(np.nonzero(in_lp)[0])
    # About one column per trip and depot each round keeps the LP small without many rounds.
    per_round = graph.n_trips * graph.n_depots
    rc, best = np.zeros(len(cols)), -math.inf
    while True:
        remaining = deadline - time.monotonic()
        status = lp.solve(remaining - _RESERVE_SECONDS) if remaining > _RESERVE_SECONDS else None
        if status == pywraplp.Solver.INFEASIBLE:
            # The first LP holds a schedule or every column, so it is infeasible only if the problem is.
            raise InfeasibleScheduleError("no fractional assignment of trips to depots covers them all")
        if status != pywraplp.Solver.OPTIMAL:
            return rc, best, False
        duals = lp.duals()
        round_rc = duals.reduced_costs(cols)
        bound = duals.bound(graph, round_rc)
        if bound > best:
            rc, best = round_rc, bound
        entering = np.nonzero((round_rc < -_EPS) & ~in_lp)[0]
        if len(entering) == 0:
            return rc, best, True
        entering = entering[np.argsort(round_rc[entering], kind="stable")[:per_round]]
        in_lp[entering] = True
        lp.add(entering)


def solve(graph: ScheduleGraph, *, time_limit: float, seed: int = 0) -> Schedule:
    """Cover every trip at least cost within `time_limit` seconds; InfeasibleScheduleError if impossible."""
    began = time.monotonic()
    deadline = began + time_limit
    n, m = graph.n_trips, graph.n_depots
    relaxed = _cover_flow(graph, range(m), np.arange(n, dtype=np.int64))
    if relaxed is None:
        raise InfeasibleScheduleError("the trips cannot all be covered with the vehicles and arcs available")
    bound, chains = relaxed
    if all(k == end for k, end, _ in chains):
        # The relaxation's flow already returns every vehicle home (always so with one depot): it is optimal.
        return Schedule(bound, bound, sorted((k, trips) for k, _, trips in chains), True, time.monotonic() - began)
    cols = _Columns.build(graph)
    # Sending each chain of the relaxation home gives a first schedule unless some depot cannot take its chains
    # back; then the LP starts from every column.
    first = _depot_split(graph, _chain_depots(graph, chains))
    cost: float = math.inf
    routes: list[Route] = []
    start = np.arange(len(cols))
    if first is not None:
        cost, routes = first
        start = np.union1d(cols.index_of(routes, n), np.nonzero(cols.tail == n)[0])
    rc, lagrangian, converged = _column_generation(graph, cols, start, deadline)
    if lagrangian == -math.inf:
        # Not even one LP solved in time: only the first schedule and the flow bound to show.
        if first is None:
            raise ScheduleTimeoutError(f"no schedule found within {time_limit} s")
        return Schedule(first[0], min(bound, first[0]), sorted(first[1]), bound >= first[0], time.monotonic() - began)
    bound = max(bound, math.ceil(lagrangian - _EPS))
    _log.debug(
        "LP bound %.2f (optimal: %s) at %.2f s; first schedule %s",
        lagrangian,
        converged,
        time.monotonic() - began,
        cost,
    )
    # Every schedule costs at least lagrangian + the reduced cost of any column it uses (each column is 0 or 1):
    # first solve over the columns the LP nearly uses, for a good schedule, then over every column a cheaper
    # schedule could use, to prove it optimal.
    near = int(1.5 * np.count_nonzero(rc <= _EPS))
    for limit in (float(np.sort(rc)[min(near, len(rc) - 1)]), math.inf):
        if bound >= cost or deadline - time.monotonic() <= _RESERVE_SECONDS:
            break
        threshold = min(limit, cost - 1 - lagrangian)
        incumbent = cols.index_of(routes, n) if routes else None
        keep = np.nonzero(rc <= threshold + _EPS)[0]
        if incumbent is not None:
            keep = np.union1d(keep, incumbent)
        mip = _Model(graph, cols, "SCIP", _SCIP_PARAMS.format(seed=seed))
        mip.add(keep)
        _log.debug(
            "MIP over %d columns (reduced cost <= %.1f) at %.2f s", len(keep), threshold, time.monotonic() - began
        )
        status = mip.solve(deadline - time.monotonic() - _RESERVE_SECONDS, hint=incumbent)
        if status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE) and round(mip.objective()) < cost:
            cost, routes = round(mip.objective()), mip.routes()
        outside = rc[rc > threshold + _EPS]
        # A schedule not found by the MIP uses a column left out, so pays at least the cheapest one.
        beyond = lagrangian + outside.min() if len(outside) else math.inf
        if status == pywraplp.Solver.FEASIBLE:
            beyond = min(beyond, mip.best_bound())
        elif status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.INFEASIBLE):
            continue
        if beyond == math.inf and cost == math.inf:
            raise InfeasibleScheduleError("no assignment of trips to depots covers them all")
        bound = max(bound, math.ceil(min(cost, beyond) - _EPS))
    if not routes:
        raise ScheduleTimeoutError(f"no schedule found within {time_limit} s")
    final = int(cost)
    return Schedule(final, min(bound, final), sorted(routes), bound >= final, time.monotonic() - began)
