"""The LP relaxation of vehicle duties behind the bounds: a multi-commodity flow over time-ordered trip arcs.

One commodity per vehicle class (category × shift; seats merged upward, so a class may serve what any of its
vehicles may), as many units as the class has vehicles. A unit leaves for a trip from the nearest depot of a class
vehicle allowed on it, runs along arcs from trip to trip and returns to the nearest such depot; every trip is
covered at most once over all classes. Range limits count only per class (its vehicles' ranges together).
Everything is relaxed the safe way, so any plan is a flow of this LP:

* A trip may be picked up anywhere in its window cut to the class's shift (the shift start plus the least drive
  from such a depot, to the shift end less the service and the least drive home). An arc ``i -> j`` exists when
  the earliest finish of ``i`` plus the drive reaches ``j`` by its latest pickup. Since every trip of a chain lies
  in that cut window and time only moves on, a chain cannot outlast its shift.
* Arcs from each trip to its ``K`` nearest successors (by empty km) are explicit, with their km. Any other leg
  ``i -> j`` is at least as long as the shortest left-out leg out of ``i`` and the shortest one into ``j``, hence
  at least half of each: it goes through a time-ordered pool of the class (``i`` enters at its earliest finish plus
  half of its shortest left-out drive, ``j`` leaves it by its latest pickup less half of its own), paying half
  of each shortest left-out leg. The Lagrangian's pool keeps time in steps (`POOL_STEP_S`), entering on the step
  before and leaving on the step after: that only relaxes it further (a trip may even meet itself again within a
  step, which the flows may exploit but no plan can), and makes its flows several times faster.
* Windows at least as long as the trip's service would let the LP run a cycle (a circulation covers trips without
  any vehicle); such trips are split into pieces of their window shorter than their service, each a node of its
  own, covered together at most once. A cycle would then need the services on it to fit in the pieces' widths,
  which they do not, so the graph is acyclic.

The served bounds per priority solve the LP with GLOP, lexicographically, one stage per priority over the trips of
that priority and the ones above (`served_bounds`); how many successors are explicit is chosen so that each stage
fits its share of the time (`nearest_for`). The empty-km bound relaxes the
cover rows of the plan's trips with a price each (`lagrangian_deadhead`): every class is then a min-cost flow of
its own, and every price vector gives a valid bound, so it runs up to the deadline and keeps the best.
`Relaxation.deadhead` solves the same LP exactly (for tests and small days).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import linear_solver_pb2, pywraplp

from dispatch.network import Network, exact_arcs, nearest, screened

# Explicit successors kept per trip at most (beyond 80 no bound moved on 100 x 500 days); the rest go through the pool.
NEAREST = 80
FEWEST = 10  # ... and at least
ARCS_PER_TRIP_AND_NEAREST = 5.5  # arcs of the model per trip and kept successor (measured, 100 x 500 to 1,000 x 5,000)
MAX_VARIABLES = 3_000_000  # beyond this the model alone would take seconds to build: skip
# GLOP's time for one stage grows like arcs ** 1.5 (measured on a loaded 2-core machine: 73,000 arcs at 100 x 500 in
# about 1.1 s a stage, 274,000 at 300 x 1,500 in about 9 s): a model that would not fit is skipped, not left unfinished.
LP_ARCS_PER_STAGE = 50_000  # (70,000 measured at 100 x 500; first stages at 300 x 1,500 ran slower)
LP_STAGE_SECONDS = 1.2
# The Lagrangian's pool ticks in steps of this many seconds (a node per step and class, not per trip): a round of its
# min-cost flows at 1,000 x 5,000 went from 2.5 s to 0.28 s, its bound per round 1.6 % lower; at 300 x 1,500 from
# 0.24 to 0.08 s with 80 successors. The served stages keep the exact pool: with these steps GLOP's law-enforcement
# bound on Lanzhou 100 x 500 s1 rose from 173 to 178 trips.
POOL_STEP_S = 300
# A round of the Lagrangian's min-cost flows takes about ROUND_SECONDS_PER_TRIP a trip plus SECONDS_PER_ARC a model
# arc (fitted to 300 x 1,500 and 1,000 x 5,000, a little above what was measured); the first round is not begun if it
# would end past the deadline.
ROUND_SECONDS_PER_TRIP = 4e-5
SECONDS_PER_ARC = 4e-7
# The Lagrangian's own successors per trip: its rounds cost little more with more arcs, and every explicit arc is one
# leg the pool no longer underprices (Lanzhou 100 x 500 s1 in 3.7 s: 19.3 % gap at the GLOP stages' 46 successors,
# 13.6 % at 150). As many as leave time for LAGRANGIAN_ROUNDS rounds (with the exact pool, 300 x 1,500 in 3.5 s:
# 80 successors and 9 rounds 52.8 %, 40 and 10 rounds 53.6 %, 150 and 8 rounds 53.0 %), at most LAGRANGIAN_NEAREST.
LAGRANGIAN_NEAREST = 150
LAGRANGIAN_ROUNDS = 9
FLOW_ARCS_PER_TRIP = 27.0  # model arcs per trip besides its successors (sources, sinks, pools), measured
FLOW_ARCS_PER_TRIP_AND_NEAREST = 3.2  # ... and per trip and kept successor, over all classes
OVERSHOOT = 1.25  # the Lagrangian's step aims this far above its best bound so far
# Building and loading the model and GLOP's own bookkeeping are not covered by its time limit.
_RESERVE = 0.3
# LP optima are floating point: a served bound is rounded down only past this, a km bound shaved by this share.
_EPS = 1e-5
_LEAST_KM = 1e-6  # km: a millimetre; the LP's km below it are zero (`_model`)
_FAR_S = 10**12  # seconds to a depot no vehicle of the class may drive from to the trip


class Skipped(Exception):
    """The relaxation could not be computed in time or size; the message says why."""


@dataclass
class _ClassGraph:
    """One commodity's arcs between LP rows (-1: its source as tail, its sink as head) with their km, its units,
    and the rows of its trip pieces with their trips."""

    tail: np.ndarray
    head: np.ndarray
    km: np.ndarray
    units: int
    piece_rows: np.ndarray
    piece_trips: np.ndarray
    range_km: float = math.inf  # the class's vehicles' ranges together (inf if one has none)


@dataclass
class Relaxation:
    """The built LP: variables 0..n-1 cover the trips, the rest are arcs with their km as objective."""

    net: Network
    classes: int
    pieces: int
    arcs: int
    graphs: list[_ClassGraph] = field(default_factory=list)
    rows: int = 0  # LP rows: n cover rows, then per class its source row, piece rows and pool rows
    _proto: linear_solver_pb2.MPModelProto | None = None

    def proto(self, deadline: float) -> linear_solver_pb2.MPModelProto:
        """The LP as a model (built on first use), unless it is too large for the time left."""
        if self._proto is None:
            if self.arcs > lp_arcs_within(deadline - time.perf_counter()):
                raise Skipped(f"LP too large for the time left ({self.arcs:,} arcs)")
            self._proto = _model(self)
        return self._proto

    def _solver(self, deadline: float) -> pywraplp.Solver:
        proto = self.proto(deadline)
        solver = pywraplp.Solver.CreateSolver("GLOP")
        if solver is None:
            raise Skipped("GLOP is not available")
        error = solver.LoadModelFromProto(proto)
        if error:
            raise Skipped(f"LP not loaded: {error}")
        return solver

    @staticmethod
    def _solve(solver: pywraplp.Solver, deadline: float, what: str) -> float:
        left = deadline - time.perf_counter() - _RESERVE
        if left <= 0.05:
            raise Skipped(f"no time left for the {what} LP")
        solver.SetTimeLimit(max(1, int(left * 1000)))
        status = solver.Solve()
        if status != pywraplp.Solver.OPTIMAL:
            late = time.perf_counter() >= deadline - _RESERVE
            raise Skipped(f"{what} LP not solved in time" if late else f"{what} LP ended with status {status}")
        return float(solver.Objective().Value())

    def deadhead(self, served: np.ndarray, deadline: float) -> float:
        """Least empty km of a flow covering exactly the trips ``served`` (a bool mask)."""
        solver = self._solver(deadline)
        for t, value in enumerate(served.astype(float).tolist()):
            solver.variable(t).SetBounds(value, value)
        solver.Objective().SetMinimization()
        return max(0.0, self._solve(solver, deadline, "empty-km") * (1 - _EPS))


def served_bounds(net: Network, able: np.ndarray, floor: tuple[int, int, int], deadline: float,
                  *, nearest: int | None = None) -> tuple[list[int], list[int]]:
    """Most trips per priority: emergency; then law enforcement among flows covering at least ``floor[0]``
    emergencies; then routine among flows covering at least ``floor[0]`` and ``floor[1]``.

    Each stage is an LP over the trips of its priority and the ones above only (the others need not be covered, so
    leaving them out changes no optimum and makes the early stages small); ``nearest`` successors are explicit
    (by default as many as fit the time left, `nearest_for`). Returns the bounds computed in time (the later ones
    may be missing) and the successors each stage kept; raises `Skipped` if none was computed.
    """
    out: list[int] = []
    kept: list[int] = []
    for tier, name in enumerate(("emergency", "law-enforcement", "routine")):
        mask = able & (net.tier <= tier)
        try:
            # Each stage sizes its model for an equal share of the time left.
            k = nearest or nearest_for(net, (deadline - time.perf_counter()) / (3 - tier), trips=int(mask.sum()))
            model = build(net, deadline, nearest=k, trips=mask)
            solver = model._solver(deadline)
            objective = solver.Objective()
            objective.Clear()
            for above in range(tier + 1):
                trips = np.flatnonzero(mask & (net.tier == above)).tolist()
                if above == tier:
                    for t in trips:
                        objective.SetCoefficient(solver.variable(t), 1.0)
                else:  # only flows at least as good as the plan at the priorities above count
                    row = solver.Constraint(float(floor[above]), solver.infinity())
                    for t in trips:
                        row.SetCoefficient(solver.variable(t), 1.0)
            objective.SetMaximization()
            value = model._solve(solver, deadline, name)
        except Skipped:
            if not out:
                raise
            return out, kept
        out.append(math.floor(value + 1e-4))
        kept.append(k)
    return out, kept


def lagrangian_deadhead(relax: Relaxation, served: np.ndarray, deadline: float, *, upper_km: float,
                        iterations: int = 200, start: np.ndarray | None = None) -> tuple[float, int]:
    """A lower bound on the LP's least empty km for the trips ``served``, by relaxing their cover rows.

    With a price per served trip, each class is a min-cost flow of its own (OR-Tools' cost scaling, exact in
    integer metres, arc km rounded down); their costs plus the prices bound the LP from below for any prices, so
    the bound holds whenever the subgradient search stops (at ``deadline`` or after ``iterations``). ``upper_km``
    (the plan's km) steers the step; ``start`` (metres per served trip, in index order) are the first prices,
    by default each trip's cheapest way in and out. Returns the bound and the iterations run; raises `Skipped` if
    none ran.
    """
    net = relax.net
    trips = np.flatnonzero(served)
    if len(trips) == 0:
        return 0.0, 0
    classes = [_flow_graph(graph, served) for graph in relax.graphs]
    if start is not None:
        price = np.asarray(start, dtype=np.float64)
    else:
        # Each trip's cheapest way in plus its cheapest way out (metres): of the starts that need no other
        # relaxation, the best on large days (300 x 1,500: 4,271 km after 12 rounds against 4,079 from half).
        cheapest = np.full(net.n, np.inf)
        for flow in classes:
            np.minimum.at(cheapest, flow.piece_trip, flow.cheapest)
        price = np.where(np.isfinite(cheapest), cheapest, 0.0)[trips]
    best, step, stale, ran = -math.inf, 1.0, 0, 0
    target = upper_km * 1000.0
    # One round of min-cost flows takes about this long; a round that would end past the deadline is not begun.
    took = round_seconds(len(trips), relax.arcs)
    for _ in range(iterations):
        began = time.perf_counter()
        if began + took >= deadline - _RESERVE:
            break
        full = np.zeros(net.n)
        full[trips] = np.floor(price)
        cover = np.zeros(net.n)
        total = float(full.sum())
        for flow in classes:
            cost, used = flow.solve(full)
            total += cost
            np.add.at(cover, flow.piece_trip, used)
        ran += 1
        took = time.perf_counter() - began
        if total > best:
            best, stale = total, 0
        else:
            stale += 1
            if stale >= 3:
                step, stale = step / 2, 0
        slack = 1.0 - cover[trips]
        norm = float(slack @ slack)
        if norm == 0 or target <= total:
            break
        # Polyak's step towards a target a little above the best bound so far (the plan's km overshoots on large
        # days, where the plan is far from the bound, and the prices then swing).
        aim = min(target, best * OVERSHOOT) if best > 0 else target
        price = price + step * max(aim - total, 0.01 * aim) / norm * slack
    if ran == 0:
        raise Skipped(f"no time left for a round of min-cost flows over {relax.arcs:,} arcs")
    return max(0.0, best / 1000.0), ran


@dataclass
class _FlowGraph:
    """One class as a min-cost flow: pieces split into an in and an out node joined by the trip's priced arc."""

    tail: np.ndarray
    head: np.ndarray
    capacity: np.ndarray
    cost: np.ndarray  # metres, rounded down; the piece arcs (the last ``len(piece_trip)``) get minus the price
    piece_trip: np.ndarray
    cheapest: np.ndarray  # per piece: the least metres in plus the least metres out
    nodes: int
    units: int

    def solve(self, price: np.ndarray) -> tuple[float, np.ndarray]:
        """Least cost (metres) with each piece arc paying minus its trip's price, and the flow on each piece arc."""
        cost = self.cost.copy()
        pieces = len(self.piece_trip)
        cost[len(cost) - pieces :] = -price[self.piece_trip]
        flow = min_cost_flow.SimpleMinCostFlow()
        arcs = flow.add_arcs_with_capacity_and_unit_cost(self.tail, self.head, self.capacity, cost.astype(np.int64))
        supplies = np.zeros(self.nodes, dtype=np.int64)
        supplies[-2], supplies[-1] = self.units, -self.units
        flow.set_nodes_supplies(np.arange(self.nodes, dtype=np.int32), supplies)
        if flow.solve() != flow.OPTIMAL:
            raise Skipped("a class's min-cost flow failed")
        used = flow.flows(arcs[len(arcs) - pieces :]).astype(np.float64)
        return float(flow.optimal_cost()), used


def _flow_graph(graph: _ClassGraph, served: np.ndarray) -> _FlowGraph:
    keep_piece = served[graph.piece_trips]
    rows = graph.piece_rows[keep_piece]
    trip = graph.piece_trips[keep_piece]
    dropped = set(graph.piece_rows[~keep_piece].tolist())
    ok = np.array([t not in dropped and h not in dropped for t, h in zip(graph.tail.tolist(), graph.head.tolist(),
                                                                        strict=True)], dtype=bool)
    tail, head, km = graph.tail[ok], graph.head[ok], graph.km[ok]
    pieces = len(rows)
    others = np.unique(np.concatenate((tail, head)))
    others = others[(others >= 0) & ~np.isin(others, graph.piece_rows)]
    local_in = {r: k for k, r in enumerate(rows.tolist())}
    local_time = {r: 2 * pieces + k for k, r in enumerate(others.tolist())}
    source, sink = 2 * pieces + len(others), 2 * pieces + len(others) + 1
    tails = np.array([source if t < 0 else local_in[t] + pieces if t in local_in else local_time[t]
                      for t in tail.tolist()], dtype=np.int32)
    heads = np.array([sink if h < 0 else local_in[h] if h in local_in else local_time[h]
                      for h in head.tolist()], dtype=np.int32)
    timed = (tails >= 2 * pieces) & (heads >= 2 * pieces)
    capacity = np.where(timed, graph.units, 1).astype(np.int64)
    metres = np.floor(km * 1000.0)
    into = np.full(pieces, np.inf)
    np.minimum.at(into, heads[heads < pieces], metres[heads < pieces])
    out_of = np.full(pieces, np.inf)
    is_out = (tails >= pieces) & (tails < 2 * pieces)
    np.minimum.at(out_of, tails[is_out] - pieces, metres[is_out])
    cheapest = into + out_of
    node = np.arange(pieces, dtype=np.int32)
    return _FlowGraph(
        tail=np.concatenate((tails, [source], node)).astype(np.int32),
        head=np.concatenate((heads, [sink], node + pieces)).astype(np.int32),
        capacity=np.concatenate((capacity, [graph.units], np.ones(pieces, dtype=np.int64))),
        cost=np.concatenate((metres, [0.0], np.zeros(pieces))),
        piece_trip=trip,
        cheapest=np.where(np.isfinite(cheapest), cheapest, 0.0),
        nodes=2 * pieces + len(others) + 2,
        units=graph.units,
    )


def _nearest_arcs(
    net: Network, keep: int, inside: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each trip's ``keep`` nearest successors the windows allow (exact km), and the least screened km of any
    other successor out of / predecessor into each trip (inf if none)."""
    n = net.n
    min_out, min_in = np.full(n, np.inf), np.full(n, np.inf)
    empty = np.empty(0, dtype=np.int64)
    tails, heads = [empty], [empty]
    for rows, cols, km, _, ok in screened(net):
        score = np.where(ok & inside[rows, None] & inside[None, cols], km, np.inf)
        best, chosen = nearest(score, keep)
        tails.append(np.repeat(rows, chosen.sum(axis=1)))
        heads.append(cols[best[chosen]])
        np.put_along_axis(score, best, np.inf, axis=1)
        min_out[rows] = score.min(axis=1)
        np.minimum.at(min_in, cols, score.min(axis=0))
    tail, head, km, _ = exact_arcs(net, np.concatenate(tails), np.concatenate(heads))
    return tail, head, km, min_out, min_in


def _pieces(net: Network, width_s: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each trip's window cut into pieces shorter than its service (and no wider than ``width_s``, which keeps a
    trip's arrival and departure times closer together): trip, first and last second of each piece, and the first
    piece of each trip (n + 1 entries)."""
    width = net.late - net.early
    step = np.maximum(net.service, 1)
    if width_s is not None:
        step = np.minimum(step, max(1, width_s))
    count = np.where(width >= step, width // step + 1, 1)
    first = np.concatenate(([0], np.cumsum(count)))
    trip = np.repeat(np.arange(net.n), count)
    rank = np.arange(len(trip)) - first[trip]
    lo = net.early[trip] + rank * step[trip]
    hi = np.where(count[trip] > 1, np.minimum(lo + step[trip] - 1, net.late[trip]), net.late[trip])
    return trip, lo, hi, first


def lp_arcs_within(seconds: float) -> float:
    """How many arcs an LP stage can have to be solved in ``seconds``."""
    return float(LP_ARCS_PER_STAGE * (max(seconds, 0.0) / LP_STAGE_SECONDS) ** (2 / 3))


def nearest_for(net: Network, seconds: float, trips: int | None = None) -> int:
    """How many successors per trip to keep so that an LP stage over ``trips`` trips (all by default) fits in
    ``seconds``."""
    fits = lp_arcs_within(seconds) / (ARCS_PER_TRIP_AND_NEAREST * max(net.n if trips is None else trips, 1))
    return int(min(NEAREST, max(FEWEST, fits)))


def round_seconds(trips: int, arcs: float) -> float:
    """About how long one round of the Lagrangian's min-cost flows takes."""
    return ROUND_SECONDS_PER_TRIP * trips + SECONDS_PER_ARC * arcs


def lagrangian_nearest(seconds: float, trips: int) -> int:
    """How many successors per trip to keep for the Lagrangian over ``trips`` trips so that `LAGRANGIAN_ROUNDS`
    rounds fit in ``seconds``."""
    per_round = max(seconds, 0.0) / LAGRANGIAN_ROUNDS - ROUND_SECONDS_PER_TRIP * trips
    fits = (per_round / SECONDS_PER_ARC / max(trips, 1) - FLOW_ARCS_PER_TRIP) / FLOW_ARCS_PER_TRIP_AND_NEAREST
    return int(min(LAGRANGIAN_NEAREST, max(FEWEST, fits)))


def _depot_legs(net: Network, members: np.ndarray, kinds: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per trip, the least km and seconds out of and back to a depot of a class member able to serve it (its kind):
    a class pools its vehicles' depots, but a trip's first and last legs are driven by a vehicle allowed on it."""
    shape = (len(kinds), net.n)
    out_km, in_km = np.full(shape, np.inf), np.full(shape, np.inf)
    out_s, in_s = np.full(shape, _FAR_S, dtype=np.int64), np.full(shape, _FAR_S, dtype=np.int64)
    for row, kind in enumerate(kinds.tolist()):
        depots = np.unique(net.depot[members & (net.kind == kind)])
        able = net.by_kind[:, kind].astype(bool)
        out_km[row, able] = net.out_km[depots][:, able].min(axis=0)
        in_km[row, able] = net.in_km[able][:, depots].min(axis=1)
        out_s[row, able] = net.out_s[depots][:, able].min(axis=0)
        in_s[row, able] = net.in_s[able][:, depots].min(axis=1)
    # A trip no kind of the class may serve is never present in its graph (and _FAR_S keeps its times from overflowing).
    return out_km.min(axis=0), in_km.min(axis=0), out_s.min(axis=0), in_s.min(axis=0)


def build(net: Network, deadline: float, *, nearest: int = NEAREST, piece_s: int | None = None,
          trips: np.ndarray | None = None, pool_step_s: int = 1) -> Relaxation:
    """The relaxation of ``net``'s day as a GLOP model (no stage set yet); the pool's times on steps of
    ``pool_step_s`` seconds (`POOL_STEP_S` for the Lagrangian).

    :raises Skipped: the model would be too large, or ``deadline`` passed while building it.
    """
    n = net.n
    if time.perf_counter() >= deadline:  # not even the screen of trip pairs: it alone takes seconds at city scale
        raise Skipped("no time left to build the LP")
    inside = np.ones(n, dtype=bool) if trips is None else trips
    tail, head, arc_km, min_out_km, min_in_km = _nearest_arcs(net, nearest, inside)
    speed = 3600.0 / net.travel.speed_kmh
    arc_s = net.travel.seconds(arc_km).astype(np.int64)
    # Half of the least left-out drive at each end, rounded down: their sum never exceeds a left-out leg.
    half_out_s = np.where(np.isfinite(min_out_km), np.floor(np.nan_to_num(min_out_km, posinf=0) * speed / 2), 0)
    half_in_s = np.where(np.isfinite(min_in_km), np.floor(np.nan_to_num(min_in_km, posinf=0) * speed / 2), 0)
    p_trip, p_lo, p_hi, p_first = _pieces(net, piece_s)
    pieces = len(p_trip)
    # Piece-level explicit arcs: every piece of the tail trip to every piece of the head trip.
    per = (p_first[tail + 1] - p_first[tail]) * (p_first[head + 1] - p_first[head])
    # Wide windows cut into many pieces multiply the arcs: refuse before the arrays are made, not after.
    if int(per.sum()) > MAX_VARIABLES:
        raise Skipped(f"{int(per.sum()):,} arcs between the pieces of wide windows: too many to build")
    a_index = np.repeat(np.arange(len(tail)), per)
    offset = np.arange(len(a_index)) - np.repeat(np.cumsum(per) - per, per)
    head_count = (p_first[head + 1] - p_first[head])[a_index]
    pa_tail = p_first[tail[a_index]] + offset // head_count
    pa_head = p_first[head[a_index]] + offset % head_count
    pa_s, pa_km = arc_s[a_index], arc_km[a_index]
    if time.perf_counter() > deadline:
        raise Skipped("no time left to build the LP")

    # Classes: category x shift, with their vehicles, kinds and depots. Rows: 0..n-1 cover the trips; then per
    # class its source capacity, one conservation row per live piece and per pool time.
    category = net.kind_category[net.kind]
    keys = sorted(set(zip(category.tolist(), net.shift_start.tolist(), net.shift_end.tolist(), strict=True)))
    graphs: list[_ClassGraph] = []
    rows, arcs = n, 0
    for cat, start, end in keys:
        members = (category == cat) & (net.shift_start == start) & (net.shift_end == end)
        kinds = np.unique(net.kind[members])
        eligible = np.asarray(net.by_kind[:, kinds].any(axis=1), dtype=bool)
        if not eligible.any():
            continue
        out_km, in_km, out_s, in_s = _depot_legs(net, members, kinds)
        first_pick = start + out_s
        last_pick = end - net.service - in_s
        lo = np.maximum(p_lo, first_pick[p_trip])
        hi = np.minimum(p_hi, last_pick[p_trip])
        present = eligible[p_trip] & (lo <= hi) & inside[p_trip]
        if not present.any():
            continue
        node = np.full(pieces, -1, dtype=np.int64)
        live = np.flatnonzero(present)
        source_row = rows
        node[live] = source_row + 1 + np.arange(len(live))
        rows = source_row + 1 + len(live)
        ok = present[pa_tail] & present[pa_head]
        ok &= lo[pa_tail] + net.service[p_trip[pa_tail]] + pa_s <= hi[pa_head]
        e_tail, e_head, e_km = pa_tail[ok], pa_head[ok], pa_km[ok]
        finish = lo + net.service[p_trip]
        enters = live[np.isfinite(min_out_km[p_trip[live]])]
        leaves = live[np.isfinite(min_in_km[p_trip[live]])]
        # On the pool's steps: entering earlier and leaving later than a vehicle could only relaxes the model.
        t_in = (finish[enters] + half_out_s[p_trip[enters]]) // pool_step_s * pool_step_s
        t_out = -(-(hi[leaves] - half_in_s[p_trip[leaves]]) // pool_step_s) * pool_step_s
        times = np.unique(np.concatenate((t_in, t_out)))
        time_row = rows + np.arange(len(times))
        rows += len(times)
        groups = [
            (np.full(len(live), -1), node[live], out_km[p_trip[live]]),  # source -> piece
            (node[live], np.full(len(live), -1), in_km[p_trip[live]]),  # piece -> sink
            (node[e_tail], node[e_head], e_km),
            (node[enters], time_row[np.searchsorted(times, t_in)], min_out_km[p_trip[enters]] / 2),
            (time_row[np.searchsorted(times, t_out)], node[leaves], min_in_km[p_trip[leaves]] / 2),
            (time_row[:-1], time_row[1:], np.zeros(max(0, len(times) - 1))),  # waiting in the pool
        ]
        graph = _ClassGraph(
            tail=np.concatenate([g[0] for g in groups]).astype(np.int64),
            head=np.concatenate([g[1] for g in groups]).astype(np.int64),
            km=np.concatenate([g[2] for g in groups]).astype(np.float64),
            units=int(members.sum()),
            piece_rows=node[live],
            piece_trips=p_trip[live],
            range_km=float(net.range_km[members].sum()),
        )
        graphs.append(graph)
        arcs += len(graph.tail)
        if arcs > MAX_VARIABLES:
            raise Skipped(f"relaxation too large (over {MAX_VARIABLES:,} arcs)")
        if time.perf_counter() > deadline:
            raise Skipped("no time left to build the relaxation")
    return Relaxation(net=net, classes=len(graphs), pieces=pieces, arcs=arcs, graphs=graphs, rows=rows)


def _model(relax: Relaxation) -> linear_solver_pb2.MPModelProto:
    """The LP: cover variables 0..n-1 (out-flow of a trip's pieces = its cover, at most 1), then every class's arcs
    with their km as objective; conservation at pieces and pool times, the source capped at the class's units."""
    n = relax.net.n
    parts_row: list[np.ndarray] = [np.arange(n)]
    parts_col: list[np.ndarray] = [np.arange(n)]
    parts_coef: list[np.ndarray] = [-np.ones(n)]
    row_lb = np.zeros(relax.rows)
    row_ub = np.zeros(relax.rows)
    trip_of_row = np.full(relax.rows, -1, dtype=np.int64)
    first = n
    for graph in relax.graphs:
        index = first + np.arange(len(graph.tail))
        first += len(graph.tail)
        source_row = int(graph.piece_rows.min()) - 1
        row_lb[source_row], row_ub[source_row] = -np.inf, graph.units
        trip_of_row[graph.piece_rows] = graph.piece_trips
        starts, into, out = graph.tail < 0, graph.head >= 0, graph.tail >= 0
        from_piece = out & (trip_of_row[np.maximum(graph.tail, 0)] >= 0)
        parts_row += [np.full(int(starts.sum()), source_row), graph.head[into], graph.tail[out],
                      trip_of_row[graph.tail[from_piece]]]
        parts_col += [index[starts], index[into], index[out], index[from_piece]]
        parts_coef += [np.ones(int(starts.sum())), np.ones(int(into.sum())), -np.ones(int(out.sum())),
                       np.ones(int(from_piece.sum()))]
    # Range: each vehicle drives at most its range, so a class at most its vehicles' ranges together (one row per
    # class with limits; a trip's loaded km rides on the arc that leaves it).
    first = n
    range_lb: list[float] = []
    range_ub: list[float] = []
    for graph in relax.graphs:
        index = first + np.arange(len(graph.tail))
        first += len(graph.tail)
        if not math.isfinite(graph.range_km):
            continue
        loaded = np.where(graph.tail >= 0, relax.net.loaded_km[np.maximum(trip_of_row[np.maximum(graph.tail, 0)], 0)],
                          0.0)
        loaded = np.where((graph.tail >= 0) & (trip_of_row[np.maximum(graph.tail, 0)] >= 0), loaded, 0.0)
        parts_row.append(np.full(len(index), relax.rows + len(range_ub)))
        parts_col.append(index)
        parts_coef.append(graph.km + loaded)
        range_lb.append(-np.inf)
        range_ub.append(graph.range_km)
    row_lb = np.concatenate((row_lb, range_lb))
    row_ub = np.concatenate((row_ub, range_ub))
    proto = linear_solver_pb2.MPModelProto()
    costs = np.concatenate([np.zeros(n), *(g.km for g in relax.graphs)])
    # Under a millimetre as none: GLOP's scaling took a model with a leg of 1.8e-12 km (a pickup a rounding away from
    # its depot) for infeasible, and called it so. Km are never negative, so zeroing them only relaxes the model.
    costs[costs < _LEAST_KM] = 0.0
    upper = np.concatenate([np.ones(n), np.full(len(costs) - n, np.inf)])
    for ub, cost in zip(upper.tolist(), costs.tolist(), strict=True):
        var = proto.variable.add()
        var.lower_bound, var.upper_bound, var.objective_coefficient = 0.0, ub, cost
    row = np.concatenate(parts_row)
    col = np.concatenate(parts_col)
    coef = np.concatenate(parts_coef)
    kept = np.abs(coef) >= _LEAST_KM  # the range rows' km as the costs (the other coefficients are 1 and -1)
    row, col, coef = row[kept], col[kept], coef[kept]
    order = np.argsort(row, kind="stable")
    row, col, coef = row[order], col[order], coef[order]
    bounds = np.searchsorted(row, np.arange(len(row_lb) + 1))
    cols_list, coefs_list = col.tolist(), coef.tolist()
    for at, (lb, ub) in enumerate(zip(row_lb.tolist(), row_ub.tolist(), strict=True)):
        constraint = proto.constraint.add()
        constraint.lower_bound, constraint.upper_bound = lb, ub
        a, b = int(bounds[at]), int(bounds[at + 1])
        constraint.var_index.extend(cols_list[a:b])
        constraint.coefficient.extend(coefs_list[a:b])
    return proto


__all__ = ["NEAREST", "Relaxation", "Skipped", "build", "lagrangian_deadhead", "lagrangian_nearest", "nearest_for",
           "served_bounds"]
