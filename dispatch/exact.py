"""Exact answers where they exist, from OR-Tools' network-flow solvers.

With fixed pickup times (every window a single instant), one depot, one kind of vehicle on one shift and no range
limit, dispatch is a minimum-cost flow: each vehicle is a unit of flow from the depot through a chain of trips
back to the depot; rewarding a trip's node by its priority's weight (emergency >> law enforcement >> routine >> any
empty km) makes the flow's optimum the lexicographic optimum. The same arcs give the minimum number of vehicles
able to serve every trip: a minimum path cover, trips minus a maximum bipartite matching (Vazifeh et al., Nature
2018); with windows, the matching on the optimistic arcs (each pair at its most favourable times) bounds it below.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

from dispatch.network import Network
from dispatch.routes import Routes
from dispatch.travel import Travel

DENSE_LIMIT = 3000  # trips up to which all pairs are examined (9 million pairs, in chunks)
COVER_LIMIT = 600  # trips up to which every plan also reports the vehicles needed (a fraction of a second)
_CHUNK = 256
_INT64 = 2**62


def applies(net: Network) -> bool:
    """Whether the min-cost flow is the exact answer for this problem."""
    if net.n == 0 or net.vehicles == 0 or net.n > DENSE_LIMIT:
        return False
    return bool(
        (net.early == net.late).all()
        and len(np.unique(net.depot)) == 1
        and net.by_kind.shape[1] == 1
        and len(np.unique(net.shift_start)) == 1
        and len(np.unique(net.shift_end)) == 1
        and np.isinf(net.range_km).all()
    )


def chain_arcs(net: Network, *, optimistic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every trip pair (tail, head) one vehicle can serve in a row, with the empty km between them.

    ``optimistic`` picks each pair's most favourable times (earliest finish, latest pickup): a superset of the
    pairs any plan can chain, for bounds; otherwise the times are fixed and the pairs exact.
    """
    finish = net.early + net.service
    tails, heads, kms = [], [], []
    shared = net.by_kind.astype(np.float32)
    for lo in range(0, net.n, _CHUNK):
        rows = np.arange(lo, min(net.n, lo + _CHUNK))
        tail = np.repeat(rows, net.n)
        head = np.tile(np.arange(net.n), len(rows))
        km = net.travel.km(net.drop[tail, 0], net.drop[tail, 1], net.pick[head, 0], net.pick[head, 1])
        drive = net.travel.seconds(km).astype(np.int64)
        target = net.late[head] if optimistic else net.early[head]
        # Zero-length trips at one instant could chain both ways; ordering them by index keeps the graph acyclic
        # (a cycle would let the flow collect a trip's reward without any vehicle driving it).
        ok = (finish[tail] + drive <= target) & ((net.early[tail] < net.early[head]) | (tail < head))
        ok &= (shared[rows] @ shared.T > 0).ravel()
        tails.append(tail[ok])
        heads.append(head[ok])
        kms.append(km[ok])
    return np.concatenate(tails), np.concatenate(heads), np.concatenate(kms)


def min_vehicles(net: Network, trips: np.ndarray, *, optimistic: bool = True) -> int:
    """Fewest vehicles able to serve all of ``trips`` (a minimum path cover; a lower bound unless times are fixed)."""
    trips = np.asarray(trips, dtype=np.int64)
    if len(trips) == 0:
        return 0
    tail, head, _ = chain_arcs(net, optimistic=optimistic)
    inside = np.zeros(net.n, dtype=bool)
    inside[trips] = True
    keep = inside[tail] & inside[head]
    return path_cover(net.n, trips, tail[keep], head[keep])


def min_fleet_at(
    pickup_s: np.ndarray,
    busy_s: np.ndarray,
    pick: np.ndarray,
    drop: np.ndarray,
    group: np.ndarray,
    travel: Travel,
) -> int:
    """Fewest vehicles that serve trips at the given pickup times, one vehicle staying within one ``group``.

    Exact (a minimum path cover of the fixed-time chaining graph): trip ``j`` may follow ``i`` when
    ``pickup_s[i] + busy_s[i]`` plus the drive from ``drop[i]`` to ``pick[j]`` is at most ``pickup_s[j]``. Shifts
    and range are not constraints here; this is the fleet the trips themselves need.
    """
    n = len(pickup_s)
    if n == 0:
        return 0
    free = pickup_s + busy_s
    tails, heads = [], []
    for lo in range(0, n, _CHUNK):
        rows = np.arange(lo, min(n, lo + _CHUNK))
        tail, head = np.nonzero((free[rows, None] <= pickup_s[None, :]) & (group[rows, None] == group[None, :]))
        tail = rows[tail]
        ok = tail != head
        tail, head = tail[ok], head[ok]
        km = travel.km(drop[tail, 0], drop[tail, 1], pick[head, 0], pick[head, 1])
        ok = free[tail] + travel.seconds(km) <= pickup_s[head]
        tails.append(tail[ok])
        heads.append(head[ok])
    return path_cover(n, np.arange(n), np.concatenate(tails), np.concatenate(heads))


def path_cover(n: int, nodes: np.ndarray, tail: np.ndarray, head: np.ndarray) -> int:
    """Fewest chains covering ``nodes`` (of ``n``) in an acyclic graph: nodes minus a maximum bipartite matching."""
    flow = max_flow.SimpleMaxFlow()
    source, sink = 2 * n, 2 * n + 1
    flow.add_arcs_with_capacity(
        np.concatenate((np.full(len(nodes), source), tail, nodes + n)).astype(np.int32),
        np.concatenate((nodes, head + n, np.full(len(nodes), sink))).astype(np.int32),
        np.ones(2 * len(nodes) + len(tail), dtype=np.int64),
    )
    flow.solve(source, sink)
    return int(len(nodes) - flow.optimal_flow())


def solve_exact(net: Network, able: np.ndarray) -> Routes | None:
    """The lexicographic optimum by min-cost flow when `applies`; None if its weights would overflow.

    ``able``: the trips a vehicle can serve alone (`bounds.servable`); all vehicles are alike here.
    """
    vehicle = 0  # any of them: the flow decides how many go out
    tail, head, km = chain_arcs(net, optimistic=False)
    keep = able[tail] & able[head]
    tail, head, km = tail[keep], head[keep], km[keep]
    depot = int(net.depot[vehicle])
    metres_out = np.ceil(net.out_km[depot] * 1000).astype(np.int64)
    metres_in = np.ceil(net.in_km[:, depot] * 1000).astype(np.int64)
    metres = np.ceil(km * 1000).astype(np.int64)
    # Serving one more trip of a priority must outweigh every empty km and every lower-priority trip together.
    routine = int(metres_out.sum() + metres_in.sum() + metres.max(initial=0) * net.n) + 1
    counts = np.bincount(net.tier, minlength=3)
    law = routine * (int(counts[2]) + 1)
    emergency = law * (int(counts[1]) + 1)
    if emergency * (int(counts[0]) + 1) >= _INT64:
        return None
    reward = np.array([emergency, law, routine], dtype=np.int64)[net.tier]
    n = net.n
    source, sink = 2 * n, 2 * n + 1  # trip t: in-node t, out-node n + t
    trips = np.flatnonzero(able)
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = [
        (np.full(len(trips), source), trips, np.ones(len(trips)), metres_out[trips]),
        (trips, trips + n, np.ones(len(trips)), -reward[trips]),
        (trips + n, np.full(len(trips), sink), np.ones(len(trips)), metres_in[trips]),
        (tail + n, head, np.ones(len(tail)), metres),
        (np.array([source]), np.array([sink]), np.array([net.vehicles]), np.array([0])),
    ]
    flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([a[0] for a in arcs]).astype(np.int32),
        np.concatenate([a[1] for a in arcs]).astype(np.int32),
        np.concatenate([a[2] for a in arcs]).astype(np.int64),
        np.concatenate([a[3] for a in arcs]).astype(np.int64),
    )
    supplies = np.zeros(2 * n + 2, dtype=np.int64)
    supplies[source], supplies[sink] = net.vehicles, -net.vehicles
    flow.set_nodes_supplies(np.arange(2 * n + 2, dtype=np.int32), supplies)
    if flow.solve() != flow.OPTIMAL:
        return None
    nxt: dict[int, int] = {}
    starts: list[int] = []
    for arc in range(flow.num_arcs()):
        if flow.flow(arc) <= 0:
            continue
        a, b = flow.tail(arc), flow.head(arc)
        if a == source and b < n:
            starts.append(b)
        elif n <= a < 2 * n and b < n:
            nxt[a - n] = b
    routes = Routes(net)
    for slot, first in enumerate(sorted(starts)):
        chain = [first]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        routes.set_route(slot, chain)
    return routes
