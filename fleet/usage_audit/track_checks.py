"""The rules that read the vehicles' tracks, as pure functions: tracks, vehicles, bookings and the rules in,
findings out, no database.

Each finding's evidence says what it trusts in ``source``: ``"track"`` (the terminal's fixes), with
``"booking"`` beside it where a booking is read too. Findings are timed in the audit window [start, end); the
tracks are read with a margin either side so that a drive or an episode crossing the window's edge is whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from fleet.enums import TripStatus, VehicleStatus
from fleet.i18n import Message, msg
from fleet.tracks import (
    ACC_ON,
    Booking,
    BoolArray,
    Drive,
    FloatArray,
    Spell,
    Track,
    covered,
    drives,
    epoch,
    gaps,
    haversine_m,
    idle_spells,
    instant,
    km_over,
    match,
    moving,
    plane,
    plausible,
    run_seconds,
    runs,
    stopped,
)
from fleet.usage_audit.calendar import Calendar
from fleet.usage_audit.checks import Finding, FindingKind
from fleet.usage_audit.config import TAMPER_ALARM_BITS, AuditRules, TrackRules
from fleet.usage_audit.evidence import TripRow, VehicleRow
from fleet.usage_audit.geofences import CircleGeofence, Geofence, PolygonGeofence


@dataclass
class VehicleDay:
    """One vehicle's track over the audit window (with its margin) and the trips booked on it."""

    vehicle: VehicleRow
    track: Track
    trips: Sequence[TripRow]
    rules: AuditRules
    start: datetime
    end: datetime
    now: datetime

    def __post_init__(self) -> None:
        # before any rule reads it: fixes the terminal marks unpositioned, bad values and jumps out
        self.track = plausible(self.track, self.rules.tracks.fix_rules())

    @property
    def lo(self) -> float:
        return epoch(self.start)

    @property
    def hi(self) -> float:
        return epoch(self.end)

    @cached_property
    def moving(self) -> BoolArray:
        return moving(self.track, self.rules.tracks.drive_rules())

    @cached_property
    def drives(self) -> list[Drive]:
        return drives(self.track, self.rules.tracks.drive_rules())

    @cached_property
    def stopped(self) -> BoolArray:
        return stopped(self.track, self.rules.tracks.drive_rules(), self.moving)

    def _drive_seconds(self, a: tuple[float, float] | None, b: tuple[float, float] | None) -> float:
        """How long a booking holds the vehicle beyond its own interval to drive from ``a`` to ``b`` (its yard
        and the pickup, the drop-off and its yard): road km at the city speed plus the margin, at most the
        match tolerance (also the widening when the yard is unknown)."""
        rules = self.rules.tracks
        cap = rules.match_tolerance_minutes * 60
        if a is None or b is None:
            return cap
        km = float(haversine_m(a[0], a[1], b[0], b[1])) / 1000 * self.rules.road_factor
        return min(cap, km / rules.match_city_kmh * 3600 + rules.match_margin_minutes * 60)

    @cached_property
    def bookings(self) -> list[tuple[Booking, TripRow]]:
        """Each trip's interval on the vehicle: started..completed, else the assignment's planned interval. A trip
        left in progress (started, never completed) runs to the earliest of now, the window's end, the vehicle's
        next booking's start and its planned end + ``match_tolerance_minutes``: "to now" made the rest of the
        day one booking (a 绕道 to the next trip's drop-off, and cover for any unbooked drive after it)."""
        out = []
        starts = sorted(epoch(b[0]) for t in self.trips
                        if t.vehicle_id == self.vehicle.id and (b := t.begins) is not None)
        tolerance = timedelta(minutes=self.rules.tracks.match_tolerance_minutes)
        for trip in self.trips:
            begins = trip.begins
            if begins is None or trip.vehicle_id != self.vehicle.id:
                continue
            ends = trip.ends
            if trip.started_at is not None and trip.completed_at is None:
                begin = epoch(begins[0])
                limits = [epoch(min(self.now, self.end))]
                if trip.assigned_to is not None:
                    limits.append(epoch(trip.assigned_to + tolerance))
                later = [t for t in starts if t > begin]
                if later:
                    limits.append(later[0])
                end = max(min(limits), begin)
            elif ends is not None:
                end = epoch(ends[0])
            else:
                continue
            yard = self.vehicle.home or trip.home
            out.append((Booking(trip.id, self.vehicle.id, epoch(begins[0]), end,
                                lead=self._drive_seconds(yard, trip.pickup),
                                lag=self._drive_seconds(trip.dropoff, yard)), trip))
        return out

    @cached_property
    def matches(self) -> dict[int, int | None]:
        tolerance = self.rules.tracks.match_tolerance_minutes * 60
        return match(self.drives, [b for b, _ in self.bookings], tolerance)

    def in_window(self, t: float) -> bool:
        return self.lo <= t < self.hi

    def finding(self, kind: FindingKind, detail: Message, at: float, evidence: dict[str, Any],
                trip_id: int | None = None) -> Finding:
        return Finding(kind=kind, detail=detail, at=instant(at), agency=self.vehicle.agency,
                       plate=self.vehicle.plate, vehicle_id=self.vehicle.id, trip_id=trip_id,
                       evidence={"vehicle_id": self.vehicle.id, "plate": self.vehicle.plate, **evidence})


def _place(lat: float, lon: float) -> dict[str, float]:
    return {"lat": round(float(lat), 6), "lon": round(float(lon), 6)}


def _local(t: float, calendar: Calendar) -> str:
    return instant(t).astimezone(calendar.zone).strftime("%Y-%m-%d %H:%M")


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def _spell_evidence(day: VehicleDay, spell: Spell) -> dict[str, Any]:
    return {"start": instant(spell.start), "end": instant(spell.end), "minutes": _minutes(spell.seconds),
            "track": day.track.excerpt(spell.first, spell.last)}


# --- 非调度用车 ---------------------------------------------------------------------------------------------------


def unscheduled_drive(days: Iterable[VehicleDay]) -> Iterator[Finding]:
    """Drives that no booking of the vehicle covers (widened by the vehicle's drives from its yard to the pickup
    and back from the drop-off, see `VehicleDay.bookings`), at least ``unscheduled_min_km`` long."""
    for day in days:
        rules = day.rules.tracks
        zone = day.rules.calendar
        for index, drive in enumerate(day.drives):
            if day.matches[index] is not None or drive.km < rules.unscheduled_min_km or not day.in_window(drive.start):
                continue
            yield day.finding(
                FindingKind.unscheduled_drive,
                msg("{plate} drove {km:.1f} km from {start} to {end} (local time) with no booking: from "
                    "{origin} to {destination}.", plate=day.vehicle.plate, km=drive.km,
                    start=_local(drive.start, zone), end=_local(drive.end, zone),
                    origin=f"{drive.start_place[0]:.5f},{drive.start_place[1]:.5f}",
                    destination=f"{drive.end_place[0]:.5f},{drive.end_place[1]:.5f}"),
                drive.start,
                {"source": "track", "start": instant(drive.start), "end": instant(drive.end),
                 "minutes": _minutes(drive.seconds), "from": _place(*drive.start_place),
                 "to": _place(*drive.end_place), "km": round(drive.km, 2), "km_source": drive.km_source,
                 "track_km": round(drive.track_km, 2), "max_speed_kmh": round(drive.max_speed_kmh, 1),
                 "threshold_km": rules.unscheduled_min_km,
                 "match_tolerance_minutes": rules.match_tolerance_minutes,
                 "track": day.track.excerpt(drive.first, drive.last)},
            )


# --- 绕道 ----------------------------------------------------------------------------------------------------------


def detour_corridor_m(rules: TrackRules, route: Sequence[tuple[float, float]]) -> float:
    """How far (metres) a trip's track may stray from its booked ``route`` (home -> pickup -> drop-off, straight)
    before it is a detour: the rules' corridor, or their share of the route's longest leg, whichever is wider."""
    legs = haversine_m(np.array([p[0] for p in route[:-1]]), np.array([p[1] for p in route[:-1]]),
                       np.array([p[0] for p in route[1:]]), np.array([p[1] for p in route[1:]]))
    return max(rules.detour_corridor_km * 1000, rules.detour_corridor_ratio * float(legs.max(initial=0.0)))


def distance_to_route(lat: FloatArray, lon: FloatArray, route: Sequence[tuple[float, float]]) -> FloatArray:
    """Metres from each point to the polyline ``route`` (a local plane: city scale)."""
    lat0 = float(np.mean([p[0] for p in route]))
    px, py = plane(lat, lon, lat0)
    rx, ry = plane(np.array([p[0] for p in route]), np.array([p[1] for p in route]), lat0)
    best = np.full(px.size, np.inf)
    for i in range(max(len(route) - 1, 1)):
        ax, ay = rx[i], ry[i]
        bx, by = (rx[i + 1], ry[i + 1]) if len(route) > 1 else (ax, ay)
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        s = np.zeros(px.size) if length2 == 0 else np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1)
        best = np.minimum(best, np.hypot(px - (ax + s * dx), py - (ay + s * dy)))
    return best


def detour(days: Iterable[VehicleDay]) -> Iterator[Finding]:
    """Trips whose track strays further than the corridor from the straight lines home -> pickup -> drop-off, or
    (completed trips) ends further than ``detour_end_radius_m`` from the booked drop-off."""
    for day in days:
        rules = day.rules.tracks
        for booking, trip in day.bookings:
            if trip.started_at is None or not day.in_window(booking.start):
                continue
            sl = day.track.window(booking.start, booking.end)
            if sl.stop - sl.start < 2:
                continue  # no track to judge: 终端离线 says so
            lat, lon = day.track.lat[sl], day.track.lon[sl]
            route = [p for p in (trip.home, trip.pickup, trip.dropoff) if p is not None]
            corridor = detour_corridor_m(rules, route)
            off = distance_to_route(lat, lon, route)
            worst = int(np.argmax(off))
            reasons: list[str] = []
            words: list[Message] = []
            if off[worst] > corridor:
                reasons.append("strayed")
                words.append(msg("strayed {km:.1f} km from the booked route (allowed {allowed:.1f} km) at {moment}",
                                 km=off[worst] / 1000, allowed=corridor / 1000,
                                 moment=_local(day.track.t[sl.start + worst], day.rules.calendar)))
            last = sl.stop - 1
            end_off = float(haversine_m(day.track.lat[last], day.track.lon[last], *trip.dropoff))
            completed = trip.status is TripStatus.completed and trip.completed_at is not None
            if completed and end_off > rules.detour_end_radius_m and _end_known(day, last, booking.end):
                reasons.append("ended_away")
                words.append(msg("ended {km:.1f} km from the booked drop-off", km=end_off / 1000))
            if not reasons:
                continue
            account = words[0] if len(words) == 1 else msg("{first} and {second}", first=words[0], second=words[1])
            km, km_source, _ = km_over(day.track, sl.start, last, day.moving)
            yield day.finding(
                FindingKind.detour,
                msg("Trip {trip_id} on {plate} {account}.", trip_id=trip.id, plate=day.vehicle.plate,
                    account=account),
                booking.start,
                {"source": "track", "compared_with": "booking", "trip_id": trip.id, "reasons": reasons,
                 "start": instant(booking.start), "end": instant(booking.end),
                 "route": [_place(*p) for p in route], "route_basis": "straight lines home -> pickup -> drop-off"
                 if trip.home is not None else "straight line pickup -> drop-off",
                 "farthest": {**day.track.point(sl.start + worst), "off_route_m": round(float(off[worst]))},
                 "corridor_m": round(corridor), "last_fix": day.track.point(last),
                 "end_from_dropoff_m": round(end_off), "end_radius_m": rules.detour_end_radius_m,
                 "km": round(km, 2), "km_source": km_source, "planned_km": round(trip.planned_km, 1),
                 "track": day.track.excerpt(sl.start, last)},
                trip_id=trip.id,
            )


def _end_known(day: VehicleDay, last: int, end: float) -> bool:
    """Whether fix ``last`` (the last before the booking's end) is where the vehicle ended the trip: near enough
    the end in time, or the vehicle had not moved by its next fix (a parked terminal asleep). A terminal silent
    through the end (unplugged) does not say where the trip ended: 终端离线 says it went silent."""
    track = day.track
    if end - track.t[last] < day.rules.tracks.offline_minutes * 60:
        return True
    if last + 1 >= len(track):
        return False
    return bool(track.step_m[last] < day.rules.tracks.stop_radius_m)


# --- 越界 ----------------------------------------------------------------------------------------------------------


def inside_fraction(fence: Geofence, lat: FloatArray, lon: FloatArray) -> FloatArray:
    """For each step between consecutive points, the share of its straight line (in the fence's local plane)
    that lies inside the fence: a step crossing the fence between two fixes counts."""
    return crossings(fence, lat, lon)[0]


def crossings(fence: Geofence, lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per step: (the share inside, where along the step the inside part begins and ends, 0..1)."""
    n = lat.size
    frac = np.zeros(max(n - 1, 0))
    enter = np.zeros_like(frac)
    leave = np.zeros_like(frac)
    if n < 2:
        return frac, enter, leave
    if isinstance(fence, CircleGeofence):
        # Solve |a + s (b - a)| = r for s in [0, 1] in the circle's local plane (metres about its centre).
        ax, ay = plane(lat[:-1] - fence.lat, lon[:-1] - fence.lon, fence.lat)
        bx, by = plane(lat[1:] - fence.lat, lon[1:] - fence.lon, fence.lat)
        dx, dy = bx - ax, by - ay
        qa = dx * dx + dy * dy
        qb = 2 * (ax * dx + ay * dy)
        qc = ax * ax + ay * ay - fence.radius_m ** 2
        disc = qb * qb - 4 * qa * qc
        hit = (disc > 0) & (qa > 0)
        root = np.sqrt(np.where(hit, disc, 0.0))
        safe = np.where(hit, 2 * qa, 1.0)
        s1 = np.where(hit, (-qb - root) / safe, 0.0)
        s2 = np.where(hit, (-qb + root) / safe, 0.0)
        enter, leave = np.clip(s1, 0, 1), np.clip(s2, 0, 1)
        frac = np.clip(leave - enter, 0, 1)
        still = qa == 0  # a vehicle standing still: inside or not
        frac[still] = (qc[still] < 0).astype(float)
        enter[still], leave[still] = 0.0, frac[still]
        return np.asarray(frac, dtype=np.float64), enter, leave
    assert isinstance(fence, PolygonGeofence)
    verts = np.array(fence.vertices)
    lat0 = float(verts[:, 0].mean())
    vx, vy = plane(verts[:, 0], verts[:, 1], lat0)
    polygon = shapely.polygons(np.column_stack([vx, vy]))
    shapely.prepare(polygon)
    px, py = plane(lat, lon, lat0)
    # Only steps whose box meets the polygon's box can cross it.
    x0, y0, x1, y1 = shapely.bounds(polygon)
    cand = np.flatnonzero((np.maximum(px[:-1], px[1:]) >= x0) & (np.minimum(px[:-1], px[1:]) <= x1)
                          & (np.maximum(py[:-1], py[1:]) >= y0) & (np.minimum(py[:-1], py[1:]) <= y1))
    if cand.size == 0:
        return frac, enter, leave
    ax, ay, bx, by = px[cand], py[cand], px[cand + 1], py[cand + 1]
    steps = shapely.linestrings(np.stack([np.column_stack([ax, ay]), np.column_stack([bx, by])], axis=1))
    length = shapely.length(steps)
    parts = shapely.intersection(steps, polygon)
    inside = shapely.length(parts)
    moved = length > 0
    share = np.where(moved, inside / np.where(moved, length, 1.0), 0.0)
    share[~moved] = shapely.contains_xy(polygon, ax[~moved], ay[~moved]).astype(float)
    frac[cand] = np.clip(share, 0, 1)
    # Where the inside part begins and ends: the extreme parameters of the intersection's vertices.
    coords, which = shapely.get_coordinates(parts, return_index=True)
    if which.size:
        dx, dy = (bx - ax)[which], (by - ay)[which]
        d2 = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
        s = np.clip(((coords[:, 0] - ax[which]) * dx + (coords[:, 1] - ay[which]) * dy) / d2, 0, 1)
        lo = np.ones(cand.size)
        hi = np.zeros(cand.size)
        np.minimum.at(lo, which, s)
        np.maximum.at(hi, which, s)
        has = np.zeros(cand.size, dtype=bool)
        has[which] = True
        enter[cand[has]], leave[cand[has]] = lo[has], hi[has]
    enter[cand[~moved]], leave[cand[~moved]] = 0.0, share[~moved]
    return frac, enter, leave


@dataclass(frozen=True)
class Entry:
    """A stay in a fence: the steps first..last (step i joins fix i and i+1), when it entered and left
    (interpolated along the straight steps) and the seconds inside."""

    first: int
    last: int
    entered: float
    left: float
    seconds: float


def entries(track: Track, fence: Geofence, max_step_seconds: float | None = None) -> list[Entry]:
    """The stays of a track in a fence: runs of steps with some of their length inside."""
    if len(track) < 2 or _far(track, fence):
        return []
    frac, enter, leave = crossings(fence, track.lat, track.lon)
    if not frac.any():
        return []
    dt = np.diff(track.t)
    if max_step_seconds is not None:
        # A long silence between two fixes both outside: the straight line between them is a guess.
        ends_outside = (frac < 1)
        frac = np.where((dt > max_step_seconds) & ends_outside & _both_outside(track, fence), 0.0, frac)
    first, last = runs(frac > 0)
    out = []
    for a, b in zip(first, last, strict=True):
        seconds = float((frac[a:b + 1] * dt[a:b + 1]).sum())
        entered = float(track.t[a] + dt[a] * enter[a])
        left = float(track.t[b] + dt[b] * leave[b])
        out.append(Entry(int(a), int(b), entered, left, seconds))
    return out


# How much further than the fence's edge the track's bounding box must stay to be skipped unread: far above the
# float error of the plane's metres, so that a skipped track is one `crossings` would find wholly outside.
_FAR_MARGIN_M = 1.0


def _far(track: Track, fence: Geofence) -> bool:
    """Whether the track's bounding box (which holds every step: straight lines between fixes) stays clear of the
    fence, so that no step can have any of its length inside: most tracks, most fences, read in O(1) after the
    min/max."""
    lat_lo, lat_hi = float(track.lat.min()), float(track.lat.max())
    lon_lo, lon_hi = float(track.lon.min()), float(track.lon.max())
    if isinstance(fence, CircleGeofence):
        # the box in the circle's plane (affine in lat and lon), then its nearest point to the centre
        (x0, x1), (y0, y1) = plane(np.array([lat_lo - fence.lat, lat_hi - fence.lat]),
                                   np.array([lon_lo - fence.lon, lon_hi - fence.lon]), fence.lat)
        dx = max(float(x0), 0.0, -float(x1))
        dy = max(float(y0), 0.0, -float(y1))
        return bool(np.hypot(dx, dy) > fence.radius_m + _FAR_MARGIN_M)
    assert isinstance(fence, PolygonGeofence)
    verts = np.array(fence.vertices)
    margin = _FAR_MARGIN_M / 100_000  # degrees (about a metre): far above the plane's float error too
    return bool(lat_lo > verts[:, 0].max() + margin or lat_hi < verts[:, 0].min() - margin
                or lon_lo > verts[:, 1].max() + margin or lon_hi < verts[:, 1].min() - margin)


def _inside(fence: Geofence, lat: FloatArray, lon: FloatArray) -> BoolArray:
    """Which points lie inside the fence (vectorised `Geofence.contains`)."""
    if isinstance(fence, CircleGeofence):
        return np.asarray(haversine_m(lat, lon, fence.lat, fence.lon) <= fence.radius_m, dtype=bool)
    assert isinstance(fence, PolygonGeofence)
    verts = np.array(fence.vertices)
    lat0 = float(verts[:, 0].mean())
    vx, vy = plane(verts[:, 0], verts[:, 1], lat0)
    px, py = plane(lat, lon, lat0)
    return np.asarray(shapely.contains_xy(shapely.polygons(np.column_stack([vx, vy])), px, py), dtype=bool)


def _both_outside(track: Track, fence: Geofence) -> BoolArray:
    out = ~_inside(fence, track.lat, track.lon)
    return np.asarray(out[:-1] & out[1:], dtype=bool)


def _booked_there(day: VehicleDay, fence: Geofence, stops: npt.NDArray[np.int64]) -> TripRow | None:
    """The trip whose booked pickup or drop-off inside ``fence`` explains every stop fix in ``stops``: each
    within ``geofence_booked_place_m`` of such a place of a booking covering its time (with the drives there and
    back). None when a stop is not so explained."""
    track = day.track
    radius = day.rules.tracks.geofence_booked_place_m
    found: TripRow | None = None
    explained = np.zeros(stops.size, dtype=bool)
    for booking, trip in day.bookings:
        lo, hi = booking.widened()
        when = (track.t[stops] >= lo) & (track.t[stops] <= hi)
        if not when.any():
            continue
        for place in (trip.pickup, trip.dropoff):
            if not fence.contains(*place):
                continue
            near = haversine_m(track.lat[stops], track.lon[stops], *place) <= radius
            if (near & when).any():
                explained |= near & when
                found = found or trip
    return found if explained.all() else None


def geofence_entry(days: Iterable[VehicleDay]) -> Iterator[Finding]:
    """Visits to a prohibited area, found on the track's steps so that an area crossed between two fixes counts.
    A visit is a stay of at least ``geofence_dwell_seconds`` (interpolated) with a stop inside (a stop as drives
    are cut: standing, the ignition off, the terminal asleep), or a stay of ``geofence_transit_minutes`` without
    one: driving through on a public road is a crossing. Not reported: a stay during a trip of an exempt
    priority, one whose every stop inside is within ``parking_radius_m`` of the vehicle's own designated parking
    place (its yard lies in the area: agencies do sit beside East Lake), and one whose every stop inside is at the
    pickup or drop-off booked inside the area for the trip it falls in (the booking discloses it; the booking rule
    flags such a drop-off)."""
    for day in days:
        fences = day.rules.geofences
        if not fences or len(day.track) < 2:
            continue
        rules = day.rules.tracks
        exempt = [b for b, trip in day.bookings if trip.priority in day.rules.geofence_exempt]
        home = day.vehicle.home
        for fence in fences:
            for entry in entries(day.track, fence, rules.geofence_max_step_minutes * 60):
                if entry.seconds < rules.geofence_dwell_seconds or entry.seconds <= 0:
                    continue
                if not day.in_window(entry.entered):
                    continue
                if any(b.start <= entry.entered <= b.end for b in exempt):
                    continue
                fixes = np.arange(entry.first, entry.last + 2)
                stops = fixes[day.stopped[fixes]]
                stops = stops[_inside(fence, day.track.lat[stops], day.track.lon[stops])]
                if stops.size and home is not None:
                    # the vehicle's own yard inside the area: standing there is being home, not a visit
                    away = haversine_m(day.track.lat[stops], day.track.lon[stops], *home) > rules.parking_radius_m
                    if not away.any():
                        continue
                    stops = stops[away]
                if stops.size == 0 and entry.seconds < rules.geofence_transit_minutes * 60:
                    continue  # through-traffic
                if stops.size and _booked_there(day, fence, stops) is not None:
                    continue
                trip = next((t for b, t in day.bookings if b.start <= entry.entered <= b.end), None)
                if trip is None:  # on its way to or from a booking
                    trip = next((t for b, t in day.bookings
                                 if b.widened()[0] <= entry.entered <= b.widened()[1]), None)
                yield day.finding(
                    FindingKind.geofence_entry,
                    msg("{plate} entered the prohibited area {area} ({kind}) at {moment} (local time) and stayed "
                        "{minutes:.0f} min inside.", plate=day.vehicle.plate, area=fence.name, kind=fence.kind,
                        moment=_local(entry.entered, day.rules.calendar), minutes=entry.seconds / 60),
                    entry.entered,
                    {"source": "track", "geofence": fence.name, "geofence_kind": fence.kind,
                     "geofence_shape": fence.shape, "entered": instant(entry.entered), "left": instant(entry.left),
                     "seconds_inside": round(entry.seconds), "dwell_threshold_seconds": rules.geofence_dwell_seconds,
                     "visit": "stopped" if stops.size else "long_stay",
                     "stopped_at": day.track.point(int(stops[0])) if stops.size else None,
                     "transit_threshold_minutes": rules.geofence_transit_minutes,
                     "trip_id": trip.id if trip else None,
                     "track": day.track.excerpt(entry.first, entry.last + 1)},
                    trip_id=trip.id if trip else None,
                )


# --- 定点停放 ------------------------------------------------------------------------------------------------------


def working_mask(t: FloatArray, calendar: Calendar) -> BoolArray:
    """Which instants fall in working hours of a working day (local time), for a whole array at once: the
    working intervals of the days the array spans, then a binary search."""
    if t.size == 0:
        return np.zeros(0, dtype=bool)
    days = calendar.days
    day = instant(float(t.min())).astimezone(days.zone).date()
    last = instant(float(t.max())).astimezone(days.zone).date()
    bounds: list[float] = []
    while day <= last:
        if days.day_off(day) is None:
            bounds.append(datetime.combine(day, days.start, days.zone).timestamp())
            bounds.append(datetime.combine(day, days.end, days.zone).timestamp())
        day += timedelta(days=1)
    if not bounds:
        return np.zeros(t.size, dtype=bool)
    edges = np.array(bounds)
    # Both ends inclusive, as the calendar's working hours: inside when the count of edges <= t is odd, or t is
    # an interval's end.
    after_start = np.searchsorted(edges, t, side="right")
    at_end = np.isin(t, edges[1::2])
    return np.asarray((after_start % 2 == 1) | at_end, dtype=bool)


def parking(days: Iterable[VehicleDay]) -> Iterator[Finding]:
    """Stretches outside working hours, not covered by a booking, with the vehicle further than
    ``parking_radius_m`` from its designated parking place (its home), of at least ``parking_min_minutes``.
    A vehicle without a home on record, or in the workshop, is not judged."""
    for day in days:
        home = day.vehicle.home
        track = day.track
        if home is None or len(track) == 0 or day.vehicle.status is VehicleStatus.maintenance:
            continue
        rules = day.rules.tracks
        tolerance = rules.match_tolerance_minutes * 60
        booked = covered(track.t, (b for b, _ in day.bookings), tolerance)
        off = ~working_mask(track.t, day.rules.calendar)
        # the distance from home only where it can matter: outside working hours and bookings
        judged = np.flatnonzero(off & ~booked)
        distance_m = np.zeros(len(track))
        distance_m[judged] = haversine_m(track.lat[judged], track.lon[judged], *home)
        away = distance_m > rules.parking_radius_m
        first, last = runs(away)
        for a, b in zip(first, last, strict=True):
            seconds = float(track.t[b] - track.t[a])
            if seconds < rules.parking_min_minutes * 60 or not day.in_window(float(track.t[a])):
                continue
            far = int(a + np.argmax(distance_m[a:b + 1]))  # how far it went, not where the run ended
            distance = float(distance_m[far])
            yield day.finding(
                FindingKind.parking,
                msg("{plate} stood {km:.1f} km from its designated parking place outside working hours without a "
                    "booking, from {start} to {end} (local time).", plate=day.vehicle.plate, km=distance / 1000,
                    start=_local(track.t[a], day.rules.calendar), end=_local(track.t[b], day.rules.calendar)),
                float(track.t[a]),
                {"source": "track", "compared_with": "booking", "home": _place(*home),
                 "start": instant(track.t[a]), "end": instant(track.t[b]), "minutes": _minutes(seconds),
                 "where": _place(track.lat[far], track.lon[far]), "distance_m": round(distance),
                 "radius_m": rules.parking_radius_m, "min_minutes": rules.parking_min_minutes,
                 "working_hours": str(day.rules.calendar.working_hours),
                 "track": track.excerpt(int(a), int(b))},
            )


# --- 机车拆除 / 终端离线 --------------------------------------------------------------------------------


def _silence(day: VehicleDay, gap: Spell) -> tuple[str, float | None]:
    """How a silence began ("moving", "ignition_on", "parked", or "unknown" with no fix before it) and how far
    the vehicle moved across it (metres; None without a fix on both sides)."""
    track = day.track
    if gap.first < 0:
        return "unknown", None
    state = "moving" if day.moving[gap.first] else "ignition_on" if track.acc[gap.first] == ACC_ON else "parked"
    if gap.last >= len(track):
        return state, None
    return state, float(track.step_m[gap.first])


def terminal_offline(days: Iterable[VehicleDay]) -> Iterator[Finding]:
    """Silences of at least ``offline_minutes`` while a trip is under way on the vehicle (started, not yet or
    later completed), and JT/T 808 tamper and power-cut alarm bits held ``tamper_min_seconds`` or followed by
    silence. Vehicles without a terminal on record and without fixes are not judged."""
    for day in days:
        rules = day.rules.tracks
        track = day.track
        zone = day.rules.calendar
        for booking, trip in day.bookings:
            if trip.started_at is None:
                continue
            for gap in gaps(track, rules.offline_minutes * 60, booking.start, booking.end):
                if not day.in_window(gap.start):
                    continue
                state, moved = _silence(day, gap)
                if state == "parked" and (moved is None or moved <= rules.stop_radius_m):
                    continue  # parked with the ignition off: the terminal sleeps
                before = track.point(gap.first) if gap.first >= 0 else None
                after = track.point(gap.last) if gap.last < len(track) else None
                yield day.finding(
                    FindingKind.terminal_offline,
                    msg("{plate}'s terminal sent no position for {minutes:.0f} min from {start} to {end} (local "
                        "time) during trip {trip_id}.", plate=day.vehicle.plate, minutes=gap.seconds / 60,
                        start=_local(gap.start, zone), end=_local(gap.end, zone), trip_id=trip.id),
                    gap.start,
                    {"source": "track", "compared_with": "booking", "reason": "silent_in_use", "trip_id": trip.id,
                     "start": instant(gap.start), "end": instant(gap.end), "minutes": _minutes(gap.seconds),
                     "threshold_minutes": rules.offline_minutes, "last_fix_before": before,
                     "first_fix_after": after, "state_before": state,
                     "moved_m": None if moved is None else round(moved), "terminal_id": day.vehicle.terminal_id},
                    trip_id=trip.id,
                )
        for bit in sorted(rules.tamper_alarm_bits):
            flagged = (track.alarm >> bit) & 1 == 1
            first, last = runs(flagged)
            if first.size == 0:
                continue
            held = run_seconds(track, first, last)
            for a, b, seconds in zip(first, last, held, strict=True):
                silent = b == len(track) - 1 or track.t[b + 1] - track.t[b] >= rules.offline_minutes * 60
                if (seconds < rules.tamper_min_seconds and not silent) or not day.in_window(float(track.t[a])):
                    continue
                name = TAMPER_ALARM_BITS.get(int(bit), f"报警位{bit}")
                yield day.finding(
                    FindingKind.terminal_offline,
                    msg("{plate}'s terminal raised alarm bit {bit} ({name}) at {moment} (local time) for "
                        "{minutes:.0f} min{silent}.", plate=day.vehicle.plate, bit=int(bit), name=name,
                        moment=_local(track.t[a], zone), minutes=seconds / 60,
                        silent=msg(", then fell silent") if silent else ""),
                    float(track.t[a]),
                    {"source": "track", "reason": "alarm_bit", "alarm_bit": int(bit), "alarm": name,
                     "start": instant(track.t[a]), "minutes": _minutes(float(seconds)), "silent_after": bool(silent),
                     "min_seconds": rules.tamper_min_seconds, "fix": track.point(int(a)),
                     "terminal_id": day.vehicle.terminal_id},
                )


# --- 超速, 怠速超长 ------------------------------------------------------------------------------------------


def speeding(days: Iterable[VehicleDay]) -> Iterator[Finding]:
    """Runs of fixes above ``speeding_kmh`` lasting ``speeding_seconds`` (to the first fix back under it)."""
    for day in days:
        rules = day.rules.tracks
        track = day.track
        first, last = runs(track.speed_kmh > rules.speeding_kmh)
        if first.size == 0:
            continue
        held = run_seconds(track, first, last)
        for a, b, seconds in zip(first, last, held, strict=True):
            if seconds < rules.speeding_seconds or not day.in_window(float(track.t[a])):
                continue
            top = float(track.speed_kmh[a:b + 1].max())
            yield day.finding(
                FindingKind.speeding,
                msg("{plate} drove above {limit:.0f} km/h for {seconds:.0f} s from {moment} (local time), up to "
                    "{top:.0f} km/h.", plate=day.vehicle.plate, limit=rules.speeding_kmh, seconds=seconds,
                    moment=_local(track.t[a], day.rules.calendar), top=top),
                float(track.t[a]),
                {"source": "track", "start": instant(track.t[a]), "seconds": round(float(seconds)),
                 "max_speed_kmh": round(top, 1), "limit_kmh": rules.speeding_kmh,
                 "min_seconds": rules.speeding_seconds,
                 "track": track.excerpt(int(a), min(int(b) + 1, len(track) - 1))},
            )


def idling(days: Iterable[VehicleDay]) -> Iterator[Finding]:
    """Spells with the ignition on and the vehicle still of at least ``idling_minutes`` (terminals that report
    the ignition only)."""
    for day in days:
        rules = day.rules.tracks
        track = day.track
        if not (track.acc == ACC_ON).any():
            continue
        for spell in idle_spells(track, rules.drive_rules(), rules.idling_minutes * 60, day.moving):
            if not day.in_window(spell.start):
                continue
            where = (float(track.lat[spell.first]), float(track.lon[spell.first]))
            yield day.finding(
                FindingKind.idling,
                msg("{plate} idled {minutes:.0f} min with the ignition on from {moment} (local time).",
                    plate=day.vehicle.plate, minutes=spell.seconds / 60,
                    moment=_local(spell.start, day.rules.calendar)),
                spell.start,
                {"source": "track", **_spell_evidence(day, spell), "where": _place(*where),
                 "threshold_minutes": rules.idling_minutes},
            )


# --- km of a trip by its track (the overdriven rule) ---------------------------------------------------------------


def trip_km(days: Iterable[VehicleDay]) -> dict[int, tuple[float, str, float]]:
    """Completed trips' km by the track, where it covers them: (km, "mileage" or "track", km by the fixes).

    A track covers a trip when its fixes reach within ``offline_minutes`` of the start and the completion with no
    silence that long between (the fixes' km would miss what the silence hid), or when the terminal's odometer
    agrees with the fixes at both ends (it counts through a silence)."""
    out: dict[int, tuple[float, str, float]] = {}
    for day in days:
        limit = day.rules.tracks.offline_minutes * 60
        for booking, trip in day.bookings:
            if trip.status is not TripStatus.completed or trip.started_at is None or trip.completed_at is None:
                continue
            sl = day.track.window(booking.start, booking.end)
            if sl.stop - sl.start < 2:
                continue
            km, source, track_km = km_over(day.track, sl.start, sl.stop - 1, day.moving)
            whole = not gaps(day.track, limit, booking.start, booking.end)
            if source == "mileage" or whole:
                out[trip.id] = (km, source, track_km)
    return out


TRACK_KINDS = (FindingKind.unscheduled_drive, FindingKind.detour, FindingKind.geofence_entry, FindingKind.parking,
               FindingKind.terminal_offline, FindingKind.speeding, FindingKind.idling)

__all__ = ["TRACK_KINDS", "Entry", "VehicleDay", "detour", "detour_corridor_m", "distance_to_route", "entries",
           "geofence_entry", "idling", "inside_fraction", "parking", "speeding", "terminal_offline", "trip_km",
           "unscheduled_drive", "working_mask"]
