"""Reads of the positions for the API: a vehicle's track over a period and a trip's track beside its planned route,
as GeoJSON, and every vehicle's newest position for the live map. Read only; scoped by the caller's `Scope`
(`fleet.scopes`): a vehicle or trip outside it is unknown (404), a list leaves it out.

A track is a GeoJSON Feature (RFC 7946): coordinates ``[lon, lat]`` in WGS-84 as the terminals sent them, in device
time order, one LineString, or a MultiLineString cut where no fix came for longer than ``gap`` (a tunnel, an
unplugged terminal: a straight line across the gap would be a road nobody drove). The time of each point is in
``properties.coordTimes`` (the convention of Mapbox's togeojson, which GPX/KML converters and Leaflet plug-ins read):
a list per LineString, a list of lists per MultiLineString.

A long span is simplified (Douglas–Peucker, GEOS's through shapely) to at most ``max_points`` points: the tolerance
is the smallest of `TOLERANCES_M` that gets there, said in ``tolerance_m``. Each part keeps its first and last fix.
The km are those of every fix in the window, not of the simplified line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import clock, scopes, tracks
from fleet.enums import Category, PositionSource, VehicleStatus
from fleet.errors import InvalidInput
from fleet.i18n import msg
from fleet.models import Agency, Assignment, LatestPosition, Trip, Vehicle
from fleet.scopes import Scope
from fleet.usage_audit import evidence

MAX_SPAN = timedelta(days=31)  # a month: what an audit of a vehicle's use looks at; beyond, ask month by month
DEFAULT_MAX_POINTS = 5000  # what a browser draws at once without effort; a day at 10 s is 8,640 fixes
GAP = timedelta(minutes=10)  # no fix for longer: the track is cut (terminals report every 10-60 s while driving)
# Parked with the ignition off, a JT/T 808 terminal reports every few minutes (its 休眠汇报间隔): silent for longer
# than this, it is shown offline.
ONLINE_WITHIN = timedelta(minutes=5)
# Tried in turn until the simplified track has at most max_points points: round metres a user can read.
TOLERANCES_M = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)
# A poll with ``since`` also reads what was received a little before it: a batch stamped just before the previous
# poll read but committed just after (the ingest's group commit) would otherwise never be seen.
SINCE_OVERLAP = timedelta(seconds=10)

Floats = npt.NDArray[np.float64]


# --- pure: parts, distances, simplification ---------------------------------------------------------------------


def split_at_gaps(times: Sequence[datetime], gap: timedelta = GAP) -> list[slice]:
    """The runs of fixes with no silence longer than ``gap`` between neighbours, as slices of ``times`` (sorted)."""
    if not times:
        return []
    cuts = [i for i in range(1, len(times)) if times[i] - times[i - 1] > gap]
    bounds = [0, *cuts, len(times)]
    return [slice(a, b) for a, b in pairwise(bounds)]


def path_km(lon: Floats, lat: Floats) -> float:
    """The length of a path through the points, great-circle legs (`fleet.tracks.haversine_m`), in km."""
    if len(lon) < 2:
        return 0.0
    return float(np.sum(tracks.haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]))) / 1000


def simplify(parts: Sequence[tuple[Floats, Floats]], max_points: int) -> tuple[list[list[int]], float | None]:
    """The indices (into each part) of the points kept so that all parts hold at most ``max_points`` together,
    and the tolerance in metres used (None: nothing had to go). Each part keeps its first and last point, so a
    part of one or two points is kept whole; past the largest tolerance, what is left is kept as it is."""
    everything = [list(range(len(lon))) for lon, _ in parts]
    if sum(len(kept) for kept in everything) <= max_points:
        return everything, None
    lat0 = float(np.mean(np.concatenate([lat for _, lat in parts])))
    # Equirectangular metres (`fleet.tracks.plane`): a tolerance in metres holds over a city or a province.
    planes = [tracks.plane(lat, lon, lat0) for lon, lat in parts]
    kept: list[list[int]] = everything
    for tolerance in TOLERANCES_M:
        kept = [tracks.douglas_peucker(x, y, tolerance).tolist() for x, y in planes]
        if sum(len(k) for k in kept) <= max_points:
            return kept, tolerance
    return kept, TOLERANCES_M[-1]


# --- the track of a vehicle ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fixes:
    times: list[datetime]
    lon: Floats
    lat: Floats


def _fixes(session: Session, vehicle_id: int, start: datetime, end: datetime) -> _Fixes:
    """The vehicle's fixes in [start, end) that a track can believe, read as the audit reads them (one loader,
    `fleet.usage_audit.evidence.tracks`, and one filter, `fleet.tracks.plausible`): a fix the terminal marks
    unpositioned, or a jump to a stale position, is neither drawn nor counted."""
    found = evidence.tracks(session, start, end, [vehicle_id]).get(vehicle_id)
    if found is None:
        return _Fixes([], np.zeros(0), np.zeros(0))
    track = tracks.plausible(found)
    return _Fixes([tracks.instant(t) for t in track.t], track.lon, track.lat)


def track_feature(vehicle: Vehicle, fixes: _Fixes, *, start: datetime, end: datetime, max_points: int,
                  gap: timedelta = GAP) -> dict[str, Any]:
    """The Feature of a vehicle's fixes (role ``track``); its geometry is null when there is none."""
    slices = split_at_gaps(fixes.times, gap)
    parts = [(fixes.lon[s], fixes.lat[s]) for s in slices]
    kept, tolerance = simplify(parts, max_points)
    lines: list[list[list[float]]] = []
    times: list[list[datetime]] = []
    for s, (lon, lat), indices in zip(slices, parts, kept, strict=True):
        part_times = fixes.times[s]
        if len(indices) == 1:  # a lone fix between two gaps: a LineString needs two positions, so it is doubled
            indices = [indices[0], indices[0]]
        lines.append([[round(float(lon[i]), 7), round(float(lat[i]), 7)] for i in indices])
        times.append([part_times[i] for i in indices])
    geometry: dict[str, Any] | None
    coord_times: list[datetime] | list[list[datetime]] | None
    if not lines:
        geometry, coord_times = None, None
    elif len(lines) == 1:
        geometry, coord_times = {"type": "LineString", "coordinates": lines[0]}, times[0]
    else:
        geometry, coord_times = {"type": "MultiLineString", "coordinates": lines}, times
    return {"type": "Feature", "geometry": geometry, "properties": {
        "role": "track", "vehicle_id": vehicle.id, "plate": vehicle.plate, "start": start, "end": end,
        "first_fix": fixes.times[0] if fixes.times else None, "last_fix": fixes.times[-1] if fixes.times else None,
        "fixes": len(fixes.times), "points": sum(len(line) for line in lines), "parts": len(lines),
        "km": round(sum(path_km(lon, lat) for lon, lat in parts), 3), "gap_minutes": gap.total_seconds() / 60,
        "simplified": tolerance is not None, "tolerance_m": tolerance, "coordTimes": coord_times}}


def check_span(start: datetime, end: datetime, *, field: str = "end") -> None:
    """Refuse (naming ``field``) a window that is empty, reversed or longer than `MAX_SPAN`."""
    if end <= start:
        raise InvalidInput(msg("field '{field}': is not after start", field=field), field=field)
    if end - start > MAX_SPAN:
        raise InvalidInput(msg("field '{field}': a track spans at most {days} days; ask for it month by month",
                               field=field, days=MAX_SPAN.days), field=field)


def vehicle_track(session: Session, scope: Scope, vehicle_id: int, start: datetime, end: datetime, *,
                  max_points: int = DEFAULT_MAX_POINTS, gap: timedelta = GAP) -> dict[str, Any]:
    """A vehicle's fixes in [start, end) as a FeatureCollection of one track Feature. 404 outside the scope; 422
    naming ``end`` for a window that is empty or longer than `MAX_SPAN`."""
    check_span(start, end)
    vehicle = scopes.vehicle(session, scope, vehicle_id)
    feature = track_feature(vehicle, _fixes(session, vehicle.id, start, end), start=start, end=end,
                            max_points=max_points, gap=gap)
    return {"type": "FeatureCollection", "features": [feature]}


# --- the track of a trip -----------------------------------------------------------------------------------------


def _holding(session: Session, trip: Trip) -> Assignment | None:
    """The assignment that holds (or held) the trip's vehicle: the active one, else the last one made."""
    if trip.assignment is not None:
        return trip.assignment
    return session.scalar(sa.select(Assignment).where(Assignment.trip_id == trip.id)
                          .order_by(Assignment.created_at.desc(), Assignment.id.desc()).limit(1))


def trip_window(trip: Trip, holding: Assignment | None, now: datetime) -> tuple[datetime, datetime] | None:
    """From the trip's pickup (出车, else the assignment's start) to its end (收车; under way: now; not started: the
    assignment's end); None without a vehicle."""
    if holding is None:
        return None
    start = trip.started_at or holding.starts_at
    if trip.completed_at is not None:
        end = trip.completed_at
    elif trip.started_at is not None:
        end = max(now, start + timedelta(seconds=1))
    else:
        end = holding.ends_at
    return start, min(end, start + MAX_SPAN)  # a trip left open for weeks: its first month


def planned_feature(trip: Trip, vehicle: Vehicle | None) -> dict[str, Any]:
    """The planned route (role ``planned``): the vehicle's home (when known) → pickup → drop-off, straight legs;
    the platform stores no road geometry, only the places and the planned km."""
    stops: list[dict[str, Any]] = []
    if vehicle is not None and vehicle.home_lat is not None and vehicle.home_lon is not None:
        stops.append({"kind": "home", "lon": vehicle.home_lon, "lat": vehicle.home_lat, "address": None})
    stops.append({"kind": "pickup", "lon": trip.pickup_lon, "lat": trip.pickup_lat, "address": trip.pickup_address})
    stops.append({"kind": "dropoff", "lon": trip.dropoff_lon, "lat": trip.dropoff_lat,
                  "address": trip.dropoff_address})
    return {"type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[s["lon"], s["lat"]] for s in stops]},
            "properties": {"role": "planned", "trip_id": trip.id, "planned_km": round(trip.planned_km, 3),
                           "stops": [{"kind": s["kind"], "address": s["address"]} for s in stops]}}


def trip_track(session: Session, scope: Scope, trip_id: int, *, max_points: int = DEFAULT_MAX_POINTS,
               gap: timedelta = GAP) -> dict[str, Any]:
    """A trip's track (the fixes of its vehicle over the trip, role ``track``; absent while it has no vehicle)
    beside its planned route (role ``planned``), as a FeatureCollection. 404 outside the scope (the trip's agency's,
    whoever holds the vehicle: it is the trip that is read)."""
    trip = scopes.trip(session, scope, trip_id)
    holding = _holding(session, trip)
    features: list[dict[str, Any]] = []
    window = trip_window(trip, holding, clock.now())
    if holding is not None and window is not None:
        start, end = window
        feature = track_feature(holding.vehicle, _fixes(session, holding.vehicle_id, start, end), start=start,
                                end=end, max_points=max_points, gap=gap)
        feature["properties"]["trip_id"] = trip.id
        features.append(feature)
    features.append(planned_feature(trip, holding.vehicle if holding is not None else None))
    return {"type": "FeatureCollection", "features": features}


# --- the live map ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LivePosition:
    """A vehicle's newest fix (by device time) and how fresh it is."""

    vehicle_id: int
    plate: str
    category: Category
    agency: str
    status: VehicleStatus
    lat: float
    lon: float
    speed_kmh: float
    course: int | None
    acc: bool | None
    alarm: int
    source: PositionSource
    fixed_at: datetime
    received_at: datetime
    age_s: float  # now - fixed_at
    online: bool  # a fix received within ONLINE_WITHIN


def latest_positions(session: Session, scope: Scope, since: datetime | None = None,
                     now: datetime | None = None) -> list[LivePosition]:
    """Every vehicle of the scope that has a fix and is on the books (not disposed of), with its newest fix, by
    plate; with ``since``, only those whose newest fix was received at or after it (what changed since a poll; a
    few seconds before it too, `SINCE_OVERLAP`, so that nothing committed late is missed)."""
    moment = now or clock.now()
    query = (sa.select(LatestPosition, Vehicle.plate, Vehicle.category, Vehicle.status, Agency.code)
             .join(Vehicle, Vehicle.id == LatestPosition.vehicle_id).join(Agency, Agency.id == Vehicle.agency_id)
             .where(scope.agency_filter(Vehicle.agency_id), Vehicle.status != VehicleStatus.disposed)
             .order_by(Vehicle.plate))
    if since is not None:
        query = query.where(LatestPosition.received_at >= since - SINCE_OVERLAP)
    found = []
    for latest, plate, category, status, agency in session.execute(query):
        found.append(LivePosition(
            vehicle_id=latest.vehicle_id, plate=plate, category=category, agency=agency, status=status,
            lat=latest.lat, lon=latest.lon, speed_kmh=latest.speed_kmh, course=latest.course, acc=latest.acc,
            alarm=latest.alarm, source=latest.source, fixed_at=latest.fixed_at, received_at=latest.received_at,
            age_s=round(max(0.0, (moment - latest.fixed_at).total_seconds()), 1),
            online=moment - latest.received_at <= ONLINE_WITHIN))
    return found
