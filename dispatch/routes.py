"""Routes under construction: each vehicle's trip order with its timetable, and cheapest feasible insertion.

A route keeps, per position, the earliest pickup time (forward pass) and the latest pickup time that still lets
every later trip and the return to the depot keep their windows (backward pass). Inserting a trip between two
positions is then checked in constant time: pick up inside the window, reach the next trip by its latest time,
stay within the shift and the range.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

from dispatch.network import Network

_EMPTY_ROUTE_CANDIDATES = 8  # unused vehicles considered per trip (closest depots first)


@dataclass(frozen=True, slots=True)
class Insertion:
    """Where a trip fits: vehicle, position in its route, added empty km, added road km."""

    vehicle: int
    position: int
    empty_km: float
    road_km: float


class Routes:
    """Every vehicle's route, with the timetable each feasibility check needs."""

    def __init__(self, net: Network) -> None:
        self.net = net
        size = net.vehicles
        self.trips: list[list[int]] = [[] for _ in range(size)]
        self.start: list[list[int]] = [[] for _ in range(size)]
        self.latest: list[list[int]] = [[] for _ in range(size)]
        self.legs: list[list[float]] = [[0.0] for _ in range(size)]  # empty km into each position, last = home
        self.legs_s: list[list[int]] = [[0] for _ in range(size)]
        self.km = [0.0] * size
        self.where = np.full(net.n, -1, dtype=np.int64)
        self.position = np.full(net.n, -1, dtype=np.int64)

    # ----- reading
    def empty_km(self) -> float:
        return sum(self.route_empty_km(vehicle) for vehicle in range(len(self.trips)))

    def route_empty_km(self, vehicle: int) -> float:
        """Empty km of one vehicle's route, the drive home included (none for an idle vehicle)."""
        return sum(self.legs[vehicle]) if self.trips[vehicle] else 0.0

    def objective(self) -> tuple[int, int, int, float]:
        """Lexicographic key, smaller is better: unserved per priority, then empty km."""
        missing = np.bincount(self.net.tier[self.where < 0], minlength=3)
        return int(missing[0]), int(missing[1]), int(missing[2]), self.empty_km()

    def feasible(self, vehicle: int) -> bool:
        """Whether the vehicle's route keeps every window, its shift, its range and eligibility."""
        net = self.net
        trips = self.trips[vehicle]
        if not trips:
            return True
        if not net.eligible[trips, vehicle].all():
            return False
        if any(start > net.late[t] for t, start in zip(trips, self.start[vehicle], strict=True)):
            return False
        back = self.start[vehicle][-1] + int(net.service[trips[-1]]) + self.legs_s[vehicle][-1]
        return bool(back <= net.shift_end[vehicle] and self.km[vehicle] <= net.range_km[vehicle])

    def copy(self, net: Network | None = None) -> Routes:
        """An independent copy, optionally onto a grown network (`Network.with_trip`)."""
        net = net or self.net
        twin = Routes.__new__(Routes)
        twin.net = net
        twin.trips = [list(r) for r in self.trips]
        twin.start = [list(r) for r in self.start]
        twin.latest = [list(r) for r in self.latest]
        twin.legs = [list(r) for r in self.legs]
        twin.legs_s = [list(r) for r in self.legs_s]
        twin.km = list(self.km)
        grow = net.n - len(self.where)
        twin.where = np.concatenate((self.where, np.full(grow, -1, dtype=np.int64)))
        twin.position = np.concatenate((self.position, np.full(grow, -1, dtype=np.int64)))
        return twin

    def copy_route(self, vehicle: int) -> list[int]:
        return list(self.trips[vehicle])

    # ----- changing
    def set_route(self, vehicle: int, trips: list[int]) -> None:
        """Replace a vehicle's route (trusted feasible) and refresh its timetable."""
        for trip in self.trips[vehicle]:
            if self.where[trip] == vehicle:
                self.where[trip] = -1
                self.position[trip] = -1
        self.trips[vehicle] = list(trips)
        for index, trip in enumerate(trips):
            self.where[trip] = vehicle
            self.position[trip] = index
        self._refresh(vehicle)

    def set_routes(self, routes: list[list[int]]) -> None:
        """Replace every vehicle's route at once (a whole plan, trusted feasible)."""
        for vehicle in range(len(self.trips)):
            self.set_route(vehicle, [])
        for vehicle, trips in enumerate(routes):
            self.set_route(vehicle, list(trips))

    def remove(self, trip: int) -> None:
        """Take ``trip`` off its route (it is then unserved)."""
        vehicle = int(self.where[trip])
        self.set_route(vehicle, [t for t in self.trips[vehicle] if t != trip])

    def apply(self, trip: int, insertion: Insertion) -> None:
        route = self.trips[insertion.vehicle]
        route.insert(insertion.position, trip)
        self.set_route(insertion.vehicle, route)

    def _refresh(self, vehicle: int) -> None:
        net = self.net
        trips = self.trips[vehicle]
        depot = int(net.depot[vehicle])
        clock = int(net.shift_start[vehicle])
        start: list[int] = []
        legs: list[float] = []
        legs_s: list[int] = []
        previous = -1
        for trip in trips:
            if previous < 0:
                km, drive = float(net.out_km[depot, trip]), int(net.out_s[depot, trip])
            else:
                km, drive = net.leg(previous, trip)
            pickup = max(int(net.early[trip]), clock + drive)
            start.append(pickup)
            legs.append(km)
            legs_s.append(drive)
            clock = pickup + int(net.service[trip])
            previous = trip
        if previous >= 0:
            legs.append(float(net.in_km[previous, depot]))
            legs_s.append(int(net.in_s[previous, depot]))
        else:
            legs.append(0.0)
            legs_s.append(0)
        latest = [0] * len(trips)
        limit = int(net.shift_end[vehicle]) - legs_s[-1]
        for index in range(len(trips) - 1, -1, -1):
            trip = trips[index]
            latest[index] = min(int(net.late[trip]), limit - int(net.service[trip]))
            limit = latest[index] - legs_s[index]
        self.start[vehicle] = start
        self.latest[vehicle] = latest
        self.legs[vehicle] = legs
        self.legs_s[vehicle] = legs_s
        self.km[vehicle] = sum(legs) + float(net.loaded_km[trips].sum()) if trips else 0.0

    # ----- insertion
    def positions(self, trip: int, vehicle: int) -> range:
        """The positions of ``vehicle``'s route its neighbours' times leave open to ``trip``: the trip before must be
        picked up by the trip's latest pickup, the trip after must allow a pickup once it is done (pickups and latest
        pickups only grow along a route). `check` says whether it fits at one; at city scale one or two a vehicle."""
        net = self.net
        first = bisect_left(self.latest[vehicle], int(net.early[trip]) + int(net.service[trip]))
        return range(first, bisect_right(self.start[vehicle], int(net.late[trip])) + 1)

    def check(self, trip: int, vehicle: int, position: int) -> Insertion | None:
        """The insertion of ``trip`` at ``position`` of ``vehicle``'s route, or None if infeasible."""
        net = self.net
        if not net.eligible[trip, vehicle]:
            return None
        route = self.trips[vehicle]
        depot = int(net.depot[vehicle])
        if position == 0:
            ready = int(net.shift_start[vehicle])
            km_in, drive_in = float(net.out_km[depot, trip]), int(net.out_s[depot, trip])
        else:
            previous = route[position - 1]
            ready = self.start[vehicle][position - 1] + int(net.service[previous])
            km_in, drive_in = net.leg(previous, trip)
        pickup = max(int(net.early[trip]), ready + drive_in)
        if pickup > net.late[trip]:
            return None
        done = pickup + int(net.service[trip])
        if position == len(route):
            km_out, drive_out = float(net.in_km[trip, depot]), int(net.in_s[trip, depot])
            if done + drive_out > net.shift_end[vehicle]:
                return None
        else:
            km_out, drive_out = net.leg(trip, route[position])
            if done + drive_out > self.latest[vehicle][position]:
                return None
        replaced = self.legs[vehicle][position] if route else 0.0
        empty = km_in + km_out - replaced
        road = empty + float(net.loaded_km[trip])
        if self.km[vehicle] + road > net.range_km[vehicle]:
            return None
        return Insertion(vehicle, position, empty, road)

    def best(self, trip: int, unused: np.ndarray | None = None) -> Insertion | None:
        """Cheapest feasible insertion of ``trip`` (least added empty km) next to its linked trips or alone."""
        net = self.net
        best: Insertion | None = None
        tried: set[tuple[int, int]] = set()
        for neighbour, after in linked(net, trip):
            vehicle = int(self.where[neighbour])
            if vehicle < 0:
                continue
            position = int(self.position[neighbour]) + (1 if after else 0)
            if (vehicle, position) in tried:
                continue
            tried.add((vehicle, position))
            found = self.check(trip, vehicle, position)
            if found is not None and (best is None or found.empty_km < best.empty_km):
                best = found
        for vehicle in self.empty_candidates(trip, unused):
            found = self.check(trip, int(vehicle), 0)
            if found is not None and (best is None or found.empty_km < best.empty_km):
                best = found
        return best

    def empty_candidates(self, trip: int, unused: np.ndarray | None = None) -> np.ndarray:
        """Unused vehicles that could serve ``trip`` alone, cheapest round trip first."""
        net = self.net
        idle = unused if unused is not None else self.unused()
        able = idle & net.alone(trip)
        candidates = np.flatnonzero(able)
        if len(candidates) == 0:
            return candidates
        cost = net.out_km[net.depot[candidates], trip] + net.in_km[trip, net.depot[candidates]]
        # Among equally placed vehicles keep the long-range ones for longer days: least range last.
        order = np.lexsort((-net.range_km[candidates], cost))
        return candidates[order[:_EMPTY_ROUTE_CANDIDATES]]

    def unused(self) -> np.ndarray:
        return np.array([not trips for trips in self.trips], dtype=bool)


def better(new: tuple[int, int, int, float], old: tuple[int, int, int, float]) -> bool:
    """Whether objective ``new`` (`Routes.objective`) beats ``old``: fewer unserved by priority, then less empty km."""
    return new[:3] < old[:3] or (new[:3] == old[:3] and new[3] < old[3] - 1e-6)


def linked(net: Network, trip: int) -> list[tuple[int, bool]]:
    """The trips ``trip`` has arcs with: (trip, True) for one it may follow, (trip, False) for one it may precede."""
    return [(int(a), True) for a in net.pred[trip]] + [(int(b), False) for b in net.succ[trip]]


def construct(net: Network, order: np.ndarray | None = None, *, routes: Routes | None = None) -> Routes:
    """Cheapest insertion in priority order, earliest window first (a fast, feasible start); given ``routes``, the
    trips they leave unserved are inserted into them (changed in place)."""
    routes = routes if routes is not None else Routes(net)
    if order is None:
        order = np.lexsort((net.early, net.late, net.tier))
    unused = routes.unused()
    for trip in order.tolist():
        if routes.where[trip] >= 0:
            continue
        found = routes.best(trip, unused)
        if found is not None:
            routes.apply(trip, found)
            unused[found.vehicle] = False
    return routes
