"""A terminal simulator: many JT/T 808 terminals over real TCP (2013 and 2019 headers) and some OsmAnd / Traccar
Client devices over HTTP, driving a dispatched day's routes at road speeds, with misuse planted on request.

Two modes:

* **a day** (:func:`read_day`, :func:`plan_day`, :func:`drive`; :func:`simulate_day` runs all three): each vehicle
  with assignments on the day leaves its yard in time for each pickup, drives to the drop-off, waits out the dwell
  and drives back (or straight on to its next pickup when the yard round trip does not fit), reporting every
  ``interval_s`` seconds of simulated time while the ignition (ACC) is on and every ``parked_interval_s`` while
  parked. Device times are the day's own planned times; wall time is simulated time divided by ``speedup`` (a day
  in a minute at 1440). Each terminal registers (0x0100) with the terminal number the registry records for its
  vehicle (or, registered in an earlier run, authenticates with the code it kept: ``Report.codes``), authenticates
  (0x0102) and counts a fix acknowledged only when the platform's 0x8001 for it arrives (resent on timeout, on the
  same serial). One vehicle loses its signal for ten minutes and back-fills the fixes
  afterwards with 0x0704 type 1, shuffled. The misuse planted (:class:`Misuse`) is reported with its vehicle and
  time window, so that a test or the demo can check that the usage audit finds each from the track.
* **load** (:func:`load`): ``N`` terminals, each sending a fix every ``T`` seconds of wall time for ``D`` seconds,
  timing each acknowledgement: the ingest benchmark's client.

Device times are never ahead of the platform's clock (the ingest refuses such fixes): simulate a day that is over,
or, in the same process as the ingest, run under ``fleet.clock.travel``.

Roads are not modelled: a leg is the straight line between its ends with a small lateral jitter, travelled at road
speed over road km (geodesic km x the road factor 1.3, the estimate bookings and the engine use), so a leg takes the
time the road would and the odometer (the 0x01 mileage extra, OsmAnd's ``odometer``) counts road km.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from enum import StrEnum
from itertools import pairwise

import httpx
import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch.travel import Geodesic
from fleet.clock import CHINA, local_moment
from fleet.models import Assignment, Trip, Vehicle
from fleet.usage_audit import AuditRules, CircleGeofence, Geofence, GeofenceKind, PolygonGeofence
from fleet.usage_audit.config import TrackRules
from fleet.usage_audit.track_checks import detour_corridor_m, distance_to_route
from telematics import osmand
from telematics.jt808 import codec

LatLon = tuple[float, float]

ROAD_FACTOR = 1.3  # road km per geodesic km, as bookings estimate planned_km
ALARM_POWER_CUT = 1 << 8  # JT/T 808 alarm bit 8: 主电源掉电 (main power cut: the terminal unplugged)
EXTRA_MILEAGE = 0x01

_GEODESIC = Geodesic(road_factor=1.0)
_DWORD = struct.Struct(">I")


class Misuse(StrEnum):
    """What can be planted. ``unbooked-sunday``: a drive without any booking to a geofenced scenic spot, on a day
    off at 10:00 or else in the evening (off hours); ``detour``: one assignment driven by way of a point kilometres
    off its route; ``unplugged``: the terminal's power cut alarm, then silence for the rest of the trip; ``speeding``
    and ``idling``: minutes above the speed limit, and the engine left running while parked."""

    unbooked = "unbooked-sunday"
    detour = "detour"
    unplugged = "unplugged"
    speeding = "speeding"
    idling = "idling"


class Protocol(StrEnum):
    jt808_2013 = "jt808-2013"
    jt808_2019 = "jt808-2019"
    osmand = "osmand"


# --- What is driven ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Booking:
    """One active assignment of a vehicle on the day, with its trip's ends."""

    trip_id: int
    starts_at: datetime  # at the pickup (fleet.assignments.occupied)
    ends_at: datetime  # drop-off plus dwell
    pickup: LatLon
    dropoff: LatLon
    planned_km: float
    started: bool  # the trip was started (a driver's odometer reading): it is "in use" for the audit too
    # When the driver recorded the start and the completion, if they did: the vehicle sets off from the pickup no
    # earlier than the one and leaves the drop-off no earlier than the other (the trip is closed there).
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def sets_off(self) -> datetime:
        return max(self.starts_at, self.started_at or self.starts_at)

    @property
    def released(self) -> datetime:
        return max(self.ends_at, self.completed_at or self.ends_at)


@dataclass(frozen=True, slots=True)
class VehicleDay:
    vehicle_id: int
    plate: str
    terminal: str  # the terminal number the registry records (Vehicle.terminal_id)
    home: LatLon
    odometer_km: float
    bookings: tuple[Booking, ...]


def read_day(session: Session, day: date, vehicle_ids: Collection[int] | None = None) -> tuple[list[VehicleDay], int]:
    """Each vehicle with a terminal number and active assignments starting on ``day`` (China time), and how many
    vehicles with assignments have no terminal number (they cannot report)."""
    start, end = local_moment(day), local_moment(day + timedelta(days=1))
    query = (sa.select(Assignment, Trip, Vehicle).join(Trip, Trip.id == Assignment.trip_id)
             .join(Vehicle, Vehicle.id == Assignment.vehicle_id)
             .where(Assignment.active, Assignment.starts_at >= start, Assignment.starts_at < end)
             .order_by(Assignment.vehicle_id, Assignment.starts_at))
    if vehicle_ids is not None:
        query = query.where(Assignment.vehicle_id.in_(sorted(vehicle_ids)))
    held: dict[int, tuple[Vehicle, list[Booking]]] = {}
    for assignment, trip, vehicle in session.execute(query):
        booking = Booking(trip.id, assignment.starts_at, assignment.ends_at, (trip.pickup_lat, trip.pickup_lon),
                          (trip.dropoff_lat, trip.dropoff_lon), trip.planned_km, trip.started_at is not None,
                          trip.started_at, trip.completed_at)
        held.setdefault(vehicle.id, (vehicle, []))[1].append(booking)
    days: list[VehicleDay] = []
    without = 0
    for vehicle, bookings in held.values():
        if not vehicle.terminal_id:
            without += 1
            continue
        home = ((vehicle.home_lat, vehicle.home_lon) if vehicle.home_lat is not None and vehicle.home_lon is not None
                else bookings[0].pickup)
        days.append(VehicleDay(vehicle.id, vehicle.plate, vehicle.terminal_id, home, float(vehicle.odometer_km),
                               tuple(bookings)))
    return days, without


@dataclass(frozen=True, slots=True)
class PlannedFix:
    at: datetime  # device time, whole seconds, aware
    lat: float
    lon: float
    speed_kmh: float
    course: int
    acc: bool
    mileage_km: float
    alarm: int = 0


@dataclass(frozen=True, slots=True)
class Item:
    """What a terminal sends at one moment: one fix, or a back-fill batch (0x0704 type 1) of fixes lost earlier."""

    due: datetime  # the device time it is sent at
    fixes: tuple[PlannedFix, ...]
    backfill: bool = False


@dataclass(frozen=True)
class Script:
    """One terminal's day: who it is, and what it sends in order."""

    vehicle_id: int
    plate: str
    terminal: str
    protocol: Protocol
    items: tuple[Item, ...]

    @property
    def fixes(self) -> int:
        return sum(len(item.fixes) for item in self.items)


@dataclass(frozen=True)
class Planted:
    """One misuse planted: what, by which vehicle, when (device time), and on which trip if any."""

    kind: Misuse
    vehicle_id: int
    plate: str
    start: datetime
    end: datetime
    trip_id: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class SignalLoss:
    """The signal loss planted (not a misuse): the fixes in [start, end) reach the platform afterwards, back-filled."""

    vehicle_id: int
    plate: str
    start: datetime
    end: datetime
    fixes: int


@dataclass(frozen=True)
class DayPlan:
    day: date
    scripts: tuple[Script, ...]
    planted: tuple[Planted, ...]
    backfill: SignalLoss | None
    skipped: tuple[str, ...]  # misuse asked for that found no vehicle to plant it on, with why

    @property
    def first(self) -> datetime:
        return min(s.items[0].due for s in self.scripts if s.items)

    @property
    def last(self) -> datetime:
        """The latest device time of any fix."""
        return max(fix.at for s in self.scripts for item in s.items for fix in item.fixes)

    @property
    def fixes(self) -> int:
        return sum(s.fixes for s in self.scripts)


# --- Geometry ------------------------------------------------------------------------------------------------------


def _km(a: LatLon, b: LatLon) -> float:
    return _GEODESIC.pair_km(a, b)


def _offset(point: LatLon, north_m: float, east_m: float) -> LatLon:
    lat, lon = point
    return lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def _course(a: LatLon, b: LatLon) -> int:
    north = b[0] - a[0]
    east = (b[1] - a[1]) * math.cos(math.radians(a[0]))
    if north == 0 and east == 0:
        return 0
    return round(math.degrees(math.atan2(east, north))) % 360


def _moved(point: LatLon, metres: float, course: float) -> LatLon:
    """``point`` moved ``metres`` towards ``course`` (degrees from north)."""
    heading = math.radians(course)
    return _offset(point, metres * math.cos(heading), metres * math.sin(heading))


def _beside(a: LatLon, b: LatLon, fraction: float, off_m: float) -> LatLon:
    """The point ``fraction`` of the way from a to b, moved ``off_m`` metres to the left of the direction a->b."""
    mid = (a[0] + (b[0] - a[0]) * fraction, a[1] + (b[1] - a[1]) * fraction)
    return _moved(mid, off_m, _course(a, b) - 90)


def inside_point(fence: Geofence) -> LatLon:
    """A point well inside a geofence: a circle's centre, a polygon's vertex average (or a vertex nudged inwards)."""
    if isinstance(fence, CircleGeofence):
        return fence.lat, fence.lon
    assert isinstance(fence, PolygonGeofence)
    n = len(fence.vertices)
    centre = (sum(v[0] for v in fence.vertices) / n, sum(v[1] for v in fence.vertices) / n)
    if fence.contains(*centre):
        return centre
    for vertex in fence.vertices:  # a concave polygon: walk from a vertex towards the average until inside
        for step in (0.1, 0.2, 0.3):
            probe = (vertex[0] + (centre[0] - vertex[0]) * step, vertex[1] + (centre[1] - vertex[1]) * step)
            if fence.contains(*probe):
                return probe
    raise ValueError(f"no inside point found for geofence {fence.name}")


# --- One vehicle's day, fix by fix ---------------------------------------------------------------------------------


@dataclass
class _Track:
    """A vehicle's fixes as it is driven: time, place and odometer move forward together."""

    rng: random.Random
    at: datetime
    where: LatLon
    odometer_km: float
    interval_s: int
    parked_interval_s: int
    fixes: list[PlannedFix] = field(default_factory=list)

    def emit(self, at: datetime, where: LatLon, speed: float, course: int, acc: bool) -> None:
        at = at.replace(microsecond=0)
        if self.fixes and at <= self.fixes[-1].at:
            return  # one fix per second at most, strictly in time order
        self.fixes.append(PlannedFix(at, round(where[0], 6), round(where[1], 6), round(speed, 1), course, acc,
                                     round(self.odometer_km, 1)))

    def park(self, until: datetime, *, acc: bool = False) -> None:
        """Stand still until ``until``, reporting every parked interval (every driving interval with the engine on:
        an idling terminal reports as a running one does)."""
        step = timedelta(seconds=self.interval_s if acc else self.parked_interval_s)
        course = self.fixes[-1].course if self.fixes else 0
        moment = self.at
        while moment < until:
            self.emit(moment, self.where, 0.0, course, acc)
            moment += step
        self.at = max(self.at, until)

    def drive(self, path: Sequence[LatLon], *, cruise: tuple[float, float] = (30.0, 60.0),
              fast: tuple[float, float, float] | None = None) -> tuple[datetime, datetime] | None:
        """Drive from here through ``path`` (its last point the destination). ``fast`` = (from, to, km/h): drive at
        that speed between those fractions of the way. Returns the window the fast stretch was driven in."""
        points = [self.where, *path]
        lengths = [_km(a, b) for a, b in pairwise(points)]
        total = sum(lengths)
        if total < 0.02:
            self.where = points[-1]
            return None
        speed_mean = self.rng.uniform(*cruise)
        done = 0.0  # geodesic km along the path
        moment = self.at
        fast_window: list[datetime] = []
        self.emit(moment, self.where, 0.0, _course(points[0], points[1]), True)  # ignition on, setting off
        jitter = self.rng.uniform(-1, 1) * min(150.0, total * 40)  # metres off the straight line, constant per leg
        while done < total:
            fraction = done / total
            if fast is not None and fast[0] <= fraction < fast[1]:
                speed = fast[2] + self.rng.uniform(-3, 3)
                fast_window.append(moment)
            else:
                speed = min(75.0, max(8.0, self.rng.gauss(speed_mean, speed_mean * 0.15)))
                # slower in the first and last 300 m (setting off, parking)
                speed = min(speed, 15.0 + 100.0 * min(done, total - done))
            step_km = speed * self.interval_s / 3600.0 / ROAD_FACTOR
            if done + step_km >= total:
                seconds = (total - done) * ROAD_FACTOR / speed * 3600.0
                self.odometer_km += (total - done) * ROAD_FACTOR
                moment += timedelta(seconds=max(1.0, seconds))
                done = total
                break
            done += step_km
            self.odometer_km += step_km * ROAD_FACTOR
            moment += timedelta(seconds=self.interval_s)
            here, course = self._along(points, lengths, done)
            wobble = math.sin(math.pi * done / total) * jitter  # lateral offset, zero at both ends
            here = _moved(here, wobble, course - 90)
            self.emit(moment, here, speed, course, True)
        self.where = points[-1]
        self.at = moment
        self.emit(moment, self.where, 0.0, _course(points[-2], points[-1]), True)  # arrived, engine still on
        self.at = moment + timedelta(seconds=self.interval_s)
        if fast_window:
            return fast_window[0], fast_window[-1] + timedelta(seconds=self.interval_s)
        return None

    @staticmethod
    def _along(points: Sequence[LatLon], lengths: Sequence[float], done: float) -> tuple[LatLon, int]:
        """The point ``done`` geodesic km along the path, and the heading there."""
        for (a, b), length in zip(pairwise(points), lengths, strict=True):
            if done <= length:
                f = 0.0 if length == 0 else done / length
                return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f), _course(a, b)
            done -= length
        return points[-1], _course(points[-2], points[-1])


def _leg_time(a: LatLon, b: LatLon, speed_kmh: float = 35.0) -> timedelta:
    """A cautious estimate of a leg's driving time, to leave in time (the leg is driven at 30-60 km/h)."""
    return timedelta(hours=_km(a, b) * ROAD_FACTOR / speed_kmh)


@dataclass(frozen=True)
class _Excursion:
    """An unbooked drive: leave the yard at ``start``, park at ``target`` for ``stay``, drive back."""

    start: datetime
    target: LatLon
    stay: timedelta
    name: str


@dataclass(frozen=True)
class _Orders:
    """The misuse one vehicle carries out, by booking index (or the unbooked excursion)."""

    detour: int | None = None
    unplugged: int | None = None
    speeding: int | None = None
    idling: int | None = None
    excursion: _Excursion | None = None
    signal_loss: int | None = None


@dataclass
class _Outcome:
    fixes: list[PlannedFix]
    planted: list[Planted]
    silence: tuple[datetime, datetime] | None = None
    loss: tuple[datetime, datetime] | None = None


def _drive_vehicle(vehicle: VehicleDay, orders: _Orders, rules: _Thresholds, rng: random.Random, *,
                   interval_s: int, parked_interval_s: int, lead: timedelta) -> _Outcome:
    events: list[tuple[datetime, Booking | _Excursion]] = [(b.starts_at, b) for b in vehicle.bookings]
    if orders.excursion is not None:
        events.append((orders.excursion.start, orders.excursion))
    events.sort(key=lambda e: e[0])
    first = events[0]
    first_leave = (first[0] - _leg_time(vehicle.home, first[1].pickup) if isinstance(first[1], Booking)
                   else first[0])
    track = _Track(rng, (first_leave - lead).replace(microsecond=0), vehicle.home, vehicle.odometer_km, interval_s,
                   parked_interval_s)
    outcome = _Outcome(track.fixes, [])
    for index, (_, event) in enumerate(events):
        following = events[index + 1][1] if index + 1 < len(events) else None
        if isinstance(event, _Excursion):
            track.park(event.start)
            leave = track.at
            track.drive([event.target])
            track.park(track.at + event.stay)
            track.drive([vehicle.home])
            outcome.planted.append(Planted(Misuse.unbooked, vehicle.vehicle_id, vehicle.plate, leave, track.at,
                                           None, f"unbooked drive to {event.name}, parked there "
                                                 f"{event.stay.total_seconds() / 60:.0f} min"))
            continue
        k = vehicle.bookings.index(event)
        if track.where != event.pickup:
            track.park(event.starts_at - _leg_time(track.where, event.pickup) - timedelta(minutes=3))
            track.drive([event.pickup])
        track.park(event.sets_off)  # waiting for the passengers
        path: list[LatLon] = [event.dropoff]
        if k == orders.detour:
            off, aside = _detour(vehicle.home, event, rules.tracks)
            path = [aside, event.dropoff]
        fast = (0.25, 0.85, rules.speed_limit_kmh + 20.0) if k == orders.speeding else None
        before, leave = track.odometer_km, track.at
        window = track.drive(path, fast=fast)
        if k == orders.detour:
            straight = _km(event.pickup, event.dropoff) * ROAD_FACTOR
            outcome.planted.append(Planted(
                Misuse.detour, vehicle.vehicle_id, vehicle.plate, leave, track.at, event.trip_id,
                f"by way of a point {off / 1000:.1f} km off the route: {track.odometer_km - before:.1f} km driven "
                f"against {straight:.1f} planned"))
        if k == orders.speeding and window is not None:
            outcome.planted.append(Planted(
                Misuse.speeding, vehicle.vehicle_id, vehicle.plate, window[0], window[1], event.trip_id,
                f"{rules.speed_limit_kmh + 20:.0f} km/h for {(window[1] - window[0]).total_seconds() / 60:.0f} min "
                f"(limit {rules.speed_limit_kmh:.0f})"))
        if k == orders.signal_loss:
            # up to ten minutes without signal in the middle of the leg
            middle, half = leave + (track.at - leave) / 2, min(timedelta(minutes=5), (track.at - leave) * 0.3)
            outcome.loss = (middle - half, middle + half)
        if k == orders.unplugged:
            # the power cut a third of the way, silent until the vehicle is parked again after the assignment
            cut = leave + (track.at - leave) / 3
            outcome.silence = (cut, event.released)  # completed below, once the leg after the dwell is known
        if k == orders.idling:
            idle_from = track.at
            track.park(max(event.released, track.at + rules.idle_minutes + timedelta(minutes=15)), acc=True)
            outcome.planted.append(Planted(
                Misuse.idling, vehicle.vehicle_id, vehicle.plate, idle_from, track.at, event.trip_id,
                f"engine on, standing, {(track.at - idle_from).total_seconds() / 60:.0f} min at the drop-off"))
        else:
            track.park(event.released)  # the dwell, until the trip is closed
        if isinstance(following, Booking) and track.at + _leg_time(track.where, vehicle.home) + _leg_time(
                vehicle.home, following.pickup) + timedelta(minutes=20) > following.starts_at:
            if k == orders.unplugged and outcome.silence is not None:
                outcome.silence = (outcome.silence[0], track.at)
            continue  # no time for the yard: straight on to the next pickup
        track.drive([vehicle.home])
        if k == orders.unplugged and outcome.silence is not None:
            outcome.silence = (outcome.silence[0], track.at)
    track.park(track.at + lead)
    return outcome


@dataclass(frozen=True)
class _Thresholds:
    speed_limit_kmh: float
    idle_minutes: timedelta
    fence: Geofence | None
    tracks: TrackRules


def _detour(home: LatLon, booking: Booking, tracks: TrackRules) -> tuple[float, LatLon]:
    """How far off, and the point beside the middle of the trip it is driven by way of: at least 4 km, or 0.8 m
    per metre of the trip, and always half as far again beyond the audit's corridor around home -> pickup ->
    drop-off (a long home leg widens that corridor), on the side away from the home leg."""
    route = [home, booking.pickup, booking.dropoff]
    corridor = detour_corridor_m(tracks, route)
    off = max(4000.0, 800.0 * _km(booking.pickup, booking.dropoff))
    for _ in range(8):
        for fraction in (0.5, -0.5):  # left of pickup -> drop-off, then right (the left of drop-off -> pickup)
            a, b = (booking.pickup, booking.dropoff) if fraction > 0 else (booking.dropoff, booking.pickup)
            point = _beside(a, b, 0.5, off)
            if float(distance_to_route(np.array([point[0]]), np.array([point[1]]), route)[0]) > 1.5 * corridor:
                return off, point
        off *= 1.5
    return off, point


def _thresholds(rules: AuditRules) -> _Thresholds:
    fences = sorted(rules.geofences, key=lambda f: f.kind is not GeofenceKind.scenic_area)
    return _Thresholds(rules.tracks.speeding_kmh, timedelta(minutes=rules.tracks.idling_minutes),
                       fences[0] if fences else None, rules.tracks)


def _free(vehicle: VehicleDay, start: datetime, end: datetime) -> bool:
    """No assignment of the vehicle, with its drives there and back, near [start, end)."""
    margin = timedelta(hours=1, minutes=30)
    return all(b.released + margin <= start or b.starts_at - margin >= end for b in vehicle.bookings)


def _leg_minutes(booking: Booking) -> float:
    return _km(booking.pickup, booking.dropoff) * ROAD_FACTOR / 45.0 * 60.0


def plan_day(days: Sequence[VehicleDay], day: date, rules: AuditRules, *, plant: Collection[Misuse] = (),
             seed: int = 15, interval_s: int = 10, parked_interval_s: int = 300, osmand_share: float = 0.125,
             signal_loss: bool = True, lead: timedelta = timedelta(minutes=30)) -> DayPlan:
    """Every terminal's script for ``day``, with ``plant`` planted on distinct vehicles (pure: no I/O)."""
    rng = random.Random(seed)
    thresholds = _thresholds(rules)
    ordered = sorted(days, key=lambda v: v.vehicle_id)
    protocols: dict[int, Protocol] = {}
    for index, vehicle in enumerate(ordered):
        if len(vehicle.terminal.lstrip("0")) > 12:  # a 2013 header carries 12 digits
            protocols[vehicle.vehicle_id] = Protocol.jt808_2019
        elif osmand_share and index % round(1 / osmand_share) == round(1 / osmand_share) - 1:
            protocols[vehicle.vehicle_id] = Protocol.osmand
        else:
            protocols[vehicle.vehicle_id] = Protocol.jt808_2019 if index % 2 else Protocol.jt808_2013
    orders: dict[int, _Orders] = {v.vehicle_id: _Orders() for v in ordered}
    used: set[int] = set()
    skipped: list[str] = []

    def pick(kind: str, fits: Callable[[VehicleDay, Booking], bool], *,
             jt808: bool = False) -> tuple[VehicleDay, int] | None:
        # Started trips first: those the audit also sees as "in use" from the drivers' odometer readings.
        candidates = [(v, k) for v in ordered if v.vehicle_id not in used
                      and (not jt808 or protocols[v.vehicle_id] is not Protocol.osmand)
                      for k, b in enumerate(v.bookings) if fits(v, b)]
        if not candidates:
            skipped.append(f"{kind}: no vehicle with a suitable trip on {day}")
            return None
        started = [(v, k) for v, k in candidates if v.bookings[k].started]
        chosen = rng.choice(started or candidates)
        used.add(chosen[0].vehicle_id)
        return chosen

    wanted = set(plant)
    if Misuse.unplugged in wanted and (got := pick("unplugged", lambda v, b: _leg_minutes(b) >= 12, jt808=True)):
        orders[got[0].vehicle_id] = replace(orders[got[0].vehicle_id], unplugged=got[1])
    if Misuse.detour in wanted and (got := pick("detour", lambda v, b: b.planned_km >= 2.0)):
        orders[got[0].vehicle_id] = replace(orders[got[0].vehicle_id], detour=got[1])
    if Misuse.speeding in wanted and (got := pick("speeding", lambda v, b: b.planned_km >= 8.0)):
        orders[got[0].vehicle_id] = replace(orders[got[0].vehicle_id], speeding=got[1])
    if Misuse.idling in wanted and (got := pick("idling", lambda v, b: True)):
        orders[got[0].vehicle_id] = replace(orders[got[0].vehicle_id], idling=got[1])
    if signal_loss and (got := pick("signal loss", lambda v, b: _leg_minutes(b) >= 10, jt808=True)):
        orders[got[0].vehicle_id] = replace(orders[got[0].vehicle_id], signal_loss=got[1])
    if Misuse.unbooked in wanted:
        fence = thresholds.fence
        day_off = rules.calendar.day_off(day) is not None
        start = local_moment(day, dtime(10 if day_off else 21))
        stay = timedelta(minutes=50)
        free = [v for v in ordered if v.vehicle_id not in used and _free(v, start, start + timedelta(hours=3))]
        if fence is None:
            skipped.append("unbooked-sunday: the usage audit rules list no geofence to drive to")
        elif not free:
            skipped.append(f"unbooked-sunday: no vehicle free at {start.astimezone(CHINA):%H:%M} on {day}")
        else:
            vehicle = rng.choice(free)
            used.add(vehicle.vehicle_id)
            excursion = _Excursion(start, inside_point(fence), stay, fence.name)
            orders[vehicle.vehicle_id] = replace(orders[vehicle.vehicle_id], excursion=excursion)

    scripts: list[Script] = []
    planted: list[Planted] = []
    backfill: SignalLoss | None = None
    for vehicle in ordered:
        outcome = _drive_vehicle(vehicle, orders[vehicle.vehicle_id], thresholds,
                                 random.Random(rng.random() + vehicle.vehicle_id), interval_s=interval_s,
                                 parked_interval_s=parked_interval_s, lead=lead)
        fixes = outcome.fixes
        if outcome.silence is not None:
            cut, resume = outcome.silence
            kept: list[PlannedFix] = []
            alarmed: PlannedFix | None = None
            for fix in fixes:
                if fix.at < cut or fix.at > resume:
                    kept.append(fix)
                elif alarmed is None:  # the power cut is the last thing the terminal says
                    alarmed = replace(fix, alarm=fix.alarm | ALARM_POWER_CUT)
                    kept.append(alarmed)
            fixes = kept
            if alarmed is not None:
                trip = vehicle.bookings[orders[vehicle.vehicle_id].unplugged or 0]
                planted.append(Planted(Misuse.unplugged, vehicle.vehicle_id, vehicle.plate, alarmed.at, resume,
                                       trip.trip_id, "power cut alarm (bit 8), then no fix for "
                                       f"{(resume - alarmed.at).total_seconds() / 60:.0f} min while on the trip"))
        planted.extend(outcome.planted)
        items = _items(fixes, outcome.loss, rng)
        if outcome.loss is not None:
            lost = sum(len(i.fixes) for i in items if i.backfill)
            backfill = SignalLoss(vehicle.vehicle_id, vehicle.plate, *outcome.loss, lost)
        scripts.append(Script(vehicle.vehicle_id, vehicle.plate, vehicle.terminal, protocols[vehicle.vehicle_id],
                              tuple(items)))
    planted.sort(key=lambda p: (p.start, p.kind))
    return DayPlan(day, tuple(scripts), tuple(planted), backfill, tuple(skipped))


def _items(fixes: Sequence[PlannedFix], loss: tuple[datetime, datetime] | None, rng: random.Random) -> list[Item]:
    """Each fix as sent: live, or (inside the signal loss) held back and sent after it, shuffled, <= 20 a batch."""
    items: list[Item] = []
    held: list[PlannedFix] = []
    for fix in fixes:
        if loss is not None and loss[0] <= fix.at < loss[1]:
            held.append(fix)
            continue
        items.append(Item(fix.at, (fix,)))
        if held:  # the signal is back: the live fix first, then the blind-area fixes
            rng.shuffle(held)
            for start in range(0, len(held), 20):
                items.append(Item(fix.at, tuple(held[start:start + 20]), backfill=True))
            held = []
    return items


# --- Sending ---------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """What was sent and acknowledged. ``acknowledged_keys``: (vehicle id, device time) of every fix acknowledged."""

    terminals: int = 0
    protocols: dict[str, int] = field(default_factory=dict)
    fixes: int = 0  # fixes planned
    sent: int = 0  # fixes sent at least once
    acknowledged: int = 0
    refused: int = 0  # answered other than OK (e.g. a time ahead of the platform's clock)
    unanswered: int = 0  # never acknowledged after every resend
    resent: int = 0  # messages sent again after a timeout or a lost connection
    backfilled: int = 0
    registered: int = 0
    register_failures: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    acknowledged_keys: set[tuple[int, datetime]] = field(default_factory=set)
    keep_keys: bool = True  # load mode counts and forgets
    # Each terminal's auth code, as a terminal keeps it across restarts: pass it to the next run (``codes=``).
    codes: dict[str, str] = field(default_factory=dict)
    planted: tuple[Planted, ...] = ()
    backfill: SignalLoss | None = None
    skipped: tuple[str, ...] = ()

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


class SimulatorError(RuntimeError):
    """A terminal could not register or authenticate, or lost its connection for good."""


@dataclass(slots=True)
class _Pending:
    frame: bytes
    sent: float  # perf_counter at the last send
    deadline: float  # loop time after which it is sent again
    fixes: int
    keys: Sequence[tuple[int, datetime]]
    attempts: int = 0


class Jt808Terminal:
    """One JT/T 808 terminal on one TCP connection: register, authenticate, then send with up to ``window``
    messages awaiting their 0x8001. A message not answered within ``ack_timeout`` is sent again on its own serial
    (``retries`` times), and every message awaiting an answer is sent again after a reconnect.

    Cheap per message (the load benchmark runs thousands a second through it): no task or future per message;
    the answer's reader does the bookkeeping, one watchdog task per terminal does the resending."""

    def __init__(self, host: str, port: int, phone: str, *, version: int | None, plate: str, report: Report,
                 window: int = 8, ack_timeout: float = 5.0, retries: int = 3) -> None:
        self.host, self.port, self.phone, self.version, self.plate = host, port, phone, version, plate
        self.report, self.window, self.ack_timeout, self.retries = report, window, ack_timeout, retries
        self._serial = 0
        self._pending: dict[int, _Pending] = {}
        self._answers: dict[int, asyncio.Future[object]] = {}  # register and authenticate, awaited in place
        self._in_flight = 0  # messages awaiting their answer (at most ``window``)
        self._room = asyncio.Event()  # set when an answer frees a place in the window
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._code: str | None = None
        self._broken = False
        self._closing = False

    def _next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0xFFFF
        return self._serial

    async def _connect(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        self._broken = False
        self._reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        splitter = codec.Splitter()
        try:
            while data := await reader.read(65536):
                for content in splitter.feed(data):
                    if isinstance(content, codec.FrameError):
                        continue
                    try:
                        header, body = codec.decode_frame(content)
                        message = codec.decode_body(header, body)
                    except codec.FrameError:
                        continue
                    if isinstance(message, codec.GeneralAck | codec.RegisterReply):
                        self._answered(message.serial, message.result, message)
        except (ConnectionError, OSError):
            pass
        finally:
            self._broken = True
            for future in self._answers.values():
                if not future.done():
                    future.set_exception(ConnectionResetError("connection lost"))

    def _answered(self, serial: int, result: int, message: object) -> None:
        waiting = self._answers.get(serial)
        if waiting is not None:
            if not waiting.done():
                waiting.set_result(message)
            return
        pending = self._pending.pop(serial, None)
        if pending is None:
            return  # an answer to a message already answered (sent twice)
        report = self.report
        report.latencies_ms.append((time.perf_counter() - pending.sent) * 1000.0)
        if result == codec.AckResult.OK:
            report.acknowledged += pending.fixes
            if report.keep_keys:
                report.acknowledged_keys.update(pending.keys)
        else:
            report.refused += pending.fixes
        self._done_one()

    def _done_one(self) -> None:
        self._in_flight -= 1
        self._room.set()
        if not self._pending:
            self._idle.set()

    async def _exchange(self, message: codec.Message) -> object:
        """Send one message and wait for its answer (register, authenticate), resending on timeout."""
        serial = self._next_serial()
        frame = codec.encode(message, phone=self.phone, serial=serial, version=self.version)
        try:
            for _ in range(self.retries + 1):
                future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
                self._answers[serial] = future
                assert self._writer is not None
                self._writer.write(frame)
                try:
                    return await asyncio.wait_for(future, self.ack_timeout)
                except TimeoutError:
                    continue
        finally:
            self._answers.pop(serial, None)
        raise SimulatorError(f"terminal {self.phone}: no answer to 0x{codec.message_id(message):04x}")

    async def start(self, code: str | None = None) -> str:
        """Connect, register (0x0100 -> 0x8100) and authenticate (0x0102 -> 0x8001); the auth code. A terminal that
        kept its ``code`` from an earlier registration authenticates with it straight away, as a real one does (the
        platform refuses an active terminal registering again over a connection that has not authenticated)."""
        await self._connect()
        if code is not None:
            self._code = code
            try:
                await self._authenticate()
            except SimulatorError:
                self._code = None  # the code no longer works (deregistered, or registered afresh): register
            else:
                self._watchdog = asyncio.create_task(self._watch())
                return code
        reply = await self._exchange(codec.Register(42, 100, "GCSIM", "SIM-808", self.phone[-7:], 1, self.plate))
        if not isinstance(reply, codec.RegisterReply) or reply.result != codec.RegisterResult.OK or not reply.auth_code:
            result = reply.result if isinstance(reply, codec.RegisterReply) else reply
            raise SimulatorError(f"terminal {self.phone} ({self.plate}): register answered {result!r}")
        self._code = reply.auth_code
        await self._authenticate()
        self._watchdog = asyncio.create_task(self._watch())
        return reply.auth_code

    async def _authenticate(self) -> None:
        assert self._code is not None
        auth = (codec.Authenticate(self._code) if self.version is None
                else codec.Authenticate(self._code, self.phone[-15:].rjust(15, "0"), "GCSIM-1.0"))
        answer = await self._exchange(auth)
        if not isinstance(answer, codec.GeneralAck) or answer.result != codec.AckResult.OK:
            raise SimulatorError(f"terminal {self.phone}: authentication answered {answer!r}")

    async def _reconnect(self) -> None:
        self._close_socket()
        for attempt in range(20):
            try:
                await self._connect()
                await self._authenticate()
                return
            except (OSError, SimulatorError, TimeoutError, ConnectionError):
                self._close_socket()
                await asyncio.sleep(min(2.0, 0.1 * 2 ** attempt))
        raise SimulatorError(f"terminal {self.phone}: cannot reconnect to {self.host}:{self.port}")

    async def _watch(self) -> None:
        """Resend what is not answered in time; after a lost connection, reconnect and resend all that waits."""
        loop = asyncio.get_running_loop()
        tick = min(1.0, self.ack_timeout / 4)
        while not self._closing:
            await asyncio.sleep(tick)
            if self._broken and self._pending and not self._closing:
                try:
                    await self._reconnect()
                except SimulatorError:
                    self._give_up(list(self._pending))
                    continue
                self._resend(list(self._pending), loop.time(), count=False)
                continue
            now = loop.time()
            late = [serial for serial, p in self._pending.items() if p.deadline <= now]
            if late and not self._broken:
                self._give_up([s for s in late if self._pending[s].attempts >= self.retries])
                self._resend([s for s in late if s in self._pending], now, count=True)

    def _resend(self, serials: Sequence[int], now: float, *, count: bool) -> None:
        if self._writer is None:
            return
        for serial in serials:
            pending = self._pending[serial]
            pending.attempts += 1 if count else 0
            pending.sent = time.perf_counter()
            pending.deadline = now + self.ack_timeout
            self._writer.write(pending.frame)
            self.report.resent += 1

    def _give_up(self, serials: Sequence[int]) -> None:
        for serial in serials:
            pending = self._pending.pop(serial, None)
            if pending is not None:
                self.report.unanswered += pending.fixes
                self._done_one()

    async def send(self, message: codec.Location | codec.Batch, keys: Sequence[tuple[int, datetime]]) -> None:
        """Send a location or a batch now, once fewer than ``window`` messages await their answer."""
        while not self.send_now(message, keys):
            self._room.clear()
            await self._room.wait()

    def send_now(self, message: codec.Location | codec.Batch, keys: Sequence[tuple[int, datetime]]) -> bool:
        """Send at once if fewer than ``window`` messages await their answer; False (nothing sent) if not."""
        if self._in_flight >= self.window:
            return False
        self._in_flight += 1
        serial = self._next_serial()
        frame = codec.encode(message, phone=self.phone, serial=serial, version=self.version)
        self._pending[serial] = _Pending(frame, time.perf_counter(),
                                         asyncio.get_running_loop().time() + self.ack_timeout, len(keys), keys)
        self._idle.clear()
        self.report.sent += len(keys)
        if self._writer is not None and not self._broken:
            self._writer.write(frame)
        return True

    async def heartbeat(self) -> None:
        if self._writer is not None and not self._broken:
            self._writer.write(codec.encode(None, phone=self.phone, serial=self._next_serial(),
                                            version=self.version, msg_id=codec.MessageId.HEARTBEAT))

    async def drain(self) -> None:
        """Wait until every message is answered or given up, then close."""
        await self._idle.wait()
        self.close_now()

    def _close_socket(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()
            self._reader_task = None

    def close_now(self) -> None:
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._close_socket()


def location(fix: PlannedFix) -> codec.Location:
    status = codec.STATUS_POSITIONED | (codec.STATUS_ACC if fix.acc else 0)
    return codec.Location(fix.alarm, status, fix.lat, fix.lon, 30, fix.speed_kmh, fix.course, fix.at,
                          {EXTRA_MILEAGE: _DWORD.pack(round(fix.mileage_km * 10))})


def osmand_report(device: str, fix: PlannedFix) -> osmand.OsmAndReport:
    attributes = {"alarm": "powerCut"} if fix.alarm & ALARM_POWER_CUT else {}
    return osmand.OsmAndReport(device_id=device, fixed_at=fix.at, lat=fix.lat, lon=fix.lon, speed_kmh=fix.speed_kmh,
                               course=fix.course, altitude_m=30, accuracy_m=8.0, acc=fix.acc,
                               mileage_km=fix.mileage_km, battery=80.0, attributes=attributes)


async def _run_jt808(script: Script, host: str, port: int, report: Report, wall_at: Callable[[datetime], float], *,
                     window: int, ack_timeout: float, heartbeat_s: float) -> None:
    version = 1 if script.protocol is Protocol.jt808_2019 else None
    terminal = Jt808Terminal(host, port, script.terminal, version=version, plate=script.plate, report=report,
                             window=window, ack_timeout=ack_timeout)
    try:
        report.codes[script.terminal] = await terminal.start(report.codes.get(script.terminal))
    except (OSError, SimulatorError) as failed:
        report.register_failures.append(str(failed))
        report.unanswered += script.fixes
        terminal.close_now()
        return
    report.registered += 1
    loop = asyncio.get_running_loop()
    for item in script.items:
        while (delay := wall_at(item.due) - loop.time()) > 0:
            await asyncio.sleep(min(delay, heartbeat_s))
            if delay > heartbeat_s:
                await terminal.heartbeat()
        keys = [(script.vehicle_id, fix.at) for fix in item.fixes]
        if item.backfill:
            report.backfilled += len(item.fixes)
            await terminal.send(codec.Batch(1, tuple(location(f) for f in item.fixes)), keys)
        else:
            await terminal.send(location(item.fixes[0]), keys)
    await terminal.drain()


async def _run_osmand(script: Script, client: httpx.AsyncClient, report: Report,
                      wall_at: Callable[[datetime], float], *, ack_timeout: float, retries: int = 3) -> None:
    loop = asyncio.get_running_loop()
    report.registered += 1  # an OsmAnd device is bound by its id alone
    for item in script.items:
        delay = wall_at(item.due) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for fix in item.fixes:  # Traccar Client sends what it buffered one by one, oldest first
            report.sent += 1
            if item.backfill:
                report.backfilled += 1
            for attempt in range(retries + 1):
                sent = time.perf_counter()
                try:
                    answer = await client.post("/", params=osmand.to_query(osmand_report(script.terminal, fix)),
                                               timeout=ack_timeout)
                except httpx.HTTPError:
                    if attempt < retries:
                        report.resent += 1
                        await asyncio.sleep(0.05 * 2 ** attempt)
                    continue
                report.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
                if answer.status_code == 200:
                    report.acknowledged += 1
                    report.acknowledged_keys.add((script.vehicle_id, fix.at))
                elif answer.status_code >= 500 and attempt < retries:
                    report.resent += 1
                    continue
                else:
                    report.refused += 1
                break
            else:
                report.unanswered += 1


async def drive(plan: DayPlan, *, host: str, jt808_port: int, osmand_port: int | None, speedup: float = 1440.0,
                window: int = 64, ack_timeout: float = 5.0, heartbeat_s: float = 60.0,
                connections: int = 64, codes: dict[str, str] | None = None) -> Report:
    """Send every script of ``plan`` concurrently, ``speedup`` times faster than the device clock runs; ``codes``:
    the terminals' auth codes from an earlier run (``Report.codes``), which they authenticate with. A real
    terminal awaits each answer before its next report, 10-30 s later; squeezed a thousandfold, a terminal's reports
    come faster than a group commit answers them, so each keeps up to ``window`` of them awaiting their answers."""
    if speedup <= 0:
        raise ValueError("speedup must be positive")
    report = Report(terminals=len(plan.scripts), fixes=plan.fixes, planted=plan.planted, backfill=plan.backfill,
                    skipped=plan.skipped, codes=dict(codes or {}))
    for script in plan.scripts:
        report.protocols[script.protocol.value] = report.protocols.get(script.protocol.value, 0) + 1
    loop = asyncio.get_running_loop()
    origin = loop.time() + 0.5  # a moment for every terminal to register before the day starts
    sim_start = plan.first if plan.scripts else datetime.now(UTC)

    def wall_at(moment: datetime) -> float:
        return origin + (moment - sim_start).total_seconds() / speedup

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=f"http://{host}:{osmand_port}", limits=limits) as client:
        tasks = []
        for script in plan.scripts:
            if script.protocol is Protocol.osmand:
                if osmand_port is None:
                    report.unanswered += script.fixes
                    continue
                tasks.append(_run_osmand(script, client, report, wall_at, ack_timeout=ack_timeout))
            else:
                tasks.append(_run_jt808(script, host, jt808_port, report, wall_at, window=window,
                                        ack_timeout=ack_timeout, heartbeat_s=heartbeat_s))
        await asyncio.gather(*tasks)
    report.wall_seconds = time.perf_counter() - started
    return report


def simulate_day(session: Session, day: date, rules: AuditRules, *, host: str, jt808_port: int,
                 osmand_port: int | None, plant: Collection[Misuse] = (), speedup: float = 1440.0, seed: int = 15,
                 interval_s: int = 10, parked_interval_s: int = 300,
                 vehicle_ids: Collection[int] | None = None) -> Report:
    """Read the day, plan it and drive it (blocking; not from inside a running event loop)."""
    days, _ = read_day(session, day, vehicle_ids)
    plan = plan_day(days, day, rules, plant=plant, seed=seed, interval_s=interval_s,
                    parked_interval_s=parked_interval_s)
    return asyncio.run(drive(plan, host=host, jt808_port=jt808_port, osmand_port=osmand_port, speedup=speedup))


# --- Load ----------------------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    terminals: int
    interval_s: float
    duration_s: float
    registered: int = 0
    register_seconds: float = 0.0
    sent: int = 0
    acknowledged: int = 0
    refused: int = 0
    unanswered: int = 0
    resent: int = 0
    wall_seconds: float = 0.0  # from the first fix sent to the last acknowledgement
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Fixes acknowledged per second of wall time."""
        return self.acknowledged / self.wall_seconds if self.wall_seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _load_fixes(rng: random.Random, start: datetime, step_s: int) -> Iterator[PlannedFix]:
    """A vehicle wandering about Wuhan, one fix per ``step_s`` of device time from ``start``."""
    where = (30.58 + rng.uniform(-0.1, 0.1), 114.30 + rng.uniform(-0.1, 0.1))
    course = rng.randrange(360)
    km = rng.uniform(1000, 90000)
    moment = start
    while True:
        speed = rng.uniform(20, 60)
        course = (course + rng.randint(-20, 20)) % 360
        metres = speed * step_s / 3.6
        where = _moved(where, metres, course)
        km += metres / 1000
        yield PlannedFix(moment, round(where[0], 6), round(where[1], 6), round(speed, 1), course, True, round(km, 1))
        moment += timedelta(seconds=step_s)


async def load(host: str | Sequence[tuple[str, int]], port: int, terminals: Sequence[tuple[str, str]], *,
               interval_s: float, duration_s: float, device_start: datetime, device_step_s: int = 10,
               window: int = 4, ack_timeout: float = 10.0, register_concurrency: int = 100, seed: int = 0,
               on_start: Callable[[], None] | None = None, tick_s: float = 0.005,
               codes: dict[str, str] | None = None) -> LoadReport:
    """``terminals`` = (number, plate) pairs, each registered and authenticated first (not timed), then each sends a
    fix every ``interval_s`` seconds for ``duration_s`` seconds (staggered evenly over the first interval) with
    device times from ``device_start`` every ``device_step_s`` seconds (keep them in the past). Half use the 2013
    header, half the 2019 one. ``host`` may be a list of (host, port) listeners instead: the terminals are dealt
    round-robin between them (several ingest processes). ``on_start`` is called as the first fix is sent.

    One ticker sends every fix that is due (a terminal whose ``window`` is full sends it as soon as an answer frees
    a place): thousands of terminals cost one timer, not one each."""
    listeners = [(host, port)] if isinstance(host, str) else list(host)
    report = LoadReport(len(terminals), interval_s, duration_s)
    day_report = Report(keep_keys=False)  # the terminals' own counters
    rng = random.Random(seed)
    connected: list[tuple[int, Jt808Terminal]] = []
    gate = asyncio.Semaphore(register_concurrency)
    known = codes if codes is not None else {}

    async def bring_up(index: int, number: str, plate: str) -> None:
        where, at = listeners[index % len(listeners)]
        terminal = Jt808Terminal(where, at, number, version=1 if index % 2 else None, plate=plate,
                                 report=day_report, window=window, ack_timeout=ack_timeout)
        async with gate:
            try:
                known[number] = await terminal.start(known.get(number))
            except (OSError, SimulatorError) as failed:
                report.failures.append(str(failed))
                terminal.close_now()
                return
        connected.append((index, terminal))

    started = time.perf_counter()
    await asyncio.gather(*(bring_up(i, number, plate) for i, (number, plate) in enumerate(terminals)))
    report.register_seconds = time.perf_counter() - started
    report.registered = len(connected)
    connected.sort(key=lambda pair: pair[0])
    loop = asyncio.get_running_loop()
    count = max(1, int(duration_s / interval_s))
    streams = [_load_fixes(random.Random(rng.random()), device_start, device_step_s) for _ in connected]
    offsets = [interval_s * k / max(1, len(connected)) for k in range(len(connected))]
    sent = [0] * len(connected)
    if on_start is not None:
        on_start()
    first = time.perf_counter()
    origin = loop.time()
    remaining = len(connected) * count
    while remaining:
        now = loop.time() - origin
        for k, (index, terminal) in enumerate(connected):
            while sent[k] < count and offsets[k] + sent[k] * interval_s <= now:
                fix = next(streams[k])
                if not terminal.send_now(location(fix), ((index, fix.at),)):
                    break  # its window is full: this fix waits for the next tick
                sent[k] += 1
                remaining -= 1
        await asyncio.sleep(tick_s)
    await asyncio.gather(*(terminal.drain() for _, terminal in connected))
    report.wall_seconds = time.perf_counter() - first
    report.sent = day_report.sent
    report.acknowledged = day_report.acknowledged
    report.refused = day_report.refused
    report.unanswered = day_report.unanswered
    report.resent = day_report.resent
    report.latencies_ms = day_report.latencies_ms
    return report
