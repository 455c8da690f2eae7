"""The usage audit (公车使用监督): rule-based findings for supervisors, each with the facts it rests on.

A finding is a lead, not a verdict: it names the rule, the numbers and the raw evidence (trip ids, times,
odometer readings, km, the geofence) so that a supervisor can check it against the booking and the log book.

Rules:

* ``off_hours``: a routine trip that ran outside working hours, on a weekend or on a public holiday (make-up
  working days 调休上班 count as working days), or on a weekday of a year the holiday calendar does not cover
  (its status unknown: the reason ``start_unknown_day``); emergency and law-enforcement trips are exempt.
* ``odometer_gap``: between two consecutive trips of a vehicle the odometer advanced further than the longest
  legitimate drive between them (drop-off → home yard → next pickup): driving without a booking (无单出车).
* ``overdriven``: a trip whose odometer distance is well above the road km of its route.
* ``geofence``: a trip whose drop-off lies in a prohibited area (scenic area, golf course, entertainment street…).
* ``unusable_vehicle``: a trip on a vehicle that was sealed (封存), in the workshop or disposed of (已处置) at the
  time, with the status read back from the audit log.
* ``over_quota``: an agency holding more vehicles of a category than its quota (编制) allows.
* ``unmarked``: a vehicle on the books without its marking (标识化) and without a recorded exemption.

From the vehicles' tracks (``track_checks``; the fixes JT/T 808 and OsmAnd terminals send, cut into drives by
``fleet.tracks``), named as the provincial platforms name them; a vehicle's track findings belong to its agency:

* ``unscheduled_drive`` 非调度用车: a drive no booking of the vehicle covers.
* ``detour`` 绕道: a trip's track strays from home -> pickup -> drop-off, or ends away from the drop-off.
* ``geofence_entry`` 越界: a stay in a prohibited area, crossings between two fixes included, past a dwell time.
* ``parking`` 定点停放: away from its designated parking place outside working hours without a booking.
* ``terminal_offline`` 机车拆除/终端离线: no fix while in use, or the terminal's tamper and power-cut alarm bits.
* ``speeding`` 超速 and ``idling`` 怠速超长.

Every finding's evidence names what it trusts in ``source``: ``track``, ``odometer``, ``booking`` or ``registry``;
``overdriven`` reads the track's km where the track covers the trip, the odometer readings otherwise.

The thresholds, the calendar and the geofences are data: ``fleet/usage_audit.yaml`` ships the defaults, and a
file named by ``GONGCHE_USAGE_AUDIT_FILE`` overrides them key by key (a list it sets replaces the shipped one).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fleet import clock
from fleet.i18n import Message, msg
from fleet.tracks import Track
from fleet.usage_audit import checks, evidence, track_checks
from fleet.usage_audit.calendar import Calendar, Holiday, Weekday, WorkingHours, year_ranges
from fleet.usage_audit.checks import Finding, FindingKind
from fleet.usage_audit.config import SHIPPED_RULES, AuditRules, configured_rules, default_rules, load_rules
from fleet.usage_audit.evidence import VehicleRow
from fleet.usage_audit.geofences import CircleGeofence, Geofence, GeofenceKind, PolygonGeofence
from fleet.usage_audit.track_checks import TRACK_KINDS, VehicleDay

__all__ = [
    "SHIPPED_RULES",
    "TRACK_KINDS",
    "AuditRules",
    "Calendar",
    "CircleGeofence",
    "Finding",
    "FindingKind",
    "Geofence",
    "GeofenceKind",
    "Holiday",
    "PolygonGeofence",
    "Weekday",
    "WorkingHours",
    "calendar_health",
    "configured_rules",
    "default_rules",
    "findings",
    "load_rules",
]

# How far ahead /healthz looks for days the calendar does not cover: the State Council publishes the coming year's
# holidays in November, so from early November on a missing year is a warning to upgrade chinese-calendar (or add
# the year's holidays to the rules file) before 元旦.
HEALTH_LOOKAHEAD_DAYS = 60


def calendar_health(calendar: Calendar, today: date, days: int = HEALTH_LOOKAHEAD_DAYS) -> dict[str, Any]:
    """The calendar's coverage for ``/healthz``: the years it covers and, when today or one of the coming ``days``
    falls in a year it does not, a warning naming the first such day."""
    gaps = calendar.uncovered(today, days + 1)
    report: dict[str, Any] = {"years": year_ranges(calendar.years), "today_covered": calendar.covers(today),
                              "first_uncovered_day": gaps[0].isoformat() if gaps else None}
    if gaps:
        warning: Message = msg("the holiday calendar does not cover {year} (from {day}): routine trips then are "
                               "flagged as of unknown status; fix: upgrade chinese-calendar once the State "
                               "Council's notice is out, or list that year's holidays in the usage audit rules file",
                               year=gaps[0].year, day=gaps[0].isoformat())
        report["warning"] = warning
    return report


_KIND_ORDER = {kind: index for index, kind in enumerate(FindingKind)}


def findings(
    session: Session, *, start: datetime, end: datetime, rules: AuditRules | None = None,
    agency_ids: Collection[int] | None = None, kinds: Collection[FindingKind] | None = None,
) -> list[Finding]:
    """The findings on trips timed in [start, end) and on the fleet as it stands, sorted by (time, kind)."""
    # agency_ids keeps those agencies' trips (trip rules) and vehicles (odometer, quota, marking rules).
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    rules = rules if rules is not None else configured_rules()
    wanted = frozenset(kinds) if kinds is not None else frozenset(FindingKind)
    scope = None if agency_ids is None else sorted(set(agency_ids))
    out: list[Finding] = []

    trip_kinds = wanted & {FindingKind.off_hours, FindingKind.odometer_gap, FindingKind.overdriven,
                           FindingKind.geofence, FindingKind.unusable_vehicle}
    trips: list[evidence.TripRow] = []
    own: list[evidence.TripRow] = []
    if trip_kinds:
        trips = evidence.window_trips(session, start, end, scope)
        own = [t for t in trips if scope is None or t.agency_id in scope]
    track_kinds = wanted & set(TRACK_KINDS)
    km: dict[int, tuple[float, str, float]] = {}
    if track_kinds or FindingKind.overdriven in wanted:
        for days, km_days in _vehicle_days(session, start, end, rules, scope,
                                           own if FindingKind.overdriven in wanted else []):
            if FindingKind.overdriven in wanted:
                km.update(track_checks.trip_km(km_days))
            for kind in TRACK_KINDS:
                if kind in wanted:
                    out.extend(getattr(track_checks, kind.value)(days))
            del days, km_days  # this batch's tracks go before the next batch's are read
    if trip_kinds:
        if FindingKind.off_hours in wanted:
            out.extend(checks.off_hours(own, rules))
        if FindingKind.overdriven in wanted:
            out.extend(checks.overdriven(own, rules, km))
        if FindingKind.geofence in wanted:
            out.extend(checks.geofence(own, rules))
        if FindingKind.unusable_vehicle in wanted:
            used = [t for t in own if t.vehicle_id is not None and t.begins is not None]
            log = evidence.status_log(session, (t.vehicle_id for t in used if t.vehicle_id is not None))
            out.extend(checks.unusable_vehicle(used, log, rules))
        if FindingKind.odometer_gap in wanted:
            driven = [t for t in trips if t.vehicle_id is not None and t.started_at is not None
                      and (scope is None or t.vehicle_agency_id in scope)]
            previous = evidence.previous_trips(session, {t.vehicle_id for t in driven if t.vehicle_id is not None},
                                               start)
            out.extend(checks.odometer_gap(driven, previous, rules))

    if wanted & {FindingKind.over_quota, FindingKind.unmarked}:
        fleet = evidence.held_vehicles(session, scope)
        if FindingKind.over_quota in wanted:
            out.extend(checks.over_quota(fleet))
        if FindingKind.unmarked in wanted:
            out.extend(checks.unmarked(fleet))

    out.sort(key=lambda f: (f.at or start, _KIND_ORDER[f.kind], f.agency or "", f.plate or "", f.trip_id or 0,
                            f.detail))
    return out


# Vehicles whose tracks are read and judged at once: a year of one vehicle's fixes is some 150,000 rows, so a
# period's audit of a whole city holds a batch's tracks in memory, not every vehicle's (a year of a thousand cars
# would not fit). Each vehicle's findings read its own track and bookings alone, so batches change nothing found.
AUDIT_BATCH = 50


def _vehicle_days(
    session: Session, start: datetime, end: datetime, rules: AuditRules, scope: list[int] | None,
    trips: list[evidence.TripRow],
) -> Iterator[tuple[list[VehicleDay], list[VehicleDay]]]:
    """Batch by batch of `AUDIT_BATCH` vehicles: (the scope's vehicles with a terminal or fixes, each with its
    track and bookings; the same for every vehicle driving one of ``trips``, for the km of those trips by their
    tracks)."""
    # The window widened by the match tolerance and a stop: a drive or a stay crossing the window's edge is
    # read whole, and the bookings either side are there to match it.
    margin = timedelta(minutes=rules.tracks.match_tolerance_minutes + rules.tracks.min_stop_minutes)
    lo, hi = start - margin, end + margin
    vehicles = {v.id: v for v in evidence.audited_vehicles(session, scope)}
    trip_vehicles = {t.vehicle_id for t in trips if t.vehicle_id is not None}
    driving: dict[int, VehicleRow] = {}  # a vehicle of another agency (or disposed since) driving a scope's trip
    for trip in trips:
        if trip.vehicle_id is not None and trip.vehicle_id not in vehicles:
            assert trip.plate is not None
            assert trip.vehicle_agency_id is not None
            assert trip.vehicle_agency is not None
            assert trip.vehicle_status is not None
            driving[trip.vehicle_id] = VehicleRow(trip.vehicle_id, trip.plate, trip.vehicle_agency_id,
                                                  trip.vehicle_agency, trip.home, trip.vehicle_status, None)
    now = clock.now()
    ids = sorted(vehicles.keys() | trip_vehicles)
    for at in range(0, len(ids), AUDIT_BATCH):
        batch = ids[at:at + AUDIT_BATCH]
        tracks = evidence.tracks(session, lo, hi, batch)
        audited = [vehicles[vid] for vid in batch
                   if vid in vehicles and (vehicles[vid].terminal_id is not None or vid in tracks)]
        driven = sorted(trip_vehicles.intersection(batch) & tracks.keys())
        read = {v.id for v in audited} | set(driven)
        if not read:
            continue
        booked: dict[int, list[evidence.TripRow]] = {}
        for trip in evidence.vehicle_trips(session, lo, hi, read):
            if trip.vehicle_id is not None:
                booked.setdefault(trip.vehicle_id, []).append(trip)
        days = {v.id: _day(v, tracks, booked, rules, start, end, now) for v in audited}
        yield list(days.values()), [days.get(vid) or _day(driving[vid], tracks, booked, rules, start, end, now)
                                    for vid in driven]
        del tracks, booked, days  # as the caller lets its batch go: one batch's fixes in memory, not two


def _day(vehicle: VehicleRow, tracks: dict[int, Track], booked: dict[int, list[evidence.TripRow]],
         rules: AuditRules, start: datetime, end: datetime, now: datetime) -> VehicleDay:
    track = tracks.get(vehicle.id) or Track.build(vehicle.id, [], [], [])
    return VehicleDay(vehicle, track, booked.get(vehicle.id, []), rules, start, end, now)
