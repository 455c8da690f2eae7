"""Tail exchange across the whole fleet (2-opt*): two cars swap the ends of their routes where that drives fewer
empty km, a car's end may move to an idle car.

The search's neighbourhoods re-cut a dozen cars that share arcs with one seed trip; two cars whose routes cross
somewhere else in the city rarely land in one neighbourhood. This move looks at every arc between two routes (a trip
on one car that another car's trip may follow) and swaps what comes after: car x keeps its trips up to the arc's
tail and takes car y's from the arc's head on, car y the reverse. Every trip stays served, so only the empty km
change; the room a swap frees may then take a left-out trip (the caller's insertion and ejection).

Each check is constant time: per route, sums of empty and loaded km before each cut and after it, and for each tail
the latest pickup its windows allow, the time it takes to drive and the earliest it can end, which with the new
car's shift end and the drive home say whether the tail fits that car.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from dispatch.network import Network
from dispatch.routes import Routes

IDLE_CARS = 4  # idle cars tried for a route's end, nearest to its first trip first


@dataclass(frozen=True, slots=True)
class _Summary:
    """One route's sums for cutting it at any position ``c`` (trips ``[:c]`` kept, ``[c:]`` the tail)."""

    empty_before: list[float]  # empty km into positions 0..c-1 (from the depot to the cut)
    loaded_before: list[float]
    empty_after: list[float]  # empty km between the tail's trips (not into its first, not home)
    loaded_after: list[float]
    window: list[int]  # latest pickup of the tail's first trip that its trips' windows allow
    span: list[int]  # seconds from the tail's first pickup to its last drop-off, with no wait on the way
    finish: list[int]  # the earliest its last drop-off can be, its trips' earliest pickups allow
    kinds: list[np.ndarray]  # vehicle kinds allowed every trip of the tail


def _summary(net: Network, routes: Routes, vehicle: int) -> _Summary:
    trips = routes.trips[vehicle]
    legs, legs_s = routes.legs[vehicle], routes.legs_s[vehicle]
    size = len(trips)
    empty_before, loaded_before = [0.0], [0.0]
    for k in range(size):
        empty_before.append(empty_before[-1] + legs[k])
        loaded_before.append(loaded_before[-1] + float(net.loaded_km[trips[k]]))
    empty_after, loaded_after = [0.0] * (size + 1), [0.0] * (size + 1)
    window, span, finish = [0] * (size + 1), [0] * (size + 1), [0] * (size + 1)
    kinds = [np.ones(len(net.kind_category), dtype=bool)] * (size + 1)
    for k in range(size - 1, -1, -1):
        trip = trips[k]
        service = int(net.service[trip])
        kinds[k] = kinds[k + 1] & net.by_kind[trip]
        loaded_after[k] = loaded_after[k + 1] + float(net.loaded_km[trip])
        if k == size - 1:
            window[k], span[k] = int(net.late[trip]), service
        else:
            empty_after[k] = empty_after[k + 1] + legs[k + 1]
            window[k] = min(int(net.late[trip]), window[k + 1] - legs_s[k + 1] - service)
            span[k] = service + legs_s[k + 1] + span[k + 1]
        finish[k] = max(int(net.early[trip]) + span[k], finish[k + 1])
    return _Summary(empty_before, loaded_before, empty_after, loaded_after, window, span, finish, kinds)


def _end_of(net: Network, routes: Routes, mine: _Summary, theirs: _Summary, vehicle: int, cut: int,
            other: int, at: int) -> float | None:
    """Empty km of ``vehicle``'s trips before ``cut`` followed by ``other``'s from ``at`` on, driven by
    ``vehicle``, or None where that route breaks a window, the shift, the range or the kind (``mine`` and ``theirs``:
    the two routes' `_summary`)."""
    head, tail = routes.trips[vehicle], routes.trips[other]
    depot = int(net.depot[vehicle])
    if cut > 0:
        last = head[cut - 1]
        ready = routes.start[vehicle][cut - 1] + int(net.service[last])
    else:
        ready = int(net.shift_start[vehicle])
    if at == len(tail):  # the vehicle keeps only its own trips before the cut
        if cut == 0:
            return 0.0
        if ready + int(net.in_s[last, depot]) > net.shift_end[vehicle]:
            return None
        empty = mine.empty_before[cut] + float(net.in_km[last, depot])
        return empty if empty + mine.loaded_before[cut] <= net.range_km[vehicle] else None
    first, final = tail[at], tail[-1]
    if not theirs.kinds[at][net.kind[vehicle]]:
        return None
    if cut > 0:
        km, drive = net.leg(last, first)
    else:
        km, drive = float(net.out_km[depot, first]), int(net.out_s[depot, first])
    pickup = max(int(net.early[first]), ready + drive)
    home = max(pickup + theirs.span[at], theirs.finish[at]) + int(net.in_s[final, depot])
    if pickup > theirs.window[at] or home > net.shift_end[vehicle]:
        return None
    empty = mine.empty_before[cut] + km + theirs.empty_after[at] + float(net.in_km[final, depot])
    if empty + mine.loaded_before[cut] + theirs.loaded_after[at] > net.range_km[vehicle]:
        return None
    return empty


def exchange_tails(net: Network, routes: Routes, deadline: float = math.inf) -> bool:
    """Swap route ends between cars (or hand one to an idle car) while that cuts empty km; the first improving swap
    found is made, until a sweep over every arc between two routes finds none or the clock (``deadline``) runs out.
    Changed in place; whether it was. Every trip served stays served."""
    summaries: dict[int, _Summary] = {}

    def summary(vehicle: int) -> _Summary:
        found = summaries.get(vehicle)
        if found is None:
            found = summaries[vehicle] = _summary(net, routes, vehicle)
        return found

    def swap(x: int, cut: int, y: int, at: int) -> bool:
        """Make the swap (x keeps [:cut] and takes y's [at:], y keeps [:at] and takes x's [cut:]) if it gains."""
        of_x, of_y = summary(x), summary(y)
        new_x = _end_of(net, routes, of_x, of_y, x, cut, y, at)
        if new_x is None:
            return False
        new_y = _end_of(net, routes, of_y, of_x, y, at, x, cut)
        if new_y is None or new_x + new_y >= routes.route_empty_km(x) + routes.route_empty_km(y) - 1e-6:
            return False
        head_x, head_y = routes.trips[x], routes.trips[y]
        routes.set_route(x, head_x[:cut] + head_y[at:])
        routes.set_route(y, head_y[:at] + head_x[cut:])
        for vehicle in (x, y):
            del summaries[vehicle]
            idle[vehicle] = not routes.trips[vehicle]
        return True

    idle = routes.unused()  # kept up to date by the swaps rather than recounted for every trip
    changed, sweeping = False, True
    while sweeping:
        sweeping = False
        for trip in np.flatnonzero(routes.where >= 0).tolist():
            if time.perf_counter() >= deadline:
                return changed
            x = int(routes.where[trip])
            if x < 0:
                continue
            cut = int(routes.position[trip]) + 1
            for head in net.succ[trip].tolist():
                y = int(routes.where[head])
                if y >= 0 and y != x and swap(x, cut, y, int(routes.position[head])):
                    changed = sweeping = True
                    break
            else:
                if cut < len(routes.trips[x]):  # the rest of x's route, from the next trip on, to an idle car
                    for y in routes.empty_candidates(routes.trips[x][cut], idle)[:IDLE_CARS].tolist():
                        if swap(x, cut, int(y), 0):
                            changed = sweeping = True
                            break
    return changed
