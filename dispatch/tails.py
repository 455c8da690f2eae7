"""Tail exchange across the whole fleet (2-opt*): two cars swap the ends of their routes where that drives fewer
empty km, a car's end may move to an idle car.

The search's neighbourhoods re-cut a dozen cars that share arcs with one seed trip; two cars whose routes cross
somewhere else in the city rarely land in one neighbourhood. This move looks at every arc between two routes (a trip
on one car that another car's trip may follow) and swaps what comes after: car x keeps its trips up to the arc's
tail and takes car y's from the arc's head on, car y the reverse. Every trip stays served, so only the empty km
change; the room a swap frees may then take a left-out trip (the caller's insertion and ejection).

Each check is constant time: per route, sums of empty and loaded km before each cut and after it, and for each tail
the latest pickup its windows allow, the time it takes to drive and the earliest it can end, which with the new
car's shift end and the drive home say whether the tail fits that car. The sweeps are compiled
(`dispatch.tail_swaps`); this module lays the network and the routes out as the arrays they read, runs them in
slices between looks at the clock, and hands the changed routes back to `Routes`.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import numpy as np

from dispatch.network import Network, build
from dispatch.routes import Routes

CHECKS_PER_SLICE = 20_000  # checks between looks at the clock: a few milliseconds
WANTED_AT_MOST = 50_000  # legs a round of sweeps may ask for before they are looked up


@dataclass
class Arcs:
    """The network's arcs in rows, as the sweeps read them: trip ``t``'s successors are
    ``heads[starts[t]:starts[t + 1]]``, with their empty km and drive seconds; and the legs between trips that a
    sweep asked for since (``more``: keys ``tail * trips + head``, sorted, km, seconds). The same for a whole solve:
    build it once (`arcs_of`) and hand it to every `exchange_tails`."""

    starts: np.ndarray
    heads: np.ndarray
    km: np.ndarray
    seconds: np.ndarray
    more: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int64)))

    def look_up(self, net: Network, keys: np.ndarray) -> None:
        """Add the legs of ``keys`` (``tail * trips + head``) to ``more``, as `Network.leg` gives them."""
        new = np.setdiff1d(keys, self.more[0]).astype(np.int64)  # sorted, each once
        legs = [net.leg(key // net.n, key % net.n) for key in new.tolist()]
        merged = np.concatenate((self.more[0], new))
        order = np.argsort(merged, kind="stable")
        self.more = (merged[order],
                     np.concatenate((self.more[1], np.array([leg[0] for leg in legs], dtype=np.float64)))[order],
                     np.concatenate((self.more[2], np.array([leg[1] for leg in legs], dtype=np.int64)))[order])


def arcs_of(net: Network) -> Arcs:
    heads = [np.asarray(row, dtype=np.int64) for row in net.succ]
    counts = np.array([len(row) for row in heads], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    flat = np.concatenate(heads) if heads else np.empty(0, dtype=np.int64)
    tails = np.repeat(np.arange(net.n, dtype=np.int64), counts)
    legs = [net.leg(tail, head) for tail, head in zip(tails.tolist(), flat.tolist(), strict=True)]
    km = np.array([leg[0] for leg in legs], dtype=np.float64)
    seconds = np.array([leg[1] for leg in legs], dtype=np.int64)
    return Arcs(starts, flat, km, seconds)


def _network(net: Network, arcs: Arcs) -> tuple[Any, ...]:
    """The network's arrays in the order `dispatch.tail_swaps` reads them."""
    ints, floats = (partial(np.ascontiguousarray, dtype=kind) for kind in (np.int64, np.float64))
    return (ints(net.early), ints(net.late), ints(net.service), floats(net.loaded_km),
            np.ascontiguousarray(net.by_kind, dtype=np.bool_), ints(net.kind), ints(net.depot), ints(net.shift_start),
            ints(net.shift_end), floats(net.range_km), floats(net.out_km), ints(net.out_s), floats(net.in_km),
            ints(net.in_s), arcs.starts, arcs.heads, arcs.km, arcs.seconds)


def _fleet(net: Network, routes: Routes, network: tuple[Any, ...]) -> tuple[Any, ...]:
    """The routes, their timetables and their per-cut sums, as `dispatch.tail_swaps` reads them. A route may grow
    to twice the longest one's length (a swap that would make it longer is not tried)."""
    from dispatch import tail_swaps

    vehicles, kinds = net.vehicles, net.by_kind.shape[1]
    width = 2 * max((len(trips) for trips in routes.trips), default=0) + 2
    route = np.zeros((vehicles, width), dtype=np.int64)
    length = np.array([len(trips) for trips in routes.trips], dtype=np.int64)
    legs_km = np.zeros((vehicles, width + 1), dtype=np.float64)
    legs_s = np.zeros((vehicles, width + 1), dtype=np.int64)
    start = np.zeros((vehicles, width), dtype=np.int64)
    for vehicle, trips in enumerate(routes.trips):
        if trips:
            size = len(trips)
            route[vehicle, :size] = trips
            start[vehicle, :size] = routes.start[vehicle]
            legs_km[vehicle, :size + 1] = routes.legs[vehicle]
            legs_s[vehicle, :size + 1] = routes.legs_s[vehicle]
    cuts = (vehicles, width + 1)
    fleet = (route, length, legs_km, legs_s, start, routes.where.astype(np.int64), routes.position.astype(np.int64),
             np.zeros(cuts), np.zeros(cuts), np.zeros(cuts), np.zeros(cuts), np.zeros(cuts, dtype=np.int64),
             np.zeros(cuts, dtype=np.int64), np.zeros(cuts, dtype=np.int64),
             np.zeros((vehicles, width + 1, kinds), dtype=np.bool_), np.zeros(vehicles))
    for vehicle in range(vehicles):
        tail_swaps.summarise(network, fleet, vehicle)
    return fleet


@dataclass
class Fleet:
    """A network and routes laid out for the compiled sweeps (`dispatch.tail_swaps`)."""

    network: tuple[Any, ...]
    arrays: tuple[Any, ...]
    arcs: Arcs

    @classmethod
    def of(cls, net: Network, routes: Routes, arcs: Arcs | None = None) -> Fleet:
        arcs = arcs if arcs is not None else arcs_of(net)
        network = _network(net, arcs)
        return cls(network, _fleet(net, routes, network), arcs)

    def end_of(self, x: int, cut: int, y: int, at: int) -> float | None:
        """Empty km of car ``x`` driving its trips before ``cut`` and then car ``y``'s from ``at`` on, or None where
        that route breaks a window, the shift, the range or the kind, or the network has no leg joining them."""
        from dispatch import tail_swaps

        km, drive, known = tail_swaps.junction(self.network, self.arrays, self.arcs.more, x, cut, y, at)
        if not known:
            return None
        empty = float(tail_swaps.end_of(self.network, self.arrays, x, cut, y, at, km, drive))
        return None if empty == tail_swaps.NO else empty


@cache  # once a process: every larger solve calls it before its clock (a day built and swept again, 2-3 ms)
def load_sweeps() -> None:
    """Load the compiled sweeps now, for the types `exchange_tails` calls them with, by running it on a day of two
    cars (compiling them the first time, about 30 s, into Numba's cache; loading them from there later, 0.4-0.7 s,
    and about 130 MB if the pricing's Numba is not loaded yet). `dispatch.solve` does it before its clock starts,
    `make` once after installing."""
    from dispatch.problem import Problem
    from dispatch.routes import construct
    from dispatch.synthetic import city_instance

    net = build(Problem.parse(city_instance(2, 6, seed=1)))
    exchange_tails(net, construct(net))


def exchange_tails(net: Network, routes: Routes, deadline: float = math.inf, arcs: Arcs | None = None, *,
                   idle: bool = True) -> bool:
    """Swap route ends between cars (or, if ``idle``, hand one to an idle car) while that cuts empty km; the first
    improving swap found is made, until a sweep over every arc between two routes finds none or the clock
    (``deadline``) runs out. Changed in place; whether it was. Every trip served stays served. ``arcs``: `arcs_of`
    ``net``, if already built."""
    from dispatch import tail_swaps

    fleet = Fleet.of(net, routes, arcs)
    changed = np.zeros(net.vehicles, dtype=np.bool_)
    marks = (np.zeros(net.vehicles, dtype=np.int64), np.full(net.n, -1, dtype=np.int64))  # see `sweep`
    state = np.zeros(6, dtype=np.int64)
    wanted = np.zeros(WANTED_AT_MOST + 1, dtype=np.int64)  # how many, then the keys of legs not known
    while time.perf_counter() < deadline:
        tail_swaps.sweep(fleet.network, fleet.arrays, fleet.arcs.more, wanted, changed, marks, state,
                         CHECKS_PER_SLICE, idle)
        if state[3] and wanted[0]:  # sweep again, every trip, with the legs the last round asked for
            fleet.arcs.look_up(net, wanted[1:wanted[0] + 1])
            wanted[0] = 0
            marks[1][:] = -1
            state[0], state[1], state[3] = 0, 0, 0
        elif state[3]:
            break
    if not state[2]:
        return False
    route, length = fleet.arrays[0], fleet.arrays[1]
    moved = np.flatnonzero(changed).tolist()
    before = {vehicle: routes.copy_route(vehicle) for vehicle in moved}
    for vehicle in moved:
        routes.set_route(vehicle, route[vehicle, :length[vehicle]].tolist())
    broken = [vehicle for vehicle in moved if not routes.feasible(vehicle)]
    if broken:  # never expected: keep the routes as they were, and say so (the tests fail on a warning)
        warnings.warn(f"tail exchange: the swapped routes of vehicles {broken} do not fit; kept the routes as they "
                      "were", RuntimeWarning, stacklevel=2)
        for vehicle in moved:
            routes.set_route(vehicle, [])
        for vehicle in moved:
            routes.set_route(vehicle, before[vehicle])
        return False
    return True
