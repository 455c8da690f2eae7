"""Bounds every plan is measured against, from OR-Tools' min-cost flow.

* Trips servable per priority: a trip that no vehicle could serve as its only trip (category, seats, window within
  shift, range) is unservable in any plan, since a detour only adds km and time (the triangle inequality).
* Empty km of the trips a plan serves: each served trip has one leg in and one leg out. Matching every drop-off to
  a next pickup or a depot and every pickup to a previous drop-off or a depot (the assignment relaxation) is a
  min-cost flow; legs the sparse network left out go through a pool at half of the cheapest left-out leg at each
  end, which never overstates such a leg. Its cost is a lower bound on the empty km of any plan serving those trips.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import min_cost_flow

from dispatch.network import KEY, Network
from dispatch.problem import PRIORITIES, Priority

_METRES = 1000.0


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
    trips = np.asarray(trips, dtype=np.int64)
    if len(trips) == 0:
        return 0.0
    local = {int(t): k for k, t in enumerate(trips.tolist())}
    count = len(trips)
    # nodes: out_k = k, in_k = count + k, hub = 2 count (depots), pool = 2 count + 1
    hub, pool = 2 * count, 2 * count + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    tails: list[int] = []
    heads: list[int] = []
    costs: list[int] = []
    for k, trip in enumerate(trips.tolist()):
        # Depots of every eligible vehicle: a superset of the ones that can really serve it, so never too dear.
        depots = np.unique(net.depot[net.eligible[trip]])
        tails += [k, hub]
        heads += [hub, count + k]
        costs += [int(net.in_km[trip, depots].min() * _METRES), int(net.out_km[depots, trip].min() * _METRES)]
        if np.isfinite(net.min_out_km[trip]):
            tails.append(k)
            heads.append(pool)
            costs.append(int(net.min_out_km[trip] / 2 * _METRES))
        if np.isfinite(net.min_in_km[trip]):
            tails.append(pool)
            heads.append(count + k)
            costs.append(int(net.min_in_km[trip] / 2 * _METRES))
        for head in net.succ[trip].tolist():
            other = local.get(head)
            if other is not None:
                tails.append(k)
                heads.append(count + other)
                costs.append(int(net.arcs[trip * KEY + head][0] * _METRES))
    flow.add_arcs_with_capacity_and_unit_cost(
        np.array(tails, dtype=np.int32),
        np.array(heads, dtype=np.int32),
        np.full(len(tails), count, dtype=np.int64),
        np.array(costs, dtype=np.int64),
    )
    supplies = np.concatenate((np.ones(count), -np.ones(count), [0, 0])).astype(np.int64)
    flow.set_nodes_supplies(np.arange(2 * count + 2, dtype=np.int32), supplies)
    if flow.solve() != flow.OPTIMAL:
        return 0.0
    return float(flow.optimal_cost()) / _METRES
