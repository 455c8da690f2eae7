"""Tracks: a vehicle's fixes as arrays, cut into drives, with idle spells and gaps, and drives matched to bookings.

Pure: no database (``fleet.usage_audit.evidence.tracks`` loads the arrays by columns). A day of 3,000 vehicles
reporting every 10 s is 26 M fixes: as Python objects that is gigabytes and minutes, so a `Track` holds one numpy
array per column and every step below works on whole arrays; Python loops run over drives, runs and episodes
(tens per vehicle and day), never over fixes.

Distances along a track are haversine on the mean Earth radius, vectorised: the project's WGS-84 geodesic
(``dispatch.travel.Geodesic`` over geopy) costs ~20 µs a pair, minutes for a day's fixes, while the sphere's error
(≤ 0.5 %) is far below what a track's straight lines between fixes and GNSS noise already leave. Single distances
(a drop-off, a home yard) stay geodesic elsewhere.

Times are float seconds since the Unix epoch (UTC): exact to the microsecond for this century's dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely

from fleet.positions import Fix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

EARTH_RADIUS_M = 6_371_008.8  # the IUGG mean radius: the sphere closest to WGS-84 on average

ACC_UNKNOWN, ACC_OFF, ACC_ON = -1, 0, 1
STATUS_UNKNOWN = -1  # no status DWORD (OsmAnd): taken as positioned
STATUS_POSITIONED = 1 << 1  # JT/T 808 table 25, bit 1: 0 not positioned, 1 positioned


def epoch(moment: datetime) -> float:
    """An aware datetime as float seconds since the epoch."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: say which time zone it is in")
    return moment.timestamp()


def instant(seconds: float) -> datetime:
    """Float epoch seconds back as an aware UTC datetime (to the microsecond)."""
    return datetime.fromtimestamp(round(float(seconds), 6), UTC)


def haversine_m(lat1: FloatArray | float, lon1: FloatArray | float, lat2: FloatArray | float,
                lon2: FloatArray | float) -> FloatArray:
    """Great-circle metres between points, elementwise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Track:
    """One vehicle's fixes in device-time order, one array per column, one row per distinct device time.

    ``acc`` is -1 unknown, 0 off, 1 on; ``mileage_km`` is NaN where the terminal sent none; ``status`` is the
    JT/T 808 status DWORD, -1 where the source sends none (OsmAnd).
    """

    vehicle_id: int
    t: FloatArray
    lat: FloatArray
    lon: FloatArray
    speed_kmh: FloatArray
    acc: npt.NDArray[np.int8]
    alarm: IntArray
    mileage_km: FloatArray
    status: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _step_m: FloatArray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.status.size != self.t.size:  # built without a status column: unknown everywhere
            object.__setattr__(self, "status", np.full(self.t.size, STATUS_UNKNOWN, dtype=np.int64))

    @classmethod
    def build(cls, vehicle_id: int, t: npt.ArrayLike, lat: npt.ArrayLike, lon: npt.ArrayLike,
              speed_kmh: npt.ArrayLike | None = None, acc: npt.ArrayLike | None = None,
              alarm: npt.ArrayLike | None = None, mileage_km: npt.ArrayLike | None = None,
              status: npt.ArrayLike | None = None) -> Track:
        """A track from columns in any order: sorted by device time (back-fill arrives late and out of order),
        a device time seen twice kept once (a terminal resends what it was not answered for: the first copy)."""
        times = np.asarray(t, dtype=np.float64)
        n = times.size

        def column(values: npt.ArrayLike | None, dtype: type, default: float) -> npt.NDArray[np.generic]:
            if values is None:
                return np.full(n, default, dtype=dtype)
            out: npt.NDArray[np.generic] = np.asarray(values, dtype=dtype)
            if out.shape != (n,):
                raise ValueError("every column of a track has one value per fix")
            return out

        columns = [column(lat, np.float64, np.nan), column(lon, np.float64, np.nan),
                   column(speed_kmh, np.float64, 0.0), column(acc, np.int8, ACC_UNKNOWN),
                   column(alarm, np.int64, 0), column(mileage_km, np.float64, np.nan),
                   column(status, np.int64, STATUS_UNKNOWN)]
        if n and not (np.all(np.diff(times) > 0)):
            order = np.argsort(times, kind="stable")
            times = times[order]
            keep = np.ones(n, dtype=bool)
            keep[1:] = np.diff(times) > 0
            order = order[keep]
            times = times[keep]
            columns = [c[order] for c in columns]
        return cls(vehicle_id, times, *columns)  # type: ignore[arg-type]

    @classmethod
    def from_fixes(cls, vehicle_id: int, fixes: Iterable[Fix]) -> Track:
        """A track from `Fix` objects (tests, small sets): the loader reads columns instead."""
        own = [f for f in fixes if f.vehicle_id == vehicle_id]
        return cls.build(
            vehicle_id, [f.fixed_at.timestamp() for f in own], [f.lat for f in own], [f.lon for f in own],
            [f.speed_kmh for f in own], [ACC_UNKNOWN if f.acc is None else int(f.acc) for f in own],
            [f.alarm for f in own], [np.nan if f.mileage_km is None else f.mileage_km for f in own],
            [STATUS_UNKNOWN if f.status is None else f.status for f in own])

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def step_m(self) -> FloatArray:
        """Metres from each fix to the next (n - 1 values), computed once."""
        if self._step_m is None:
            steps = haversine_m(self.lat[:-1], self.lon[:-1], self.lat[1:], self.lon[1:]) if len(self) > 1 \
                else np.zeros(0)
            object.__setattr__(self, "_step_m", steps)
        assert self._step_m is not None
        return self._step_m

    def window(self, lo: float, hi: float) -> slice:
        """The index slice of fixes timed in [lo, hi]."""
        return slice(int(np.searchsorted(self.t, lo, "left")), int(np.searchsorted(self.t, hi, "right")))

    def point(self, i: int) -> dict[str, float | str]:
        """Fix ``i`` as evidence: time, lat, lon, speed."""
        return {"at": instant(self.t[i]).isoformat(), "lat": round(float(self.lat[i]), 6),
                "lon": round(float(self.lon[i]), 6), "speed_kmh": round(float(self.speed_kmh[i]), 1)}

    def excerpt(self, first: int, last: int, points: int = 12,
                tolerance_m: float = 50.0) -> list[dict[str, float | str]]:
        """Fixes ``first..last`` simplified for evidence: Douglas–Peucker (GEOS, in a local metric plane) to at
        most ``points`` points; first and last always kept."""
        first, last = max(first, 0), min(last, len(self) - 1)
        if last < first:
            return []
        idx = np.arange(first, last + 1)
        if idx.size > 2:
            x, y = plane(self.lat[idx], self.lon[idx], float(self.lat[idx].mean()))
            tol = tolerance_m
            kept = idx
            for _ in range(8):  # widen the tolerance until the excerpt is short enough
                kept = idx[douglas_peucker(x, y, tol)]
                if kept.size <= points:
                    break
                tol *= 2
            if kept.size > points:
                kept = kept[np.unique(np.linspace(0, kept.size - 1, points).round().astype(int))]
            idx = kept
        return [self.point(int(i)) for i in idx]


def douglas_peucker(x: FloatArray, y: FloatArray, tolerance_m: float) -> IntArray:
    """The indices, in order, of the points Douglas–Peucker (GEOS) keeps of the path through ``(x, y)`` (plane
    metres, `plane`), both ends always among them. The one simplification of tracks: evidence excerpts and the
    API's long tracks (`fleet.track_queries`)."""
    if x.size <= 2:
        return np.arange(x.size, dtype=np.int64)
    # The point's index rides along as its z: GEOS keeps the coordinates of the vertices it keeps, z included, and
    # measures in x and y only, so each kept vertex names its fix even where a parked car repeats a place.
    line = shapely.LineString(np.column_stack([x, y, np.arange(x.size, dtype=np.float64)]))
    z = shapely.get_coordinates(shapely.simplify(line, tolerance_m, preserve_topology=False), include_z=True)[:, 2]
    return z.astype(np.int64)


@dataclass(frozen=True)
class FixRules:
    """Which fixes a track can believe (the audit's rules file carries the same numbers, with the reasons)."""

    max_speed_kmh: float = 300.0  # a reported speed above this is a glitch (0xFFFF = 6553.5 km/h): speed unknown
    max_jump_kmh: float = 250.0  # a fix this fast from both neighbours (or its only one) is an outlier: dropped
    jump_min_m: float = 200.0  # a step shorter than this is never a jump (GNSS scatter over a fraction of a second)
    max_outlier_fixes: int = 3  # at most this many fixes in a row beyond a jump (and back) are the outlier


def _step_kmh(track: Track, rules: FixRules) -> FloatArray:
    """The implied speed of each step (n - 1 values), 0 for steps shorter than ``jump_min_m``."""
    dt = np.maximum(np.diff(track.t), 1.0)  # device times are whole seconds on JT/T 808
    kmh = track.step_m / dt * 3.6
    return np.asarray(np.where(track.step_m < rules.jump_min_m, 0.0, kmh), dtype=np.float64)


def _subset(track: Track, keep: BoolArray) -> Track:
    return Track(track.vehicle_id, track.t[keep], track.lat[keep], track.lon[keep], track.speed_kmh[keep],
                 track.acc[keep], track.alarm[keep], track.mileage_km[keep], track.status[keep])


def plausible(track: Track, rules: FixRules = FixRules()) -> Track:
    """The track without the fixes no rule should read: a position the terminal itself marks as not positioned
    (JT/T 808 status bit 1 clear; no status, as OsmAnd, counts as positioned), non-finite or out-of-range
    coordinates (0,0 is a terminal with no position), and outliers: up to ``max_outlier_fixes`` fixes reached and
    left by steps faster than ``max_jump_kmh`` (a multipath jump, a stale cached position; an end's run needs
    the one step), the longest run of the track kept (Traccar's ``filter.maxSpeed`` idea). Only the outlier goes,
    not the track after it. A speed that is non-finite, negative or
    above ``max_speed_kmh`` is replaced by the speed implied by the fix's steps (at most ``max_speed_kmh``), so it
    is never taken for 超速 and the fix's position is kept."""
    n = len(track)
    if n == 0:
        return track
    keep = (np.isfinite(track.t) & np.isfinite(track.lat) & np.isfinite(track.lon)
            & (np.abs(track.lat) <= 90) & (np.abs(track.lon) <= 180) & ~((track.lat == 0) & (track.lon == 0))
            & ((track.status < 0) | ((track.status & STATUS_POSITIONED) != 0)))
    out = track if keep.all() else _subset(track, keep)
    # Outliers: the steps faster than max_jump_kmh cut the track into runs; a run of at most
    # ``max_outlier_fixes`` that is not the longest is the jump's far side (a stale or reflected position, one
    # fix or a few), dropped; the longest run is the truth. Two fixes far apart alone: no telling, both kept.
    if len(out) > 2:
        fast = _step_kmh(out, rules) > rules.max_jump_kmh
        if fast.any():
            label = np.concatenate(([0], np.cumsum(fast)))
            size = np.bincount(label)
            drop = (size <= rules.max_outlier_fixes) & (size < size.max())
            if drop.any():
                out = _subset(out, ~drop[label])
    speed = out.speed_kmh
    wrong = ~np.isfinite(speed) | (speed < 0) | (speed > rules.max_speed_kmh)
    if wrong.any():
        implied = np.zeros(len(out))
        if len(out) > 1:
            steps = np.minimum(out.step_m / np.maximum(np.diff(out.t), 1.0) * 3.6, rules.max_speed_kmh)
            implied[1:] = steps
            implied[0] = steps[0]
        speed = np.where(wrong, implied, speed)
        out = Track(out.vehicle_id, out.t, out.lat, out.lon, speed, out.acc, out.alarm, out.mileage_km, out.status)
    return out


def plane(lat: FloatArray, lon: FloatArray, lat0: float) -> tuple[FloatArray, FloatArray]:
    """Equirectangular metres about latitude ``lat0``: an affine map of (lon, lat), so straight lines and
    point-in-polygon answers are those of the plain lat/lon plane the geofences use."""
    k = np.pi / 180 * EARTH_RADIUS_M
    return np.asarray(lon * k * np.cos(np.radians(lat0)), dtype=np.float64), np.asarray(lat * k, dtype=np.float64)


# --- Runs -------------------------------------------------------------------------------------------------------


def runs(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """(first, last) indices of each run of True in ``mask``."""
    if mask.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1).astype(np.int64), (np.flatnonzero(edges == -1) - 1).astype(np.int64)


def run_seconds(track: Track, first: IntArray, last: IntArray) -> FloatArray:
    """How long each run lasted: from its first fix to the next fix after it (the moment it was seen to end), or
    to its own last fix at the end of the track."""
    after = np.minimum(last + 1, len(track) - 1)
    return np.asarray(track.t[after] - track.t[first], dtype=np.float64)


@dataclass(frozen=True)
class DriveRules:
    """How a track is cut into drives (the audit's rules file carries the same numbers)."""

    moving_kmh: float = 5.0  # above: moving; GNSS speed of a parked car wanders to 2-3 km/h
    moving_step_m: float = 50.0  # a jump this far between fixes is movement even where speed reads 0 (phone apps)
    min_stop_seconds: float = 300.0  # a stop at least this long (or ignition off) ends a drive
    stop_radius_m: float = 200.0  # a silence with less displacement than this is a stop, not a tunnel


@dataclass(frozen=True)
class Spell:
    """A stretch of fixes first..last (inclusive) and when it began and ended."""

    first: int
    last: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Drive:
    """One drive: fixes first..last (the departure fix to the arrival fix), its times, places and km.

    ``km_source`` says where the km come from: ``"mileage"`` (the terminal's odometer, trusted when present at both
    ends and consistent with the fixes) or ``"track"`` (the sum of great-circle steps between moving fixes).
    """

    vehicle_id: int
    first: int
    last: int
    start: float
    end: float
    start_place: tuple[float, float]
    end_place: tuple[float, float]
    km: float
    km_source: Literal["mileage", "track"]
    track_km: float
    max_speed_kmh: float
    idle_spells: tuple[Spell, ...] = ()

    @property
    def seconds(self) -> float:
        return self.end - self.start


def moving(track: Track, rules: DriveRules = DriveRules()) -> BoolArray:
    """Fixes where the vehicle moves: speed above the threshold, or (sources that report no ignition: phone apps,
    whose speed may be missing) a jump from the previous fix both far and fast enough; never with the ignition
    reported off."""
    if len(track) == 0:
        return np.zeros(0, dtype=bool)
    fast = track.speed_kmh > rules.moving_kmh
    jump = np.zeros(len(track), dtype=bool)
    if len(track) > 1:
        dt = np.maximum(np.diff(track.t), 1.0)
        jump[1:] = ((track.step_m >= rules.moving_step_m) & (track.step_m / dt * 3.6 > rules.moving_kmh)
                    & (track.acc[1:] == ACC_UNKNOWN))
    return np.asarray((fast | jump) & (track.acc != ACC_OFF), dtype=bool)


def _sane_mileage(track: Track, first: int, last: int, track_km: float) -> float | None:
    """The odometer's km over fixes first..last, if both ends carry one and it agrees with the fixes: never
    backwards (a reset or a swapped terminal), at least half the great-circle km (the road is never shorter), and
    at most three times them plus 2 km (roads wind, and a signal loss drops fixes but not odometer km)."""
    a, b = track.mileage_km[first], track.mileage_km[last]
    if not (np.isfinite(a) and np.isfinite(b)):
        return None
    km = float(b - a)
    if km < 0 or km < 0.5 * track_km - 0.5 or km > 3 * track_km + 2:
        return None
    return km


def km_over(track: Track, first: int, last: int, move: BoolArray | None = None) -> tuple[float, str, float]:
    """(km, source, km by the track) from fix ``first`` to ``last``: steps between two stopped fixes are GNSS
    wander and are left out; the odometer's km replace the track's when `_sane_mileage` trusts them."""
    if last <= first:
        return 0.0, "track", 0.0
    steps = track.step_m[first:last]
    if move is not None:
        steps = steps[move[first:last] | move[first + 1:last + 1]]
    track_km = float(steps.sum()) / 1000.0
    mileage = _sane_mileage(track, first, last, track_km)
    if mileage is not None:
        return mileage, "mileage", track_km
    return track_km, "track", track_km


def idle_spells(track: Track, rules: DriveRules = DriveRules(), min_seconds: float = 0.0,
                move: BoolArray | None = None) -> list[Spell]:
    """Spells with the ignition on and the vehicle still (怠速), at least ``min_seconds`` long; only sources that
    report the ignition can show them."""
    move = moving(track, rules) if move is None else move
    first, last = runs((track.acc == ACC_ON) & ~move)
    if first.size == 0:
        return []
    seconds = run_seconds(track, first, last)
    ends = track.t[np.minimum(last + 1, len(track) - 1)]
    keep = seconds >= min_seconds
    return [Spell(int(a), int(b), float(track.t[a]), float(e))
            for a, b, e in zip(first[keep], last[keep], ends[keep], strict=True)]


def _stops(track: Track, rules: DriveRules, move: BoolArray) -> tuple[BoolArray, IntArray, BoolArray]:
    """(fixes in a stop, each stop fix's first index in its stop (-1 elsewhere), cut[i]: a silence that is a stop
    between fix i-1 and fix i) — the stops of `drives`."""
    n = len(track)
    first, last = runs(~move)
    seconds = run_seconds(track, first, last)
    off = np.concatenate(([0], np.cumsum(track.acc == ACC_OFF)))
    has_off = (off[last + 1] - off[first]) > 0
    long_run = (seconds >= rules.min_stop_seconds) | has_off
    in_stop = np.zeros(n, dtype=bool)
    stop_start = np.full(n, -1, dtype=np.int64)
    for a, b in zip(first[long_run], last[long_run], strict=True):
        in_stop[a:b + 1] = True
        stop_start[a:b + 1] = a
    cut = np.zeros(n, dtype=bool)
    if n > 1:
        cut[1:] = (np.diff(track.t) >= rules.min_stop_seconds) & (track.step_m < rules.stop_radius_m)
    return in_stop, stop_start, cut


def stopped(track: Track, rules: DriveRules = DriveRules(), move: BoolArray | None = None) -> BoolArray:
    """Fixes where the vehicle is in a stop as `drives` cuts them: a standstill of ``min_stop_seconds``, the
    ignition off, or either side of a silence that long with less than ``stop_radius_m`` between (a terminal
    asleep while parked). A red light or a jam's crawl is not a stop."""
    if len(track) == 0:
        return np.zeros(0, dtype=bool)
    in_stop, _, cut = _stops(track, rules, moving(track, rules) if move is None else move)
    out = in_stop | cut
    out[:-1] |= cut[1:]
    return out


def drives(track: Track, rules: DriveRules = DriveRules()) -> list[Drive]:
    """The track cut into drives.

    A fix is stopped when it does not move (`moving`) or the ignition is off. A run of stopped fixes is a stop
    when it lasts ``min_stop_seconds`` (to the next moving fix) or holds an ignition-off fix; a silence of that
    length with less than ``stop_radius_m`` displacement is a stop too (a terminal sleeps while parked), a longer
    displacement is not (a tunnel, a signal loss: the vehicle moved on). A drive is what lies between stops and
    holds a moving fix, from its departure fix (the last of the stop before; the first fix with the ignition on
    when the ignition came on during that stop) to its arrival fix (the first of the stop after).
    """
    n = len(track)
    if n == 0:
        return []
    move = moving(track, rules)
    in_stop, stop_start, cut = _stops(track, rules, move)
    free = ~in_stop
    prev_free = np.concatenate(([False], free[:-1]))
    next_free = np.concatenate((free[1:], [False]))
    next_cut = np.concatenate((cut[1:], [False]))
    starts = np.flatnonzero(free & (~prev_free | cut))
    ends = np.flatnonzero(free & (~next_free | next_cut))
    moved = np.concatenate(([0], np.cumsum(move)))
    # Where the ignition came on: each fix's first index of its run of ignition-on fixes.
    idx = np.arange(n)
    on = track.acc == ACC_ON
    on_start = np.maximum.accumulate(np.where(on & ~np.concatenate(([False], on[:-1])), idx, 0))
    spells = idle_spells(track, rules, move=move)
    out: list[Drive] = []
    for s, e in zip(starts, ends, strict=True):
        if moved[e + 1] - moved[s] == 0:
            continue
        a, b = int(s), int(e)
        if a > 0 and in_stop[a - 1] and not cut[a]:
            a -= 1
            # the ignition came on during the stop: the drive began then
            if on[a] and on_start[a] > stop_start[a] and not cut[on_start[a] + 1:a + 1].any():
                a = int(on_start[a])
        if b < n - 1 and in_stop[b + 1] and not cut[b + 1]:
            b += 1
        km, source, track_km = km_over(track, a, b, move)
        out.append(Drive(
            vehicle_id=track.vehicle_id, first=a, last=b, start=float(track.t[a]), end=float(track.t[b]),
            start_place=(float(track.lat[a]), float(track.lon[a])),
            end_place=(float(track.lat[b]), float(track.lon[b])), km=km,
            km_source=source,  # type: ignore[arg-type]
            track_km=track_km, max_speed_kmh=float(track.speed_kmh[a:b + 1].max()),
            idle_spells=tuple(sp for sp in spells if sp.first >= a and sp.last <= b),
        ))
    return out


def gaps(track: Track, min_seconds: float, lo: float | None = None, hi: float | None = None) -> list[Spell]:
    """Silences of at least ``min_seconds`` with no fix, within [lo, hi] when given (the edges count: no fix from
    ``lo`` to the first fix is a silence too). ``first``/``last`` are the fixes either side (-1 / len at an edge)."""
    lo = float(track.t[0]) if lo is None and len(track) else lo
    hi = float(track.t[-1]) if hi is None and len(track) else hi
    if lo is None or hi is None or hi <= lo:
        return []
    sl = track.window(lo, hi)
    inside = track.t[sl]
    edges = np.concatenate(([lo], inside, [hi]))
    length = np.diff(edges)
    found = np.flatnonzero(length >= min_seconds)
    out = []
    for k in found:
        before = sl.start + k - 1
        out.append(Spell(int(before), int(before + 1), float(edges[k]), float(edges[k + 1])))
    return out


# --- Matching ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    """What a vehicle was booked for: a trip and the interval it held the vehicle (epoch seconds)."""

    trip_id: int
    vehicle_id: int
    start: float
    end: float
    # How far before its start and after its end the booking still holds the vehicle (seconds): the drive from
    # the yard to the pickup and back from the drop-off. None: the caller's flat tolerance.
    lead: float | None = None
    lag: float | None = None

    def widened(self, tolerance_seconds: float = 0.0) -> tuple[float, float]:
        """The interval the booking covers with its drives there and back."""
        return (self.start - (tolerance_seconds if self.lead is None else self.lead),
                self.end + (tolerance_seconds if self.lag is None else self.lag))


def match(found: Sequence[Drive], bookings: Sequence[Booking], tolerance_seconds: float) -> dict[int, int | None]:
    """Each drive (by index) to the booking of its vehicle it overlaps most, the bookings widened by their own
    ``lead``/``lag`` (the drive from the yard to the pickup, back after the drop-off), else by
    ``tolerance_seconds`` either side; None: no booking overlaps it."""
    by_vehicle: dict[int, list[Booking]] = {}
    for booking in bookings:
        by_vehicle.setdefault(booking.vehicle_id, []).append(booking)
    out: dict[int, int | None] = {}
    for i, drive in enumerate(found):
        best, best_overlap = None, -1.0
        for booking in by_vehicle.get(drive.vehicle_id, ()):
            lo, hi = booking.widened(tolerance_seconds)
            overlap = min(drive.end, hi) - max(drive.start, lo)
            if overlap >= 0 and overlap > best_overlap:
                best, best_overlap = booking.trip_id, overlap
        out[i] = best
    return out


def covered(t: FloatArray, bookings: Iterable[Booking], tolerance_seconds: float = 0.0) -> BoolArray:
    """Which instants fall in one of the bookings (widened by their own lead and lag, else the tolerance)."""
    mask = np.zeros(t.size, dtype=bool)
    for booking in bookings:
        lo, hi = booking.widened(tolerance_seconds)
        mask |= (t >= lo) & (t <= hi)
    return mask


def split(vehicle_ids: npt.ArrayLike, columns: Mapping[str, npt.ArrayLike]) -> dict[int, Track]:
    """Tracks per vehicle from columns of many vehicles' fixes sorted by (vehicle, time), as the loader reads them:
    ``columns`` holds t, lat, lon, speed_kmh, acc, alarm, mileage_km, status."""
    ids = np.asarray(vehicle_ids, dtype=np.int64)
    if ids.size == 0:
        return {}
    cols = {k: np.asarray(v) for k, v in columns.items()}
    bounds = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate(([0], bounds))
    stops = np.concatenate((bounds, [ids.size]))
    out: dict[int, Track] = {}
    for a, b in zip(starts, stops, strict=True):
        vid = int(ids[a])
        out[vid] = Track.build(vid, **{k: v[a:b] for k, v in cols.items()})
    return out
