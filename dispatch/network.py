"""The problem in solver terms: integer times, per-trip arrays, and only the trip-to-trip arcs that can be feasible.

Times are whole seconds after the problem's earliest instant. Every rounding goes the safe way (windows shrink,
drives are rounded up), so a plan that is feasible here is feasible for the referee.

A full matrix over 10,000 pickups and drop-offs is 10^8 pairs; instead every pair is screened on a local plane in
chunks (one numpy pass, no geodesics), the ones the time windows allow are ranked by empty km, and only the best few
per trip, near in time and farther off, become arcs with exact geodesic lengths. Any other pair a solver asks for is
computed on demand and cached.

A live network (`build` with ``arcs=False``, kept by the server for urgent placement) keeps no arcs at all: `leg`
computes what a route or an insertion asks for, and `with_trips`, `without_trips` and `with_vehicles` update it as
the day changes, each returning a new network and leaving the old one as it was (a placement may still be using it).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from dispatch.problem import PRIORITIES, Category, Problem, Trip
from dispatch.travel import Geodesic, Travel

CATEGORIES: tuple[Category, ...] = tuple(Category)
NEAR_GAP_S = 90 * 60  # arcs whose idle gap is at most this are "near in time"
NEAR_ARCS = 24  # best arcs kept per trip near in time ...
FAR_ARCS = 8  # ... and farther off, so vehicles can chain across the day
_SCREEN_MARGIN = 0.98  # the screen understates no road km by more than this
_CHUNK = 512
KEY = 1 << 24  # arc key = tail * KEY + head (stable when trips are added)


def _epoch_of(problem: Problem) -> float:
    stamps = [v.shift_start.timestamp() for v in problem.vehicles]
    stamps += [t.earliest_pickup.timestamp() for t in problem.trips]
    return math.floor(min(stamps)) if stamps else 0.0


_ROOM_CLAIM = threading.Lock()  # two placements growing one live network at once: one writes in place


@dataclass(eq=False)
class _Room:
    """A trip-indexed array's buffer with spare rows past ``used``. A network grown by a few trips (an urgent
    placement on the live day) writes them there instead of copying arrays of (depots x trips) that reach 40 MB at
    1,000 yards and 5,000 trips. The rows up to ``used`` belong to the networks viewing the buffer and never change:
    only a network whose array ends at ``used`` may take the next rows, or one adding the very rows already there (the
    live day catching up with the trip a placement added); a network grown otherwise from the same one copies."""

    data: np.ndarray
    used: int

    @staticmethod
    def append(array: np.ndarray, rows: np.ndarray, room: _Room | None) -> tuple[np.ndarray, _Room]:
        """``array`` (trips along its first axis) with ``rows`` after it, and the room it now views."""
        n, k = array.shape[0], rows.shape[0]
        if room is not None and array.base is room.data:
            with _ROOM_CLAIM:
                if room.used >= n + k and np.array_equal(room.data[n:n + k], rows):
                    return room.data[:n + k], room  # the same rows, put there by a network grown the same way
                if room.used == n and len(room.data) >= n + k:
                    room.used = n + k
                    room.data[n:n + k] = rows
                    return room.data[:n + k], room
        room = _Room(np.empty((n + k + max(k, n // 4, 16), *array.shape[1:]), dtype=array.dtype), n + k)
        room.data[:n] = array
        room.data[n:n + k] = rows
        return room.data[:n + k], room


@dataclass
class Network:
    """Integer, array-shaped view of a problem for the solvers (built once per problem)."""

    problem: Problem
    travel: Travel
    epoch: float
    # trips
    early: np.ndarray
    late: np.ndarray
    service: np.ndarray  # loaded drive + dwell, seconds
    loaded_km: np.ndarray
    tier: np.ndarray  # 0 emergency, 1 law enforcement, 2 routine
    pick: np.ndarray  # (n, 2) lat, lon
    drop: np.ndarray
    eligible: np.ndarray  # (n, V) bool: category and seats allow vehicle v to serve trip t
    by_kind: np.ndarray  # (n, K) the same per vehicle kind (category, seats)
    # vehicles
    kind: np.ndarray  # (V,) index into the kinds (category, seats) below
    kind_category: np.ndarray  # (K,) index into CATEGORIES
    kind_seats: np.ndarray  # (K,)
    depot: np.ndarray
    shift_start: np.ndarray
    shift_end: np.ndarray
    range_km: np.ndarray  # inf when unlimited
    # depots x trips
    out_km: np.ndarray  # (D, n) depot -> pickup
    out_s: np.ndarray
    in_km: np.ndarray  # (n, D) drop-off -> depot
    in_s: np.ndarray
    # sparse trip -> trip arcs; key tail * n + head
    succ: list[np.ndarray] = field(default_factory=list)
    pred: list[np.ndarray] = field(default_factory=list)
    arcs: MutableMapping[int, tuple[float, int]] = field(default_factory=dict)
    # least empty km of a leg into / out of each trip that the windows allow but the arcs left out (for bounds)
    min_in_km: np.ndarray = field(default_factory=lambda: np.empty(0))
    min_out_km: np.ndarray = field(default_factory=lambda: np.empty(0))
    # Trips added by `with_trip`: their legs to and from every trip before them, as arrays (km into, s into, km out,
    # s out), read by `leg` rather than copied into ``arcs`` (10,000 dict entries per urgent insertion at city scale).
    fresh: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    # Spare rows after each trip-indexed array (`_Room`), by field name, for `with_trip` and `with_trips`.
    rooms: dict[str, _Room] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n(self) -> int:
        return len(self.early)

    @property
    def vehicles(self) -> int:
        return len(self.depot)

    def leg(self, tail: int, head: int) -> tuple[float, int]:
        """Empty km and drive seconds from trip ``tail``'s drop-off to trip ``head``'s pickup."""
        key = tail * KEY + head
        found = self.arcs.get(key)
        if found is None:
            if self.fresh:
                legs = self.fresh.get(head)
                if legs is not None and tail < len(legs[0]):
                    return float(legs[0][tail]), int(legs[1][tail])
                legs = self.fresh.get(tail)
                if legs is not None and head < len(legs[2]):
                    return float(legs[2][head]), int(legs[3][head])
            km = self.travel.pair_km(tuple(self.drop[tail].tolist()), tuple(self.pick[head].tolist()))
            found = (km, int(self.travel.seconds(np.array([km]))[0]))
            self.arcs[key] = found
        return found

    def alone(self, trip: int) -> np.ndarray:
        """Vehicles able to serve ``trip`` as their only trip (category, seats, shift, range)."""
        d = self.depot
        pickup = np.maximum(self.early[trip], self.shift_start + self.out_s[d, trip])
        km = self.out_km[d, trip] + self.loaded_km[trip] + self.in_km[trip, d]
        able: np.ndarray = (
            self.eligible[trip]
            & (pickup <= self.late[trip])
            & (pickup + self.service[trip] + self.in_s[trip, d] <= self.shift_end)
            & (km <= self.range_km)
        )
        return able

    def with_trip(self, problem: Problem, trip: Trip) -> Network:
        """This network with one more trip (the last of ``problem``) and its arcs to and from every other trip."""
        arrays = trip_arrays([trip], self.travel, self.epoch, self.kind, self.kind_category, self.kind_seats)
        new = self.n
        pick, drop = arrays["pick"][0], arrays["drop"][0]
        # Computed as `with_trips` computes them: the live day adding this trip after a placement shares the rows.
        out_km, in_km = _depot_legs(self.travel, _depot_points(problem), arrays["pick"], arrays["drop"])
        grown = self._grown(problem, arrays, out_km, in_km)
        others = np.arange(new)
        to_km = self.travel.km(self.drop[:, 0], self.drop[:, 1], pick[0], pick[1])
        from_km = self.travel.km(drop[0], drop[1], self.pick[:, 0], self.pick[:, 1])
        to_s = self.travel.seconds(to_km).astype(np.int64)
        from_s = self.travel.seconds(from_km).astype(np.int64)
        # The new trip's legs stay arrays (`fresh`), read by `leg`; only those its windows allow (its pred and succ)
        # also become arcs, as every arc of `build` is, for whoever reads ``arcs`` directly. ``arcs`` is copied so
        # that the plan inserted into keeps its own (a dict of 10,000 more legs an insertion cost ~8 ms at city scale).
        grown.fresh = {**self.fresh, new: (to_km, to_s, from_km, from_s)}
        finish = grown.early + grown.service
        into = others[(finish[:new] + to_s <= grown.late[new]) & (grown.by_kind[:new] & grown.by_kind[new]).any(axis=1)]
        out_of = others[
            (finish[new] + from_s <= grown.late[:new]) & (grown.by_kind[:new] & grown.by_kind[new]).any(axis=1)
        ]
        grown.arcs = dict(self.arcs)
        grown.arcs.update(zip((into * KEY + new).tolist(), zip(to_km[into].tolist(), to_s[into].tolist(), strict=True),
                              strict=True))
        grown.arcs.update(zip((new * KEY + out_of).tolist(), zip(from_km[out_of].tolist(), from_s[out_of].tolist(),
                                                                 strict=True), strict=True))
        grown.pred = [*self.pred, into]
        grown.succ = [*self.succ, out_of]
        grown.min_in_km = np.append(self.min_in_km, np.inf)  # every leg of the new trip is an arc
        grown.min_out_km = np.append(self.min_out_km, np.inf)
        return grown

    def with_trips(self, problem: Problem, trips: Sequence[Trip]) -> Network:
        """This network with ``trips`` appended (the last of ``problem``'s trips, whose vehicles and depots are this
        network's). No arcs are screened for them: their legs are computed by `leg` when a route asks, which is all
        `insert` and `Routes` need (a search wants `build`'s screened arcs)."""
        if not trips:
            return replace(self, problem=problem)
        arrays = trip_arrays(trips, self.travel, self.epoch, self.kind, self.kind_category, self.kind_seats)
        out_km, in_km = _depot_legs(self.travel, _depot_points(problem), arrays["pick"], arrays["drop"])
        grown = self._grown(problem, arrays, out_km, in_km)
        none = np.empty(0, dtype=np.int64)
        grown.succ = [*self.succ, *([none] * len(trips))]
        grown.pred = [*self.pred, *([none] * len(trips))]
        grown.arcs = dict(self.arcs)  # copied, not shared: a placement on this network may still be adding legs
        grown.min_in_km = np.append(self.min_in_km, np.full(len(trips), np.inf))
        grown.min_out_km = np.append(self.min_out_km, np.full(len(trips), np.inf))
        return grown

    def _grown(self, problem: Problem, arrays: dict[str, np.ndarray], out_km: np.ndarray,
               in_km: np.ndarray) -> Network:
        """This network for ``problem``, its per-trip ``arrays`` and depot legs ((D, k) out, (k, D) in) appended
        for k more trips: in the spare rows after this network's own (`_Room`) where it holds them, else copied."""
        grown = replace(self, problem=problem, rooms=dict(self.rooms))
        columns = {"out_km": out_km.T, "out_s": self.travel.seconds(out_km).astype(np.int64).T}
        rows = {**arrays, "in_km": in_km, "in_s": self.travel.seconds(in_km).astype(np.int64)}
        for name, value in (*rows.items(), *columns.items()):
            major = getattr(self, name).T if name in columns else getattr(self, name)
            whole, grown.rooms[name] = _Room.append(major, value, self.rooms.get(name))
            setattr(grown, name, whole.T if name in columns else whole)
        return grown

    def without_trips(self, problem: Problem, keep: np.ndarray) -> Network:
        """This network with only the trips ``keep`` marks (a bool per trip), in their order: ``problem``'s trips.

        Arcs between kept trips stay, renumbered; arcs touching a dropped trip go.
        """
        index = np.flatnonzero(keep)
        number = np.full(self.n, -1, dtype=np.int64)
        number[index] = np.arange(len(index))
        kept = replace(self, problem=problem, rooms={})
        for name in ("early", "late", "service", "loaded_km", "tier", "pick", "drop", "eligible", "by_kind",
                     "in_km", "in_s", "min_in_km", "min_out_km"):
            setattr(kept, name, getattr(self, name)[index])
        kept.out_km = self.out_km[:, index]
        kept.out_s = self.out_s[:, index]

        def renumbered(ends: np.ndarray) -> np.ndarray:
            mapped: np.ndarray = number[ends]
            return mapped[mapped >= 0]

        kept.succ = [renumbered(self.succ[i]) for i in index.tolist()]
        kept.pred = [renumbered(self.pred[i]) for i in index.tolist()]
        items = list(self.arcs.items())
        for trip, (to_km, to_s, from_km, from_s) in self.fresh.items():  # renumbered with the rest, as arcs
            before = np.arange(len(to_km))
            items += zip((before * KEY + trip).tolist(), zip(to_km.tolist(), to_s.tolist(), strict=True), strict=True)
            items += zip((trip * KEY + before).tolist(), zip(from_km.tolist(), from_s.tolist(), strict=True),
                         strict=True)
        kept.fresh = {}
        kept.arcs = {}
        if items:
            keys = np.fromiter((k for k, _ in items), dtype=np.int64, count=len(items))
            tail, head = number[keys // KEY], number[keys % KEY]
            alive = np.flatnonzero((tail >= 0) & (head >= 0))
            kept.arcs = dict(zip((tail[alive] * KEY + head[alive]).tolist(), [items[i][1] for i in alive.tolist()],
                                 strict=True))
        return kept

    def with_vehicles(self, problem: Problem) -> Network:
        """This network for ``problem``'s vehicles and depots, its trips (the same, in the same order) unchanged.

        Vehicle arrays are redone (they are small); eligibility is re-derived from the vehicle kinds, and depot legs
        are computed only for depots ``problem`` adds after this network's.
        """
        kind, kind_category, kind_seats = vehicle_kinds(problem)
        changed = replace(self, problem=problem, kind=kind, kind_category=kind_category, kind_seats=kind_seats,
                          rooms={})
        if not (np.array_equal(kind_category, self.kind_category) and np.array_equal(kind_seats, self.kind_seats)):
            changed.by_kind = _by_kind(problem.trips, kind_category, kind_seats)
        changed.eligible = changed.by_kind[:, kind]
        before = _depot_points(self.problem)
        after = _depot_points(problem)
        if len(after) >= len(before) and np.array_equal(after[: len(before)], before):
            out_km, in_km = _depot_legs(self.travel, after[len(before):], self.pick, self.drop)
            changed.out_km = np.vstack((self.out_km, out_km))
            changed.out_s = np.vstack((self.out_s, self.travel.seconds(out_km).astype(np.int64)))
            changed.in_km = np.hstack((self.in_km, in_km))
            changed.in_s = np.hstack((self.in_s, self.travel.seconds(in_km).astype(np.int64)))
        else:
            out_km, in_km = _depot_legs(self.travel, after, self.pick, self.drop)
            changed.out_km, changed.out_s = out_km, self.travel.seconds(out_km).astype(np.int64)
            changed.in_km, changed.in_s = in_km, self.travel.seconds(in_km).astype(np.int64)
        changed.depot, changed.shift_start, changed.shift_end, changed.range_km = _vehicle_arrays(problem, self.epoch)
        return changed

    def clock(self, second: float, trip: int | None = None) -> str:
        """Wall-clock ``HH:MM`` of a solver second, in the offset of ``trip``'s window (or the first trip's)."""
        trips = self.problem.trips
        zone = (trips[trip] if trip is not None else trips[0]).earliest_pickup.tzinfo if trips else None
        return datetime.fromtimestamp(self.epoch + second, tz=zone).strftime("%H:%M")


def vehicle_kinds(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each vehicle's kind, and each kind's category and seats: eligibility depends on nothing else."""
    kinds = sorted({(CATEGORIES.index(v.category), v.seats) for v in problem.vehicles})
    number = {k: i for i, k in enumerate(kinds)}
    kind = np.array([number[(CATEGORIES.index(v.category), v.seats)] for v in problem.vehicles], dtype=np.int64)
    return kind, np.array([k[0] for k in kinds], dtype=np.int64), np.array([k[1] for k in kinds], dtype=np.int64)


def trip_arrays(
    trips: Sequence[Trip],
    travel: Travel,
    epoch: float,
    kind: np.ndarray,
    kind_category: np.ndarray,
    kind_seats: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-trip arrays (windows, service, loaded km, tier, coordinates, eligibility) for ``trips``."""
    n = len(trips)
    pick = np.array([(t.pickup.lat, t.pickup.lon) for t in trips], dtype=np.float64).reshape(n, 2)
    drop = np.array([(t.dropoff.lat, t.dropoff.lon) for t in trips], dtype=np.float64).reshape(n, 2)
    loaded_km = travel.km(pick[:, 0], pick[:, 1], drop[:, 0], drop[:, 1])
    early = np.array([math.ceil(t.earliest_pickup.timestamp() - epoch) for t in trips], dtype=np.int64)
    # A window narrower than a second would vanish under rounding; the referee's minute of slack absorbs it.
    late = np.maximum(early, [math.floor(t.latest_pickup.timestamp() - epoch) for t in trips]).astype(np.int64)
    dwell = np.array([math.ceil(t.dwell_min * 60 - 1e-6) for t in trips], dtype=np.int64)
    service = travel.seconds(loaded_km).astype(np.int64) + dwell
    tier = np.array([PRIORITIES.index(t.priority) for t in trips], dtype=np.int8)
    by_kind = _by_kind(trips, kind_category, kind_seats)
    eligible = by_kind[:, kind]
    return {
        "early": early,
        "late": late,
        "service": service,
        "loaded_km": loaded_km,
        "tier": tier,
        "pick": pick,
        "drop": drop,
        "eligible": eligible,
        "by_kind": by_kind,
    }


def _by_kind(trips: Sequence[Trip], kind_category: np.ndarray, kind_seats: np.ndarray) -> np.ndarray:
    """(n, K): whether each vehicle kind may serve each trip (its categories and seats)."""
    allowed = np.zeros((len(trips), len(CATEGORIES)), dtype=bool)
    for index, trip in enumerate(trips):
        for category in trip.categories:
            allowed[index, CATEGORIES.index(category)] = True
    passengers = np.array([t.passengers for t in trips], dtype=np.int64)
    by_kind: np.ndarray = allowed[:, kind_category] & (passengers[:, None] <= kind_seats[None, :])
    return by_kind


def _depot_points(problem: Problem) -> np.ndarray:
    points: np.ndarray = np.array([(d.lat, d.lon) for d in problem.depots], dtype=np.float64)
    points = points.reshape(len(problem.depots), 2)
    return points


def _depot_legs(travel: Travel, depots: np.ndarray, pick: np.ndarray, drop: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Road km (D, n) from each depot to each pickup and (n, D) from each drop-off to each depot."""
    n, m = len(pick), len(depots)
    out_km = travel.km(
        np.repeat(depots[:, 0], n), np.repeat(depots[:, 1], n), np.tile(pick[:, 0], m), np.tile(pick[:, 1], m)
    ).reshape(m, n)
    in_km = travel.km(
        np.repeat(drop[:, 0], m), np.repeat(drop[:, 1], m), np.tile(depots[:, 0], n), np.tile(depots[:, 1], n)
    ).reshape(n, m)
    return out_km, in_km


def _vehicle_arrays(problem: Problem, epoch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each vehicle's depot index, shift start and end (solver seconds) and range (inf when unlimited)."""
    depot_index = {d.id: i for i, d in enumerate(problem.depots)}
    vehicles = problem.vehicles
    return (
        np.array([depot_index[v.depot] for v in vehicles], dtype=np.int64),
        np.array([math.ceil(v.shift_start.timestamp() - epoch) for v in vehicles], dtype=np.int64),
        np.array([max(math.floor(v.shift_end.timestamp() - epoch), 0) for v in vehicles], dtype=np.int64),
        np.array([v.range_km if v.range_km is not None else np.inf for v in vehicles], dtype=np.float64),
    )


def build(problem: Problem, travel: Travel | None = None, *, epoch: float | None = None,
          arcs: bool = True) -> Network:
    """The solver's view of ``problem``: arrays, depot legs and the sparse feasible arcs.

    :param epoch: the instant solver second 0 stands for (whole seconds); default: the problem's earliest instant.
        A live network fixes it, so that its updates and a rebuild count seconds alike.
    :param arcs: False for a network without screened arcs, whose legs `leg` computes when asked: what `insert`
        and a live day need, at a fraction of the cost (a search needs the arcs).
    """
    travel = travel or Geodesic.of(problem)
    epoch = _epoch_of(problem) if epoch is None else float(math.floor(epoch))
    kind, kind_category, kind_seats = vehicle_kinds(problem)
    arrays = trip_arrays(problem.trips, travel, epoch, kind, kind_category, kind_seats)
    pick, drop = arrays["pick"], arrays["drop"]
    out_km, in_km = _depot_legs(travel, _depot_points(problem), pick, drop)
    depot, shift_start, shift_end, range_km = _vehicle_arrays(problem, epoch)
    network = Network(
        problem=problem,
        travel=travel,
        epoch=epoch,
        kind=kind,
        kind_category=kind_category,
        kind_seats=kind_seats,
        depot=depot,
        shift_start=shift_start,
        shift_end=shift_end,
        range_km=range_km,
        out_km=out_km,
        out_s=travel.seconds(out_km).astype(np.int64),
        in_km=in_km,
        in_s=travel.seconds(in_km).astype(np.int64),
        early=arrays["early"],
        late=arrays["late"],
        service=arrays["service"],
        loaded_km=arrays["loaded_km"],
        tier=arrays["tier"],
        pick=pick,
        drop=drop,
        eligible=arrays["eligible"],
        by_kind=arrays["by_kind"],
    )
    if arcs:
        _add_arcs(network)
    else:
        none = np.empty(0, dtype=np.int64)
        network.succ = [none] * network.n
        network.pred = [none] * network.n
        network.min_in_km = np.full(network.n, np.inf)
        network.min_out_km = np.full(network.n, np.inf)
        # A live day grows by a trip a placement: its arrays get spare rows now, while it is built anyway, rather than
        # be copied whole by its first update (150 ms at 1,000 yards and 5,000 trips).
        none_yet = trip_arrays((), travel, epoch, kind, kind_category, kind_seats)
        network = network._grown(problem, none_yet, out_km[:, :0], in_km[:0])
    return network


def _screen_plane(points: np.ndarray, lat_far: float) -> np.ndarray:
    """East/north km on a plane that shortens every distance: east scaled at the latitude farthest from the equator.

    A pair's true east distance scales with the cosine of its own mid-latitude, never smaller than this one, so the
    plane understates geodesics (by well under 1 % within a city; the screen's margin covers the rest).
    """
    east = np.radians(points[:, 1]) * math.cos(math.radians(lat_far)) * 6378.137
    north = np.radians(points[:, 0]) * 6335.439  # the meridian's least radius of curvature, at the equator
    return np.column_stack((east, north))


def screened(net: Network) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Every pair of trips, chunk by chunk, screened on a plane that never overstates a road km: the chunk's tails
    (``rows``), the heads their earliest finish leaves possible (``cols``), the screened km of each pair, the
    seconds to spare at the head's latest pickup (``gap``) and whether the pair may be chained at all (``ok``: time
    to spare, a vehicle kind in common, not the same trip). The network's arcs and the bounds' relaxation both
    choose from these."""
    n = net.n
    if n < 2 or net.by_kind.shape[1] == 0:
        return
    # Trips that share no vehicle kind can never be chained.
    share = net.by_kind.astype(np.float32)
    lat_far = float(np.abs(np.concatenate((net.pick[:, 0], net.drop[:, 0]))).max())
    pick_xy, drop_xy = _screen_plane(net.pick, lat_far), _screen_plane(net.drop, lat_far)
    factor = net.travel.road_factor * _SCREEN_MARGIN
    speed_s_per_km = 3600.0 / net.travel.speed_kmh
    finish = net.early + net.service
    # Heads sorted by latest pickup: a chunk of tails only ever looks at the heads after its earliest finish.
    by_late = np.argsort(net.late, kind="stable")
    late_sorted = net.late[by_late]
    by_finish = np.argsort(finish, kind="stable")
    for lo in range(0, n, _CHUNK):
        rows = by_finish[lo : lo + _CHUNK]
        cols = by_late[np.searchsorted(late_sorted, finish[rows].min()) :]
        if len(cols) == 0:
            continue
        km = np.hypot(pick_xy[None, cols, 0] - drop_xy[rows, None, 0], pick_xy[None, cols, 1] - drop_xy[rows, None, 1])
        km *= factor
        gap = net.late[None, cols] - finish[rows, None] - km * speed_s_per_km
        ok = (gap >= 0) & (share[rows] @ share[cols].T > 0) & (rows[:, None] != cols[None, :])
        yield rows, cols, km, gap, ok


def nearest(score: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``score`` (inf: not a candidate), the columns of its ``keep`` least finite scores: their positions
    (``keep`` per row, some possibly inf) and which of them are finite."""
    if score.shape[1] > keep:
        best = np.argpartition(score, keep, axis=1)[:, :keep]
    else:
        best = np.broadcast_to(np.arange(score.shape[1]), score.shape)
    return best, np.isfinite(np.take_along_axis(score, best, axis=1))


def exact_arcs(net: Network, tail: np.ndarray, head: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The screened pairs that stay feasible with exact geodesic km and rounded-up drives: tail, head, km, seconds."""
    km = net.travel.km(net.drop[tail, 0], net.drop[tail, 1], net.pick[head, 0], net.pick[head, 1])
    drive = net.travel.seconds(km).astype(np.int64)
    feasible = net.early[tail] + net.service[tail] + drive <= net.late[head]
    return tail[feasible], head[feasible], km[feasible], drive[feasible]


def _add_arcs(net: Network) -> None:
    n = net.n
    net.succ = [np.empty(0, dtype=np.int64)] * n
    net.pred = [np.empty(0, dtype=np.int64)] * n
    net.min_in_km = np.full(n, np.inf)
    net.min_out_km = np.full(n, np.inf)
    if net.vehicles == 0:
        return
    tails: list[np.ndarray] = []
    heads: list[np.ndarray] = []
    for rows, cols, km, gap, ok in screened(net):
        pruned = np.where(ok, km, np.inf)
        for near in (True, False):
            score = np.where(ok & ((gap <= NEAR_GAP_S) if near else (gap > NEAR_GAP_S)), km, np.inf)
            best, chosen = nearest(score, NEAR_ARCS if near else FAR_ARCS)
            tails.append(np.repeat(rows, chosen.sum(axis=1)))
            heads.append(cols[best[chosen]])
            np.put_along_axis(pruned, best, np.inf, axis=1)
        # The cheapest leg the windows allow but the network left out, for the bounds' pool.
        net.min_out_km[rows] = pruned.min(axis=1)
        np.minimum.at(net.min_in_km, cols, pruned.min(axis=0))
    if not tails:
        return
    tail, head, exact, drive = exact_arcs(net, np.concatenate(tails), np.concatenate(heads))
    net.arcs = dict(zip((tail * KEY + head).tolist(), zip(exact.tolist(), drive.tolist(), strict=True), strict=True))
    order = np.argsort(tail, kind="stable")
    bounds = np.searchsorted(tail[order], np.arange(n + 1))
    net.succ = [head[order[bounds[i] : bounds[i + 1]]] for i in range(n)]
    order = np.argsort(head, kind="stable")
    bounds = np.searchsorted(head[order], np.arange(n + 1))
    net.pred = [tail[order[bounds[i] : bounds[i + 1]]] for i in range(n)]
