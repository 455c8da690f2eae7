"""The rules read from bookings, odometers and the registry, as pure functions: evidence rows and the rules in,
findings out, no database.

Each check yields its findings in the order of its input; ``fleet.usage_audit.findings`` sorts them together.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatch.travel import Geodesic
from fleet.audit import jsonable
from fleet.enums import Category, LabelledEnum, MarkingStatus, Priority, TripStatus, VehicleStatus
from fleet.i18n import Message, Text, msg
from fleet.usage_audit.config import AuditRules
from fleet.usage_audit.evidence import HeldVehicle, StatusChange, TripRow
from fleet.usage_audit.geofences import CircleGeofence

_WEEKDAY_ABBR = (msg("Mon"), msg("Tue"), msg("Wed"), msg("Thu"), msg("Fri"), msg("Sat"), msg("Sun"))
_PRIORITY_WORDS = {Priority.emergency: msg("Emergency"), Priority.law_enforcement: msg("Law enforcement"),
                   Priority.routine: msg("Routine")}
_UNUSABLE = frozenset({VehicleStatus.sealed, VehicleStatus.maintenance, VehicleStatus.disposed})


class FindingKind(LabelledEnum):
    """The rules, in the order findings at the same moment are listed."""

    off_hours = "off_hours", "非工作时间用车"
    odometer_gap = "odometer_gap", "无单出车(里程缺口)"
    overdriven = "overdriven", "行驶里程超出计划"
    geofence = "geofence", "驶入禁止区域"
    unusable_vehicle = "unusable_vehicle", "使用封存、维修或已处置车辆"
    over_quota = "over_quota", "超编制配备"
    unmarked = "unmarked", "未标识"
    # Read from the vehicles' tracks (fleet.usage_audit.track_checks), named as the provincial platforms name them.
    unscheduled_drive = "unscheduled_drive", "非调度用车"
    detour = "detour", "绕道"
    geofence_entry = "geofence_entry", "越界"
    parking = "parking", "定点停放"
    terminal_offline = "terminal_offline", "机车拆除/终端离线"
    speeding = "speeding", "超速"
    idling = "idling", "怠速超长"


class Finding(BaseModel):
    """One lead for a supervisor: the rule, a one-sentence account, and the raw facts behind it."""

    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    detail: Text  # a message: translated where it is shown (the API's `translated`)
    at: datetime | None = None
    agency: str | None = None
    plate: str | None = None
    vehicle_id: int | None = None
    trip_id: int | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)

    @field_validator("evidence", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return jsonable(value) if isinstance(value, Mapping) else value


def _local(moment: datetime, zone: ZoneInfo) -> Message:
    local = moment.astimezone(zone)
    return msg("{weekday} {moment}", weekday=_WEEKDAY_ABBR[local.weekday()], moment=local.strftime("%Y-%m-%d %H:%M"))


def _vehicle_words(trip: TripRow) -> str:
    return msg(" ({plate})", plate=trip.plate) if trip.plate else ""


def _joined(clauses: list[Message]) -> Message:
    """``a and b and c``, as a message."""
    joined = clauses[0]
    for clause in clauses[1:]:
        joined = msg("{first} and {second}", first=joined, second=clause)
    return joined


def off_hours(trips: Iterable[TripRow], rules: AuditRules) -> Iterator[Finding]:
    """Routine trips that began or ended outside working hours, on a day off, or ran overnight."""
    calendar = rules.calendar
    days = calendar.days
    hours = calendar.working_hours
    for trip in trips:
        begins, ends = trip.begins, trip.ends
        if trip.priority in rules.off_hours_exempt or begins is None:
            continue
        local = {"start": begins[0].astimezone(days.zone)}
        if ends is not None:
            local["end"] = ends[0].astimezone(days.zone)
        day_off: dict[str, str | None] = {label: days.day_off(moment.date()) for label, moment in local.items()}
        uncovered = sorted({m.year for m in local.values() if not days.covers(m.date())})
        reasons: list[str] = []
        words: list[Message] = []
        for label, moment in local.items():
            when = _local(moment, days.zone)
            started = label == "start"
            off = day_off[label]
            if off == "weekend":
                reasons.append(f"{label}_weekend")
                words.append(msg("started {moment}, a weekend day", moment=when) if started
                             else msg("ended {moment}, a weekend day", moment=when))
            elif off is not None:
                reasons.append(f"{label}_holiday")
                words.append(msg("started {moment}, a public {holiday}", moment=when, holiday=off) if started
                             else msg("ended {moment}, a public {holiday}", moment=when, holiday=off))
            elif not days.covers(moment.date()):
                # A weekday of a year no calendar covers may be a holiday (元旦, 春节): a lead, not a pass.
                day_off[label] = "unknown"
                reasons.append(f"{label}_unknown_day")
                words.append(msg("started {moment}, a day of unknown status (the holiday calendar does not cover "
                                 "{year})", moment=when, year=moment.year) if started
                             else msg("ended {moment}, a day of unknown status (the holiday calendar does not "
                                      "cover {year})", moment=when, year=moment.year))
            if off is None and not days.in_hours(moment):
                reasons.append(f"{label}_outside_hours")
                words.append(msg("started {moment}, outside working hours {hours}", moment=when, hours=str(hours))
                             if started else
                             msg("ended {moment}, outside working hours {hours}", moment=when, hours=str(hours)))
        if "end" in local and local["start"].date() != local["end"].date():
            reasons.append("overnight")
            words.append(msg("ran overnight from {start} to {end}", start=_local(local["start"], days.zone),
                             end=_local(local["end"], days.zone)))
        if not reasons:
            continue
        yield Finding(
            kind=FindingKind.off_hours,
            detail=msg("Routine trip {trip_id}{vehicle} {account} (local time).", trip_id=trip.id,
                       vehicle=_vehicle_words(trip), account=_joined(words)),
            at=begins[0], agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
            evidence={
                "source": "booking",
                "trip_id": trip.id, "priority": trip.priority, "purpose": trip.purpose, "status": trip.status,
                "start": begins[0], "start_local": local["start"].isoformat(), "start_source": begins[1],
                "end": ends[0] if ends else None, "end_local": local["end"].isoformat() if ends else None,
                "end_source": ends[1] if ends else None, "day_off": day_off,
                "working_hours": str(hours), "timezone": calendar.timezone, "reasons": reasons,
                "uncovered_years": uncovered,
            },
        )


def overdriven(trips: Iterable[TripRow], rules: AuditRules,
               track_km: Mapping[int, tuple[float, str, float]] | None = None) -> Iterator[Finding]:
    """Completed trips whose km exceed both the planned km's ratio and its slack: the km of the vehicle's track
    where it covers the trip (``track_km``: trip id to km, ``"mileage"`` or ``"track"``, km by the fixes; see
    ``track_checks.trip_km``), else the odometer readings the driver entered."""
    track_km = track_km or {}
    for trip in trips:
        if trip.status is not TripStatus.completed:
            continue
        tracked = track_km.get(trip.id)
        if tracked is None and (trip.odometer_start_km is None or trip.odometer_end_km is None):
            continue
        limit = max(trip.planned_km * rules.overdriven_ratio, trip.planned_km + rules.overdriven_slack_km)
        readings = trip.readings
        odometer = (trip.odometer_end_km - trip.odometer_start_km
                    if trip.odometer_end_km is not None and trip.odometer_start_km is not None else None)
        driven: float = tracked[0] if tracked is not None else float(odometer or 0)
        if driven <= limit:
            continue
        ratio = driven / trip.planned_km if trip.planned_km > 0 else None
        times = msg(" ({ratio:.1f}×)", ratio=ratio) if ratio is not None else ""
        if tracked is not None:
            detail = msg("Trip {trip_id}{vehicle} drove {driven:.1f} km by its track ({basis}) against "
                         "{planned_km:.1f} km planned{times}, above the {allowed_km:.1f} km allowed.",
                         trip_id=trip.id, vehicle=_vehicle_words(trip), driven=driven,
                         basis=msg("the terminal's odometer") if tracked[1] == "mileage" else msg("its fixes"),
                         planned_km=trip.planned_km, times=times, allowed_km=limit)
        else:
            detail = msg("Trip {trip_id}{vehicle} drove {driven} km by the odometer ({start_km} → {end_km}) against "
                         "{planned_km:.1f} km planned{times}, above the {allowed_km:.1f} km allowed.",
                         trip_id=trip.id, vehicle=_vehicle_words(trip), driven=odometer,
                         start_km=trip.odometer_start_km, end_km=trip.odometer_end_km, planned_km=trip.planned_km,
                         times=times, allowed_km=limit)
        yield Finding(
            kind=FindingKind.overdriven,
            detail=detail,
            at=trip.when, agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
            evidence={
                "source": "track" if tracked is not None else "odometer",
                "trip_id": trip.id, "purpose": trip.purpose, "started_at": trip.started_at,
                "completed_at": trip.completed_at, "odometer_start_km": trip.odometer_start_km,
                "odometer_end_km": trip.odometer_end_km, "odometer_km": odometer if readings else None,
                "track_km": round(tracked[0], 2) if tracked is not None else None,
                "track_km_source": tracked[1] if tracked is not None else None,
                "driven_km": round(driven, 2) if tracked is not None else odometer,
                "planned_km": round(trip.planned_km, 1), "ratio": round(ratio, 2) if ratio is not None else None,
                "allowed_km": round(limit, 1), "overdriven_ratio": rules.overdriven_ratio,
                "overdriven_slack_km": rules.overdriven_slack_km,
                "pickup": trip.place("pickup"), "dropoff": trip.place("dropoff"),
            },
        )


def geofence(trips: Iterable[TripRow], rules: AuditRules) -> Iterator[Finding]:
    """Trips (bar exempt priorities) dropping off inside a prohibited area, one finding per area."""
    if not rules.geofences:
        return
    for trip in trips:
        if trip.priority in rules.geofence_exempt:
            continue
        lat, lon = trip.dropoff
        for fence in rules.geofences:
            if not fence.contains(lat, lon):
                continue
            extra: dict[str, Any] = {}
            where: Message = msg("{name} ({kind})", name=fence.name, kind=fence.kind)
            if isinstance(fence, CircleGeofence):
                distance = fence.distance_m(lat, lon)
                extra = {"distance_m": round(distance, 1), "radius_m": fence.radius_m,
                         "centre": {"lat": fence.lat, "lon": fence.lon}}
                where = msg("{area}, {distance_m:.0f} m from its centre within a {radius_m:.0f} m radius",
                            area=where, distance_m=distance, radius_m=fence.radius_m)
            place = trip.dropoff_address or f"{lat:.5f},{lon:.5f}"
            yield Finding(
                kind=FindingKind.geofence,
                detail=msg("{priority} trip {trip_id}{vehicle} drops off at {place}, inside the prohibited area "
                           "{area}.", priority=_PRIORITY_WORDS[trip.priority], trip_id=trip.id,
                           vehicle=_vehicle_words(trip), place=place, area=where),
                at=trip.when, agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
                evidence={
                    "source": "booking",
                    "trip_id": trip.id, "priority": trip.priority, "purpose": trip.purpose, "status": trip.status,
                    "time": trip.when, "dropoff": trip.place("dropoff"), "pickup": trip.place("pickup"),
                    "geofence": fence.name, "geofence_kind": fence.kind, "geofence_shape": fence.shape, **extra,
                },
            )


_Basis = Literal["set_by", "before", "current"]


def _status_at(trip: TripRow, changes: Sequence[StatusChange], zone: ZoneInfo) -> tuple[
        VehicleStatus | None, StatusChange | None, _Basis]:
    """The vehicle's status when the trip began, the log record it is read from, and how: the record ``set_by``
    it, the first later record changed ``from`` it (``before``), or no record at all (``current`` status)."""
    assert trip.begins is not None
    moment = trip.begins[0]
    disposal = next((c for c in changes if c.disposal), None)
    if trip.disposed_on is not None:
        # Disposal is dated, not timed: the vehicle may still be driven to the auction or the scrapyard that day.
        if moment.astimezone(zone).date() > trip.disposed_on:
            return VehicleStatus.disposed, disposal, "set_by" if disposal else "current"
    elif disposal is not None and moment >= disposal.at:
        return VehicleStatus.disposed, disposal, "set_by"
    moves = [c for c in changes if not c.disposal]
    index = bisect_right([c.at for c in moves], moment)
    if index:
        return moves[index - 1].after, moves[index - 1], "set_by"
    if moves:
        return moves[0].before, moves[0], "before"
    # No move was ever logged: the vehicle has been in its present status all along (bar a disposal, seen above).
    status = trip.vehicle_status
    return (None if status is VehicleStatus.disposed else status), None, "current"


def unusable_vehicle(trips: Iterable[TripRow], log: Mapping[int, Sequence[StatusChange]],
                     rules: AuditRules) -> Iterator[Finding]:
    """Trips on a vehicle sealed, in the workshop or disposed of when they began, per its status log.

    Every trip must have a vehicle and a beginning; ``log`` maps vehicle id to its changes in log order.
    """
    for trip in trips:
        assert trip.vehicle_id is not None
        assert trip.begins is not None
        status, change, basis = _status_at(trip, log.get(trip.vehicle_id, ()), rules.calendar.zone)
        if status is None or status not in _UNUSABLE:
            continue
        moment, source = trip.begins
        zone = rules.calendar.zone
        if status is VehicleStatus.disposed and trip.disposed_on is not None:
            since = (msg("disposed of on {day} (audit record #{seq})", day=str(trip.disposed_on), seq=change.seq)
                     if change else msg("disposed of on {day}", day=str(trip.disposed_on)))
        elif change is not None and basis == "set_by":
            since = msg("since {moment} (audit record #{seq})", moment=_local(change.at, zone), seq=change.seq)
        elif change is not None:
            since = msg("until {moment} (audit record #{seq} changed it from {status})",
                        moment=_local(change.at, zone), seq=change.seq, status=status)
        else:
            since = msg("by its status on record, never changed in the audit log")
        facts = {"trip_id": trip.id, "moment": _local(moment, zone), "plate": trip.plate, "status": status.value,
                 "label": status.zh, "since": since}
        yield Finding(
            kind=FindingKind.unusable_vehicle,
            detail=msg("Trip {trip_id} started {moment} on {plate}, which was {status} ({label}) {since}.", **facts)
            if source == "actual" else
            msg("Trip {trip_id} is assigned to start {moment} on {plate}, which was {status} ({label}) {since}.",
                **facts),
            at=moment, agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
            evidence={
                "source": "booking",
                "trip_id": trip.id, "purpose": trip.purpose, "trip_status": trip.status, "time": moment,
                "time_source": source, "vehicle_status": status, "status_basis": basis,
                "audit_seq": change.seq if change else None, "audit_action": change.action if change else None,
                "audit_at": change.at if change else None, "reason": change.reason if change else None,
                "disposed_on": trip.disposed_on,
            },
        )


def odometer_gap(trips: Iterable[TripRow], previous: Mapping[int, TripRow], rules: AuditRules) -> Iterator[Finding]:
    """Consecutive completed trips of a vehicle whose odometer gap exceeds the drive between them (无单出车).

    Every trip must have a vehicle and a start; ``previous`` maps vehicle id to its last trip before the window.
    """
    travel = Geodesic(road_factor=rules.road_factor)
    by_vehicle: dict[int, list[TripRow]] = defaultdict(list)
    for trip in trips:
        assert trip.vehicle_id is not None
        by_vehicle[trip.vehicle_id].append(trip)
    for vehicle_id, sequence in by_vehicle.items():
        sequence.sort(key=lambda t: (t.started_at, t.id))
        if vehicle_id in previous:
            sequence.insert(0, previous[vehicle_id])
        for prev, nxt in pairwise(sequence):
            if not (prev.status is TripStatus.completed and nxt.status is TripStatus.completed
                    and prev.readings and nxt.readings):
                continue
            assert prev.odometer_end_km is not None
            assert nxt.odometer_start_km is not None
            gap = nxt.odometer_start_km - prev.odometer_end_km
            home = nxt.home
            if home is not None:
                expected = travel.pair_km(prev.dropoff, home) + travel.pair_km(home, nxt.pickup)
            else:
                expected = travel.pair_km(prev.dropoff, nxt.pickup)
            excess = gap - expected
            if excess <= rules.odometer_gap_km:
                continue
            via = msg("via its home yard") if home is not None else msg("direct (no home yard on record)")
            yield Finding(
                kind=FindingKind.odometer_gap,
                detail=msg("{plate} ran {gap_km} km between trip {previous_trip} (odometer {previous_km} km at "
                           "drop-off) and trip {next_trip} ({next_km} km at pickup), {excess_km:.1f} km more than "
                           "the {expected_km:.1f} km drive {via}.", plate=nxt.plate, gap_km=gap,
                           previous_trip=prev.id, previous_km=prev.odometer_end_km, next_trip=nxt.id,
                           next_km=nxt.odometer_start_km, excess_km=excess, expected_km=expected, via=via),
                at=nxt.started_at, agency=nxt.vehicle_agency, plate=nxt.plate, vehicle_id=vehicle_id,
                trip_id=nxt.id,
                evidence={
                    "source": "odometer",
                    "previous_trip_id": prev.id, "next_trip_id": nxt.id,
                    "previous_completed_at": prev.completed_at, "next_started_at": nxt.started_at,
                    "previous_odometer_end_km": prev.odometer_end_km,
                    "next_odometer_start_km": nxt.odometer_start_km,
                    "previous_dropoff": prev.place("dropoff"), "next_pickup": nxt.place("pickup"),
                    "home": {"lat": home[0], "lon": home[1]} if home is not None else None,
                    "gap_km": gap, "expected_km": round(expected, 1), "excess_km": round(excess, 1),
                    "threshold_km": rules.odometer_gap_km, "road_factor": rules.road_factor,
                },
            )


def over_quota(fleet: Iterable[HeldVehicle]) -> Iterator[Finding]:
    """Agencies holding more vehicles of a category than their quota (编制) allows, by agency and category."""
    groups: dict[tuple[str, Category], list[HeldVehicle]] = defaultdict(list)
    for vehicle in fleet:
        if not vehicle.hired:  # hired, not held: 编制 counts what the agency holds
            groups[vehicle.agency, vehicle.category].append(vehicle)
    for (agency, category), held in sorted(groups.items(), key=lambda group: group[0]):
        limit = held[0].limit or 0  # no quota row: the agency may hold none (编制 0)
        if len(held) <= limit:
            continue
        yield Finding(
            kind=FindingKind.over_quota,
            detail=msg("Agency {agency} holds {held} {category} ({label}) vehicles against a quota of {limit}, "
                       "{excess} over.", agency=agency, held=len(held), category=category.value, label=category.zh,
                       limit=limit, excess=len(held) - limit),
            agency=agency,
            evidence={
                "source": "registry",
                "agency": agency, "category": category, "held": len(held), "limit": limit,
                "excess": len(held) - limit, "plates": [v.plate for v in held],
                "statuses": {v.plate: v.status for v in held},
            },
        )


def unmarked(fleet: Iterable[HeldVehicle]) -> Iterator[Finding]:
    """Vehicles without their marking (标识化) and without a recorded exemption."""
    for vehicle in fleet:
        if vehicle.marking is not MarkingStatus.unmarked or (vehicle.marking_exemption or "").strip():
            continue
        yield Finding(
            kind=FindingKind.unmarked,
            detail=msg("Vehicle {plate} of {agency} ({category}, {status}) carries no official-vehicle marking and "
                       "has no recorded exemption.", plate=vehicle.plate, agency=vehicle.agency,
                       category=vehicle.category, status=vehicle.status),
            agency=vehicle.agency, plate=vehicle.plate, vehicle_id=vehicle.id,
            evidence={
                "source": "registry",
                "vehicle_id": vehicle.id, "plate": vehicle.plate, "agency": vehicle.agency,
                "category": vehicle.category, "status": vehicle.status, "marking": vehicle.marking,
                "marking_exemption": vehicle.marking_exemption,
            },
        )
