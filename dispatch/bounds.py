"""Bounds every plan is measured against, from OR-Tools' min-cost flow.

* Trips servable per priority: a trip that no vehicle could serve as its only trip (category, seats, window within
  shift, range) is unservable in any plan, since a detour only adds km and time (the triangle inequality).
* Empty km of the trips a plan serves: each served trip has one leg in and one leg out. Matching every drop-off to
  a next pickup or a depot and every pickup to a previous drop-off or a depot (the assignment relaxation) is a
  min-cost flow; legs the sparse network left out go through a pool at half of the cheapest left-out leg at each
  end, which never overstates such a leg. Its cost is a lower bound on the empty km of any plan serving those trips.

`compute` tightens both with the LP relaxation of vehicle duties (`dispatch.relaxation`), which sees trips compete
for the vehicles of a class in time and chains end within their shift; whatever the LP cannot finish by the
deadline keeps the cheap bound above, and ``method`` says so. Time the served LP leaves goes to column generation
over duties whose clocks are exact (`dispatch.duties`), which can only lower those bounds further.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
from ortools.graph.python import min_cost_flow

from dispatch import duties, parallel, relaxation
from dispatch.network import KEY, Network
from dispatch.plan import Bounds
from dispatch.problem import PRIORITIES, Priority
from dispatch.routes import Routes

_METRES = 1000.0
SERVED_SHARE = 0.6  # of the bounds' time, for the served LP stages
DUAL_START = True  # the Lagrangian starts from the assignment relaxation's dual prices
# Bellman-Ford rounds for those prices at most (26-34 measured from 500 to 5,000 trips, 0.3 s at 5,000): past this
# the Lagrangian starts from each trip's cheapest way in and out instead.
POTENTIAL_ROUNDS = 200
# What the LP stages leave of the served bounds' time goes to column generation over duties (`dispatch.duties`), whose
# clocks are exact: on six 100 x 500 reporting days it lowered the law-enforcement bound by 0-3 trips and routine by
# 0-2 (5-9 s a law stage, 10-41 s a routine one, beyond the LP's 8-15 s; see docs/benchmarks.md).
# On days of up to this many servable trips: their legs alone took 0.23 s at 1,500 trips and 6.5 s at 5,000, before
# any round, which no clock interrupts.
DUTY_STAGE_TRIPS = 2_000
LONGEST_S = 60.0  # the bounds never take longer, whatever the deadline (a work budget alone gives no clock)


def servable(net: Network) -> np.ndarray:
    """Trips that at least one vehicle could serve as its only trip."""
    if net.vehicles == 0:
        return np.zeros(net.n, dtype=bool)
    return np.array([net.alone(trip).any() for trip in range(net.n)], dtype=bool)


def served_upper(net: Network, able: np.ndarray) -> dict[Priority, int]:
    """At most this many trips of each priority can be served (counting each priority on its own)."""
    counts = np.bincount(net.tier[able], minlength=len(PRIORITIES))
    return {priority: int(counts[index]) for index, priority in enumerate(PRIORITIES)}


def deadhead_lower(net: Network, trips: np.ndarray) -> float:
    """Least empty km of any plan that serves exactly ``trips`` (indices), by the assignment relaxation."""
    return assignment(net, trips, prices=False)[0]


def assignment(net: Network, trips: np.ndarray, *, prices: bool = True) -> tuple[float, np.ndarray | None]:
    """The assignment relaxation's least empty km for ``trips`` (indices), and a price per trip (metres) from its
    dual: the potential of the trip's way in less that of its way out.

    Every chain of trips that a vehicle could drive from a depot and back costs at least the prices of its trips
    (its legs are arcs of this flow, or no shorter than a path through its pool or its depot hub), so these prices
    start the Lagrangian (`dispatch.relaxation.lagrangian_deadhead`) at this relaxation's bound (exactly so when
    the Lagrangian's model keeps every successor; its own pool can make a chain a little cheaper). No prices (None)
    when ``prices`` is false or the potentials were not found in `POTENTIAL_ROUNDS`.
    """
    trips = np.asarray(trips, dtype=np.int64)
    if len(trips) == 0:
        return 0.0, np.zeros(0)
    count = len(trips)
    local = np.full(net.n, -1, dtype=np.int64)
    local[trips] = np.arange(count)
    # nodes: out_k = k, in_k = count + k, hub = 2 count (depots), pool = 2 count + 1
    hub, pool = 2 * count, 2 * count + 1
    # Depots of every eligible vehicle: a superset of the ones that can really serve a trip, so never too dear.
    depot_kind = np.zeros((net.out_km.shape[0], net.by_kind.shape[1]), dtype=np.float32)
    depot_kind[net.depot, net.kind] = 1.0
    reach = net.by_kind[trips].astype(np.float32) @ depot_kind.T > 0
    home = np.where(reach, net.in_km[trips], np.inf).min(axis=1)
    away = np.where(reach, net.out_km[:, trips].T, np.inf).min(axis=1)
    k = np.arange(count)
    pool_out, pool_in = np.isfinite(net.min_out_km[trips]), np.isfinite(net.min_in_km[trips])
    tail_parts = [k, np.full(count, hub), k[pool_out], np.full(int(pool_in.sum()), pool)]
    head_parts = [np.full(count, hub), count + k, np.full(int(pool_out.sum()), pool), count + k[pool_in]]
    cost_parts = [home, away, net.min_out_km[trips][pool_out] / 2, net.min_in_km[trips][pool_in] / 2]
    for index, trip in enumerate(trips.tolist()):
        heads = net.succ[trip][local[net.succ[trip]] >= 0]
        if len(heads):
            tail_parts.append(np.full(len(heads), index))
            head_parts.append(count + local[heads])
            cost_parts.append(np.array([net.arcs[trip * KEY + h][0] for h in heads.tolist()]))
    tails = np.concatenate(tail_parts)
    heads_all = np.concatenate(head_parts)
    costs = np.concatenate(cost_parts)
    finite = np.isfinite(costs)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails[finite].astype(np.int32),
        heads_all[finite].astype(np.int32),
        np.full(int(finite.sum()), count, dtype=np.int64),
        (costs[finite] * _METRES).astype(np.int64),
    )
    supplies = np.concatenate((np.ones(count), -np.ones(count), [0, 0])).astype(np.int64)
    flow.set_nodes_supplies(np.arange(2 * count + 2, dtype=np.int32), supplies)
    if flow.solve() != flow.OPTIMAL:
        return 0.0, None
    if not prices:
        return float(flow.optimal_cost()) / _METRES, None
    tails, heads_all = tails[finite].astype(np.int64), heads_all[finite].astype(np.int64)
    metres = (costs[finite] * _METRES).astype(np.int64)
    potential = _potentials(2 * count + 2, tails, heads_all, metres, flow.flows(np.arange(len(tails))) > 0)
    if potential is None:
        return float(flow.optimal_cost()) / _METRES, None
    price = potential[count:2 * count] - potential[:count]
    return float(flow.optimal_cost()) / _METRES, price.astype(np.float64)


def _potentials(nodes: int, tails: np.ndarray, heads: np.ndarray, cost: np.ndarray,
                used: np.ndarray) -> np.ndarray | None:
    """Node potentials of an optimal min-cost flow (OR-Tools does not return its duals): shortest distances in the
    residual network from a root joined to every node at no cost (Bellman-Ford, a numpy pass per round). Every arc
    keeps room here (capacities exceed the supplies), and an arc with flow may also be run backwards. None if
    `POTENTIAL_ROUNDS` rounds did not settle them."""
    tail = np.concatenate((tails, heads[used]))
    head = np.concatenate((heads, tails[used]))
    weight = np.concatenate((cost, -cost[used]))
    order = np.argsort(head, kind="stable")
    tail, head, weight = tail[order], head[order], weight[order]
    targets, first = np.unique(head, return_index=True)
    distance = np.zeros(nodes, dtype=np.int64)
    for _ in range(min(nodes, POTENTIAL_ROUNDS)):
        offered = np.minimum.reduceat(distance[tail] + weight, first)
        better = offered < distance[targets]
        if not better.any():
            return distance
        distance[targets[better]] = offered[better]
    return None


def compute(net: Network, routes: Routes, *, deadline: float, vehicles_needed: int | None = None,
            workers: int = 1, duty_stages: bool = True) -> Bounds:
    """The bounds of a solved plan's ``routes``, held to ``deadline`` (a `time.perf_counter` instant).

    Served per priority: the least of the trips some vehicle could serve alone, the LP relaxation of vehicle
    duties and, in the time that leaves, column generation over duties, lexicographically (the law-enforcement
    bound holds for plans serving at least as many emergencies as this one, the routine bound for plans serving at
    least as many of both). Empty km: the greater of the
    assignment relaxation and the Lagrangian bound of the same relaxation for the trips this plan serves.

    The two need nothing of each other: with ``workers`` > 1 the empty-km bound runs in a forked child while the
    served stages run here, each until ``deadline``; with one, the served stages take `SERVED_SHARE` of the time.
    ``duty_stages``: whether the stages over duties run in what the LP leaves (one that does not converge runs to
    the deadline).
    """
    started = time.perf_counter()
    deadline = min(deadline, started + LONGEST_S)
    able = servable(net)
    upper = served_upper(net, able)
    served = routes.where >= 0
    plan_km = routes.empty_km()
    assigned_km, prices = assignment(net, np.flatnonzero(served))
    lower = min(assigned_km, plan_km)
    start = prices if DUAL_START else None
    beside = parallel.Aside(partial(_empty_km, net, served, plan_km, start, deadline)) \
        if parallel.can_fork(workers) and deadline > time.perf_counter() else None
    counts = np.bincount(net.tier[served], minlength=len(PRIORITIES))
    floor = (int(counts[0]), int(counts[1]), int(counts[2]))
    try:  # the child never outlives the bounds, whatever stops them
        served_by = deadline if beside is not None else started + SERVED_SHARE * (deadline - started)
        served_how = _served_lp(net, able, floor, upper, served_by)
        if duty_stages and time.perf_counter() < served_by and able.sum() <= DUTY_STAGE_TRIPS:
            served_how += _served_duties(net, able, floor, upper, routes, served_by)
        km = _empty_km(net, served, plan_km, start, deadline) if beside is None \
            else beside.result(deadline - time.perf_counter() + parallel.GRACE_SECONDS)
    finally:
        if beside is not None:
            beside.stop()
    km_how = "assignment relaxation (min-cost flow) of the served trips' empty legs"
    if isinstance(km, str) or km is None:
        km_how += f" (Lagrangian skipped: {km or 'its process gave no answer'})"
    elif km.km > lower:
        lower = min(km.km, plan_km)
        km_how = (f"Lagrangian relaxation of the trips' cover rows in the LP relaxation of vehicle duties over "
                  f"the served trips ({km.classes} vehicle classes, arcs to each trip's {km.nearest} nearest "
                  f"successors; {km.rounds} rounds of min-cost flows per class"
                  f"{', beside the served stages' if beside is not None else ''})")
    else:
        km_how += f" (the Lagrangian bound after {km.rounds} rounds was no higher)"
    return Bounds(
        served_upper=upper,
        deadhead_lower_km=round(lower, 3),
        vehicles_needed=vehicles_needed,
        method=f"served: {served_how}; empty km: {km_how}",
        seconds=round(time.perf_counter() - started, 3),
    )


def _served_lp(net: Network, able: np.ndarray, floor: tuple[int, int, int], upper: dict[Priority, int],
               deadline: float) -> str:
    """Lower ``upper`` to the served stages' LP bounds computed by ``deadline``; says how they were found."""
    how = "servable trips (each by some vehicle alone)"
    try:
        tiers, kept = relaxation.served_bounds(net, able, floor, deadline)
    except relaxation.Skipped as why:
        return f"{how} (LP skipped: {why})"
    except MemoryError:  # a bound is worth no lost plan: the plan is already made
        return f"{how} (LP skipped: out of memory)"
    for index, value in enumerate(tiers):
        priority = PRIORITIES[index]
        upper[priority] = max(min(upper[priority], value), floor[index])
    names = ("emergency", "law enforcement given the plan's emergencies",
             "routine given the plan's emergencies and law-enforcement trips")[: len(tiers)]
    how = (f"LP relaxation of vehicle duties (one commodity per vehicle category x shift; arcs to each trip's "
           f"{'/'.join(map(str, kept))} nearest successors and a time-ordered pool; GLOP), lexicographic: "
           f"{'; '.join(names)}")
    if len(tiers) < len(PRIORITIES):
        how += "; the rest servable trips (LP skipped: out of time)"
    return how


def duty_stage(net: Network, able: np.ndarray, tier: int, floor: tuple[int, int, int], routes: Routes,
               deadline: float) -> tuple[float, int]:
    """One served stage by column generation over duties (`duties.served_bound`): the most trips of priority
    ``tier`` among the ``able`` ones, serving at least ``floor``'s count of each priority above, begun from
    ``routes``; and its rounds. Raises `relaxation.Skipped` when no round finished by ``deadline``."""
    mask = able & (net.tier <= tier)
    floors = [(mask & (net.tier == above), floor[above]) for above in range(tier)]
    start = [[trip for trip in route if mask[trip]] for route in routes.trips]
    return duties.served_bound(net, mask, (net.tier == tier).astype(np.float64), floors, deadline, start=start)


def _served_duties(net: Network, able: np.ndarray, floor: tuple[int, int, int], upper: dict[Priority, int],
                   routes: Routes, deadline: float) -> str:
    """Lower ``upper`` further by column generation over duties whose clocks are exact (`duties.served_bound`),
    stage by stage in the time the LP left, begun from the plan's routes; says what each stage found."""
    found = []
    for tier, priority in enumerate(PRIORITIES):
        name = priority.value.replace("_", " ")
        if upper[priority] <= floor[tier]:
            continue  # the plan serves as many as the bound: nothing to tighten
        if time.perf_counter() >= deadline:
            found.append(f"{name} not begun (out of time)")
            continue
        try:
            value, rounds = duty_stage(net, able, tier, floor, routes, deadline)
        except relaxation.Skipped as why:
            found.append(f"{name} skipped ({why})")
            continue
        except MemoryError:
            found.append(f"{name} skipped (out of memory)")
            continue
        tighter = max(math.floor(value + 1e-6), floor[tier])
        # A stage the clock stops still gives a bound, often looser than the LP's then: the lesser is kept.
        found.append(f"{name} {tighter} after {rounds} rounds{'' if tighter < upper[priority] else ' (no tighter)'}")
        upper[priority] = min(upper[priority], tighter)
    if not found:
        return ""
    return f"; then column generation over duties with exact clocks: {', '.join(found)}"


@dataclass(frozen=True)
class _Lagrangian:
    km: float
    rounds: int
    classes: int
    nearest: int


def _empty_km(net: Network, served: np.ndarray, plan_km: float, start: np.ndarray | None,
              deadline: float) -> _Lagrangian | str:
    """The Lagrangian empty-km bound of the served trips by ``deadline``, or why it was skipped."""
    try:
        nearest = relaxation.lagrangian_nearest(deadline - time.perf_counter(), trips=int(served.sum()))
        model = relaxation.build(net, deadline, nearest=nearest, trips=served, pool_step_s=relaxation.POOL_STEP_S)
        km, rounds = relaxation.lagrangian_deadhead(model, served, deadline, upper_km=plan_km, start=start)
    except relaxation.Skipped as why:
        return str(why)
    except MemoryError:
        return "out of memory"
    return _Lagrangian(km, rounds, model.classes, nearest)
