"""The usage audit (公车使用监督): rule-based findings for supervisors, each with the facts it rests on.

A finding is a lead, not a verdict: it names the rule, the numbers and the raw evidence (trip ids, times,
odometer readings, km, the geofence) so that a supervisor can check it against the booking and the log book.

Rules:

* ``off_hours``: a routine trip that ran outside working hours, on a weekend or on a public holiday (make-up
  working days 调休上班 count as working days); emergency and law-enforcement trips are exempt.
* ``odometer_gap``: between two consecutive trips of a vehicle the odometer advanced further than the longest
  legitimate drive between them (drop-off → home yard → next pickup): driving without a booking (无单出车).
* ``overdriven``: a trip whose odometer distance is well above the road km of its route.
* ``geofence``: a trip whose drop-off lies in a prohibited area (scenic area, golf course, entertainment street…).
* ``unusable_vehicle``: a trip on a vehicle that was sealed (封存), in the workshop or disposed of (已处置) at the
  time, with the status read back from the audit log.
* ``over_quota``: an agency holding more vehicles of a category than its quota (编制) allows.
* ``unmarked``: a vehicle on the books without its marking (标识化) and without a recorded exemption.

The thresholds, the calendar and the geofences are data: ``fleet/usage_audit.yaml`` ships the defaults, and a
file named by ``GONGCHE_USAGE_AUDIT_FILE`` overrides them key by key (a list it sets replaces the shipped one).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
import yaml
from geopy.distance import geodesic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from sqlalchemy.orm import Session, aliased

from dispatch.travel import Geodesic
from fleet.audit import jsonable
from fleet.enums import (
    Category,
    LabelledEnum,
    MarkingStatus,
    Priority,
    TripStatus,
    VehicleStatus,
)
from fleet.errors import FieldError, PolicyError, error_location
from fleet.models import Agency, Assignment, AuditRecord, Quota, Trip, Vehicle
from fleet.policy import line_of, merge, parse_yaml
from fleet.settings import get_settings

SHIPPED_RULES = Path(__file__).with_name("usage_audit.yaml")
_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- the rules as data ------------------------------------------------------------------------------------------


class Weekday(StrEnum):
    monday = "monday"
    tuesday = "tuesday"
    wednesday = "wednesday"
    thursday = "thursday"
    friday = "friday"
    saturday = "saturday"
    sunday = "sunday"

    @property
    def iso(self) -> int:
        """ISO weekday number: Monday 1 ... Sunday 7, as ``date.isoweekday()``."""
        return list(Weekday).index(self) + 1


class WorkingHours(BaseModel):
    """Local working hours, both ends inclusive: a trip ending at 18:00 sharp ended within them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = time(8, 0)
    end: time = time(18, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 18:00 as the base-60 integer 1080, which pydantic would take as 00:18:00.
        if isinstance(value, int | float):
            raise ValueError("write the time as a quoted string, e.g. '18:00' (YAML reads unquoted 18:00 as a "
                             "number)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise FieldError("end", f"{self.end:%H:%M} is not after start {self.start:%H:%M}")
        return self

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


class Holiday(BaseModel):
    """A public holiday period (放假调休) and the make-up working days (调休上班) that pay for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=50)
    first: date
    last: date
    workdays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Holiday:
        if self.last < self.first:
            raise FieldError("last", f"{self.last} is before first {self.first}")
        if (self.last - self.first).days > 31:
            raise FieldError("last", f"a holiday of {(self.last - self.first).days + 1} days is not a holiday")
        for index, day in enumerate(self.workdays):
            if self.first <= day <= self.last:
                raise FieldError(f"workdays.{index}", f"make-up working day {day} falls inside the holiday itself")
        return self

    def days(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Days:
    """A calendar's answers as plain lookups: the audit asks them for every trip, so no model machinery here."""

    zone: ZoneInfo
    off: dict[date, str]
    on: dict[date, str]
    weekend: frozenset[int]
    start: time
    end: time

    @classmethod
    def of(cls, calendar: Calendar) -> _Days:
        return cls(
            zone=ZoneInfo(calendar.timezone),
            off={day: h.name for h in calendar.holidays for day in h.days()},
            on={day: h.name for h in calendar.holidays for day in h.workdays},
            weekend=frozenset(w.iso for w in calendar.weekend),
            start=calendar.working_hours.start, end=calendar.working_hours.end,
        )

    def day_off(self, day: date) -> str | None:
        if day in self.on:
            return None
        if day in self.off:
            return f"holiday {self.off[day]}"
        if day.isoweekday() in self.weekend:
            return "weekend"
        return None

    def in_hours(self, local: datetime) -> bool:
        return self.start <= local.time() <= self.end


class Calendar(BaseModel):
    """When official business is done: working hours on working days, in the country's time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Shanghai"
    # 08:00–18:00: offices keep roughly 08:30–17:30 (with a summer variant ending later), and a trip to a morning
    # meeting or back from a late one legitimately spills half an hour past either end. Tighter hours would flag
    # every commute-time pickup; wider ones would hide evening dinners.
    working_hours: WorkingHours = WorkingHours()
    weekend: frozenset[Weekday] = frozenset({Weekday.saturday, Weekday.sunday})
    holidays: tuple[Holiday, ...] = ()

    _days: _Days = PrivateAttr()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Asia/Shanghai')") from exc
        return value

    @model_validator(mode="after")
    def _no_workday_on_a_holiday(self) -> Calendar:
        off = {day: h.name for h in self.holidays for day in h.days()}
        for index, holiday in enumerate(self.holidays):
            for w, day in enumerate(holiday.workdays):
                if day in off:
                    raise FieldError(f"holidays.{index}.workdays.{w}",
                                     f"make-up working day {day} falls inside the holiday {off[day]}")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._days = _Days.of(self)

    @property
    def zone(self) -> ZoneInfo:
        return self._days.zone

    def day_off(self, day: date) -> str | None:
        """Why ``day`` is not a working day (``"weekend"`` or ``"holiday 春节"``), or None on a working day."""
        return self._days.day_off(day)

    def is_working_day(self, day: date) -> bool:
        """A weekday that is not a holiday, or a make-up working day."""
        return self.day_off(day) is None

    def is_working_time(self, moment: datetime) -> bool:
        """Whether an aware instant falls within working hours of a working day, local time."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime: say which time zone it is in")
        days = self._days
        local = moment.astimezone(days.zone)
        return days.day_off(local.date()) is None and days.in_hours(local)


class GeofenceKind(LabelledEnum):
    scenic_area = "scenic_area", "风景名胜区"
    entertainment = "entertainment", "娱乐场所"
    private_residence = "private_residence", "私人住宅"
    golf_course = "golf_course", "高尔夫球场"
    private_club = "private_club", "私人会所"
    resort = "resort", "度假村"
    other = "other", "其他"


Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class Geofence(BaseModel):
    """An area official vehicles have no business driving to; ``shape`` says which subclass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    kind: GeofenceKind

    def contains(self, lat: float, lon: float) -> bool:
        """Whether (lat, lon) lies inside the area."""
        raise NotImplementedError


class CircleGeofence(Geofence):
    shape: Literal["circle"] = "circle"
    lat: Latitude
    lon: Longitude
    radius_m: float = Field(gt=0, le=50_000)

    def distance_m(self, lat: float, lon: float) -> float:
        """WGS-84 geodesic metres from the centre."""
        return float(geodesic((self.lat, self.lon), (lat, lon)).meters)

    def contains(self, lat: float, lon: float) -> bool:
        # A generous box screens out far points before the geodesic: a degree of latitude is >= 110.5 km, and a
        # degree of longitude is shortest on the parallel nearest the pole that the circle reaches. The box only
        # ever answers "no" or "maybe"; the geodesic decides.
        dlat = self.radius_m / 110_000 + 1e-6
        reach = abs(self.lat) + dlat
        if abs(lat - self.lat) > dlat:
            return False
        dlon = abs((lon - self.lon + 180) % 360 - 180)
        if reach < 89.0 and dlon > dlat * 1.2 / math.cos(math.radians(reach)):
            return False
        return self.distance_m(lat, lon) <= self.radius_m


class PolygonGeofence(Geofence):
    """A polygon of [lat, lon] vertices; ray casting on plain lat/lon is exact enough at city scale."""

    shape: Literal["polygon"] = "polygon"
    vertices: tuple[tuple[Latitude, Longitude], ...] = Field(min_length=3, max_length=1000)

    def contains(self, lat: float, lon: float) -> bool:
        inside = False
        points = self.vertices
        for (lat1, lon1), (lat2, lon2) in zip(points, (*points[1:], points[0]), strict=True):
            if (lat1 > lat) != (lat2 > lat):
                crossing = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
                if lon < crossing:
                    inside = not inside
        return inside


AnyGeofence = Annotated[CircleGeofence | PolygonGeofence, Field(discriminator="shape")]


class AuditRules(BaseModel):
    """The usage audit's thresholds, calendar and geofences. The defaults here are the rules' own; the shipped
    ``usage_audit.yaml`` adds the holidays and example geofences."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: Calendar = Calendar()
    off_hours_exempt: frozenset[Priority] = Field(
        default=frozenset({Priority.emergency, Priority.law_enforcement}),
        description="Trip priorities that may run at any hour (应急 and 执法执勤 work round the clock).",
    )
    road_factor: float = Field(
        default=1.3, ge=1.0, le=5.0,
        description="Road km per geodesic km, as bookings and the dispatch engine estimate trips.",
    )
    odometer_gap_km: float = Field(
        default=30.0, ge=0,
        description="Unexplained km between consecutive trips tolerated before 无单出车 is suspected: a detour "
        "to refuel, charge, wash or reach the workshop in a city stays well within 30 km.",
    )
    overdriven_ratio: float = Field(
        default=1.5, ge=1.0,
        description="Odometer km over planned road km that is flagged: planned km is geodesic x 1.3, a city-wide "
        "average; 1.5 lets a route run ~15% longer than that estimate (river crossings, ring roads, one-way "
        "streets) before it is flagged.",
    )
    overdriven_slack_km: float = Field(
        default=5.0, ge=0,
        description="Km a trip may exceed its planned km by whatever the ratio: odometers read whole km (a 1 km "
        "trip can read 3) and a short trip's detour is a large multiple of nothing.",
    )
    geofences: tuple[AnyGeofence, ...] = ()
    geofence_exempt: frozenset[Priority] = Field(
        default=frozenset(),
        description="Trip priorities not checked against geofences (none by default: a supervisor reads the "
        "purpose of an enforcement trip to a KTV street rather than never seeing it).",
    )

    @model_validator(mode="after")
    def _unique_fence_names(self) -> AuditRules:
        seen: set[str] = set()
        for index, fence in enumerate(self.geofences):
            if fence.name in seen:
                raise FieldError(f"geofences.{index}.name", f"geofence {fence.name!r} is listed twice")
            seen.add(fence.name)
        return self

    def is_working_time(self, moment: datetime) -> bool:
        """Whether an aware instant falls within working hours of a working day (local time)."""
        return self.calendar.is_working_time(moment)


# --- loading ----------------------------------------------------------------------------------------------------

# pydantic puts a discriminated union's tag into the error location ("geofences.2.circle.radius_m"); the file
# has no such key.
_UNION_TAGS = frozenset({"circle", "polygon"})


def _read(path: Path) -> tuple[yaml.Node | None, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the usage audit rules ({exc.strerror or exc})") from exc
    node, raw = parse_yaml(path, text)
    if raw is None:
        return node, {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}:1: a usage audit rules file is a mapping of rule settings")
    return node, raw


def _validate(path: Path, node: yaml.Node | None, raw: Mapping[str, Any]) -> AuditRules:
    try:
        return AuditRules.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        full = error_location(err)
        loc = tuple(p for i, p in enumerate(full)
                    if not (p in _UNION_TAGS and i > 0 and isinstance(full[i - 1], int)))
        field = ".".join(str(p) for p in loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise PolicyError(f"{path}:{line_of(node, loc)}: field '{field}': {msg}", field=field) from exc


@lru_cache
def _shipped() -> tuple[dict[str, Any], AuditRules]:
    node, raw = _read(SHIPPED_RULES)
    return raw, _validate(SHIPPED_RULES, node, raw)


def default_rules() -> AuditRules:
    """The rules shipped in ``fleet/usage_audit.yaml`` (loaded once)."""
    return _shipped()[1]


def load_rules(path: Path) -> AuditRules:
    """A rules file over the shipped defaults, key by key; a bad file is refused naming file, line and field."""
    node, raw = _read(path)
    if path.resolve() == SHIPPED_RULES.resolve():
        return _validate(path, node, raw)
    return _validate(path, node, merge(_shipped()[0], raw))


@lru_cache
def _rules_file(path: Path) -> AuditRules:
    return load_rules(path)


def configured_rules() -> AuditRules:
    """The rules in ``GONGCHE_USAGE_AUDIT_FILE`` if set (loaded once per file), else the shipped defaults."""
    path = get_settings().usage_audit_file
    return default_rules() if path is None else _rules_file(path.resolve())


# --- findings ---------------------------------------------------------------------------------------------------


class FindingKind(LabelledEnum):
    """The rules, in the order findings at the same moment are listed."""

    off_hours = "off_hours", "非工作时间用车"
    odometer_gap = "odometer_gap", "无单出车(里程缺口)"
    overdriven = "overdriven", "行驶里程超出计划"
    geofence = "geofence", "驶入禁止区域"
    unusable_vehicle = "unusable_vehicle", "使用封存、维修或已处置车辆"
    over_quota = "over_quota", "超编制配备"
    unmarked = "unmarked", "未标识"


_KIND_ORDER = {kind: index for index, kind in enumerate(FindingKind)}


class Finding(BaseModel):
    """One lead for a supervisor: the rule, a one-sentence account, and the raw facts behind it."""

    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    detail: str
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


@dataclass(frozen=True)
class _Trip:
    """A trip with its active assignment's vehicle, as the rules read it."""

    id: int
    agency_id: int
    agency: str
    priority: Priority
    purpose: str
    status: TripStatus
    pickup: tuple[float, float]
    pickup_address: str
    dropoff: tuple[float, float]
    dropoff_address: str
    earliest_pickup: datetime
    planned_km: float
    started_at: datetime | None
    completed_at: datetime | None
    odometer_start_km: int | None
    odometer_end_km: int | None
    vehicle_id: int | None
    assigned_from: datetime | None
    assigned_to: datetime | None
    plate: str | None
    vehicle_agency_id: int | None
    vehicle_agency: str | None
    home: tuple[float, float] | None
    vehicle_status: VehicleStatus | None
    disposed_on: date | None

    @property
    def begins(self) -> tuple[datetime, str] | None:
        """When the vehicle set off: the recorded start, else the assignment's planned start."""
        if self.started_at is not None:
            return self.started_at, "actual"
        if self.assigned_from is not None:
            return self.assigned_from, "assigned"
        return None

    @property
    def ends(self) -> tuple[datetime, str] | None:
        """When it was done: the recorded completion; the assignment's planned end only for a trip not started."""
        if self.completed_at is not None:
            return self.completed_at, "actual"
        if self.started_at is None and self.assigned_to is not None:
            return self.assigned_to, "assigned"
        return None

    @property
    def when(self) -> datetime:
        begins = self.begins
        return begins[0] if begins is not None else self.earliest_pickup

    @property
    def readings(self) -> bool:
        return self.odometer_start_km is not None and self.odometer_end_km is not None

    def place(self, which: Literal["pickup", "dropoff"]) -> dict[str, Any]:
        lat, lon = self.pickup if which == "pickup" else self.dropoff
        address = self.pickup_address if which == "pickup" else self.dropoff_address
        return {"lat": lat, "lon": lon, "address": address}


_TRIP_AGENCY = aliased(Agency)
_VEHICLE_AGENCY = aliased(Agency)
_TRIP_COLUMNS = tuple(column.label(name) for name, column in (
    ("trip_id", Trip.id), ("agency_id", Trip.agency_id), ("agency", _TRIP_AGENCY.code), ("priority", Trip.priority),
    ("purpose", Trip.purpose), ("status", Trip.status), ("pickup_lat", Trip.pickup_lat),
    ("pickup_lon", Trip.pickup_lon), ("pickup_address", Trip.pickup_address), ("dropoff_lat", Trip.dropoff_lat),
    ("dropoff_lon", Trip.dropoff_lon), ("dropoff_address", Trip.dropoff_address),
    ("earliest_pickup", Trip.earliest_pickup), ("planned_km", Trip.planned_km), ("started_at", Trip.started_at),
    ("completed_at", Trip.completed_at), ("odometer_start_km", Trip.odometer_start_km),
    ("odometer_end_km", Trip.odometer_end_km), ("vehicle_id", Assignment.vehicle_id),
    ("assigned_from", Assignment.starts_at), ("assigned_to", Assignment.ends_at), ("plate", Vehicle.plate),
    ("vehicle_agency_id", Vehicle.agency_id), ("vehicle_agency", _VEHICLE_AGENCY.code),
    ("home_lat", Vehicle.home_lat), ("home_lon", Vehicle.home_lon), ("vehicle_status", Vehicle.status),
    ("disposed_on", Vehicle.disposed_on),
))
# Chunks of ids bound into one IN list: far below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 2000
_MOVES = ("vehicle.seal", "vehicle.unseal", "vehicle.maintenance_in", "vehicle.maintenance_out")
_DISPOSED = "vehicle.disposed"
_UNUSABLE = frozenset({VehicleStatus.sealed, VehicleStatus.maintenance, VehicleStatus.disposed})


def _trip_select() -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(*_TRIP_COLUMNS)
        .join(_TRIP_AGENCY, _TRIP_AGENCY.id == Trip.agency_id)
        .outerjoin(Assignment, sa.and_(Assignment.trip_id == Trip.id, Assignment.active))
        .outerjoin(Vehicle, Vehicle.id == Assignment.vehicle_id)
        .outerjoin(_VEHICLE_AGENCY, _VEHICLE_AGENCY.id == Vehicle.agency_id)
    )


def _trip(row: Sequence[Any]) -> _Trip:
    (trip_id, agency_id, agency, priority, purpose, status, p_lat, p_lon, p_addr, d_lat, d_lon, d_addr, earliest,
     planned, started, completed, odo_start, odo_end, vehicle_id, a_from, a_to, plate, v_agency_id, v_agency,
     home_lat, home_lon, v_status, disposed_on) = row
    return _Trip(
        id=trip_id, agency_id=agency_id, agency=agency, priority=priority, purpose=purpose, status=status,
        pickup=(p_lat, p_lon), pickup_address=p_addr, dropoff=(d_lat, d_lon), dropoff_address=d_addr,
        earliest_pickup=earliest, planned_km=planned, started_at=started, completed_at=completed,
        odometer_start_km=odo_start, odometer_end_km=odo_end, vehicle_id=vehicle_id, assigned_from=a_from,
        assigned_to=a_to, plate=plate, vehicle_agency_id=v_agency_id, vehicle_agency=v_agency,
        home=(home_lat, home_lon) if home_lat is not None and home_lon is not None else None,
        vehicle_status=v_status, disposed_on=disposed_on,
    )


def _happened() -> sa.ColumnElement[bool]:
    """Trips that ran or are still to run: neither refused nor withdrawn before the vehicle set off."""
    return sa.or_(Trip.status.not_in((TripStatus.rejected, TripStatus.cancelled)), Trip.started_at.is_not(None))


def _window_trips(session: Session, start: datetime, end: datetime, agency_ids: list[int] | None) -> list[_Trip]:
    """Trips timed (started_at, else earliest_pickup) in [start, end): the scoped agencies' own, and every trip
    driven by one of their vehicles (an odometer gap needs the vehicle's whole sequence)."""
    stmt = _trip_select().where(
        _happened(),
        sa.or_(
            sa.and_(Trip.started_at.is_not(None), Trip.started_at >= start, Trip.started_at < end),
            sa.and_(Trip.started_at.is_(None), Trip.earliest_pickup >= start, Trip.earliest_pickup < end),
        ),
    )
    if agency_ids is not None:
        stmt = stmt.where(sa.or_(Trip.agency_id.in_(agency_ids), Vehicle.agency_id.in_(agency_ids)))
    return [_trip(row) for row in session.execute(stmt.order_by(Trip.id))]


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i:i + _CHUNK]


def _previous_trips(session: Session, vehicle_ids: Iterable[int], before: datetime) -> dict[int, _Trip]:
    """Each vehicle's last trip started before ``before``: the first link of its sequence in the window."""
    found: dict[int, _Trip] = {}
    for chunk in _chunks(vehicle_ids):
        ranked = (
            _trip_select()
            .add_columns(sa.func.row_number().over(
                partition_by=Assignment.vehicle_id, order_by=(Trip.started_at.desc(), Trip.id.desc()),
            ).label("rank"))
            .where(_happened(), Trip.started_at.is_not(None), Trip.started_at < before,
                   Assignment.vehicle_id.in_(chunk))
            .subquery()
        )
        rows = session.execute(sa.select(*(c for c in ranked.c if c.name != "rank")).where(ranked.c.rank == 1))
        for row in rows:
            trip = _trip(row)
            if trip.vehicle_id is not None:
                found[trip.vehicle_id] = trip
    return found


@dataclass(frozen=True)
class _Change:
    seq: int
    at: datetime
    action: str
    before: VehicleStatus | None
    after: VehicleStatus | None
    reason: str | None


def _status_log(session: Session, vehicle_ids: Iterable[int]) -> dict[int, list[_Change]]:
    """Each vehicle's status changes and disposal from the audit log, in log order."""
    log: dict[int, list[_Change]] = defaultdict(list)
    for chunk in _chunks(vehicle_ids):
        rows = session.execute(
            sa.select(AuditRecord.seq, AuditRecord.at, AuditRecord.action, AuditRecord.entity_id,
                      AuditRecord.changes)
            .where(AuditRecord.entity == Vehicle.audit_entity, AuditRecord.entity_id.in_([str(i) for i in chunk]),
                   AuditRecord.action.in_((*_MOVES, _DISPOSED)))
            .order_by(AuditRecord.seq)
        )
        for seq, at, action, entity_id, changes in rows:
            log[int(entity_id)].append(_Change(
                seq=seq, at=at, action=action, before=_status(changes.get("from")),
                after=VehicleStatus.disposed if action == _DISPOSED else _status(changes.get("to")),
                reason=changes.get("reason") or changes.get("note"),
            ))
    return log


def _status(value: Any) -> VehicleStatus | None:
    try:
        return VehicleStatus(value)
    except ValueError:
        return None


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
    if trip_kinds:
        trips = _window_trips(session, start, end, scope)
        own = [t for t in trips if scope is None or t.agency_id in scope]
        if FindingKind.off_hours in wanted:
            out.extend(_off_hours(own, rules))
        if FindingKind.overdriven in wanted:
            out.extend(_overdriven(own, rules))
        if FindingKind.geofence in wanted:
            out.extend(_geofence(own, rules))
        if FindingKind.unusable_vehicle in wanted:
            used = [t for t in own if t.vehicle_id is not None and t.begins is not None]
            log = _status_log(session, (t.vehicle_id for t in used if t.vehicle_id is not None))
            out.extend(_unusable(used, log, rules))
        if FindingKind.odometer_gap in wanted:
            driven = [t for t in trips if t.vehicle_id is not None and t.started_at is not None
                      and (scope is None or t.vehicle_agency_id in scope)]
            previous = _previous_trips(session, {t.vehicle_id for t in driven if t.vehicle_id is not None}, start)
            out.extend(_odometer_gaps(driven, previous, rules))

    if wanted & {FindingKind.over_quota, FindingKind.unmarked}:
        fleet = _fleet(session, scope)
        if FindingKind.over_quota in wanted:
            out.extend(_over_quota(fleet))
        if FindingKind.unmarked in wanted:
            out.extend(_unmarked(fleet))

    out.sort(key=lambda f: (f.at or start, _KIND_ORDER[f.kind], f.agency or "", f.plate or "", f.trip_id or 0,
                            f.detail))
    return out


# --- the rules --------------------------------------------------------------------------------------------------


def _local(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{_WEEKDAY_ABBR[local.weekday()]} {local:%Y-%m-%d %H:%M}"


def _vehicle_words(trip: _Trip) -> str:
    return f" ({trip.plate})" if trip.plate else ""


def _off_hours(trips: Iterable[_Trip], rules: AuditRules) -> Iterator[Finding]:
    calendar = rules.calendar
    days = calendar._days
    hours = calendar.working_hours
    for trip in trips:
        begins, ends = trip.begins, trip.ends
        if trip.priority in rules.off_hours_exempt or begins is None:
            continue
        local = {"start": begins[0].astimezone(days.zone)}
        if ends is not None:
            local["end"] = ends[0].astimezone(days.zone)
        day_off = {label: days.day_off(moment.date()) for label, moment in local.items()}
        reasons: list[str] = []
        words: list[str] = []
        for label, moment in local.items():
            verb = "started" if label == "start" else "ended"
            off = day_off[label]
            if off == "weekend":
                reasons.append(f"{label}_weekend")
                words.append(f"{verb} {_local(moment, days.zone)}, a weekend day")
            elif off is not None:
                reasons.append(f"{label}_holiday")
                words.append(f"{verb} {_local(moment, days.zone)}, a public {off}")
            elif not days.in_hours(moment):
                reasons.append(f"{label}_outside_hours")
                words.append(f"{verb} {_local(moment, days.zone)}, outside working hours {hours}")
        if "end" in local and local["start"].date() != local["end"].date():
            reasons.append("overnight")
            words.append(f"ran overnight from {_local(local['start'], days.zone)} to "
                         f"{_local(local['end'], days.zone)}")
        if not reasons:
            continue
        yield Finding(
            kind=FindingKind.off_hours,
            detail=f"Routine trip {trip.id}{_vehicle_words(trip)} " + " and ".join(words) + " (local time).",
            at=begins[0], agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
            evidence={
                "trip_id": trip.id, "priority": trip.priority, "purpose": trip.purpose, "status": trip.status,
                "start": begins[0], "start_local": local["start"].isoformat(), "start_source": begins[1],
                "end": ends[0] if ends else None, "end_local": local["end"].isoformat() if ends else None,
                "end_source": ends[1] if ends else None, "day_off": day_off,
                "working_hours": str(hours), "timezone": calendar.timezone, "reasons": reasons,
            },
        )


def _overdriven(trips: Iterable[_Trip], rules: AuditRules) -> Iterator[Finding]:
    for trip in trips:
        if trip.status is not TripStatus.completed or trip.odometer_start_km is None or trip.odometer_end_km is None:
            continue
        driven = trip.odometer_end_km - trip.odometer_start_km
        limit = max(trip.planned_km * rules.overdriven_ratio, trip.planned_km + rules.overdriven_slack_km)
        if driven <= limit:
            continue
        ratio = driven / trip.planned_km if trip.planned_km > 0 else None
        times = f" ({ratio:.1f}×)" if ratio is not None else ""
        yield Finding(
            kind=FindingKind.overdriven,
            detail=f"Trip {trip.id}{_vehicle_words(trip)} drove {driven} km by the odometer "
                   f"({trip.odometer_start_km} → {trip.odometer_end_km}) against {trip.planned_km:.1f} km "
                   f"planned{times}, above the {limit:.1f} km allowed.",
            at=trip.when, agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
            evidence={
                "trip_id": trip.id, "purpose": trip.purpose, "started_at": trip.started_at,
                "completed_at": trip.completed_at, "odometer_start_km": trip.odometer_start_km,
                "odometer_end_km": trip.odometer_end_km, "driven_km": driven,
                "planned_km": round(trip.planned_km, 1), "ratio": round(ratio, 2) if ratio is not None else None,
                "allowed_km": round(limit, 1), "overdriven_ratio": rules.overdriven_ratio,
                "overdriven_slack_km": rules.overdriven_slack_km,
                "pickup": trip.place("pickup"), "dropoff": trip.place("dropoff"),
            },
        )


def _geofence(trips: Iterable[_Trip], rules: AuditRules) -> Iterator[Finding]:
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
            where = f"{fence.name} ({fence.kind.value})"
            if isinstance(fence, CircleGeofence):
                distance = fence.distance_m(lat, lon)
                extra = {"distance_m": round(distance, 1), "radius_m": fence.radius_m,
                         "centre": {"lat": fence.lat, "lon": fence.lon}}
                where += f", {distance:.0f} m from its centre within a {fence.radius_m:.0f} m radius"
            yield Finding(
                kind=FindingKind.geofence,
                detail=f"{trip.priority.value.replace('_', ' ').capitalize()} trip {trip.id}{_vehicle_words(trip)} "
                       f"drops off at {trip.dropoff_address or f'{lat:.5f},{lon:.5f}'}, inside the prohibited "
                       f"area {where}.",
                at=trip.when, agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
                evidence={
                    "trip_id": trip.id, "priority": trip.priority, "purpose": trip.purpose, "status": trip.status,
                    "time": trip.when, "dropoff": trip.place("dropoff"), "pickup": trip.place("pickup"),
                    "geofence": fence.name, "geofence_kind": fence.kind, "geofence_shape": fence.shape, **extra,
                },
            )


_Basis = Literal["set_by", "before", "current"]


def _status_at(trip: _Trip, changes: Sequence[_Change], zone: ZoneInfo) -> tuple[VehicleStatus | None,
                                                                               _Change | None, _Basis]:
    """The vehicle's status when the trip began, the log record it is read from, and how: the record ``set_by``
    it, the first later record changed ``from`` it (``before``), or no record at all (``current`` status)."""
    assert trip.begins is not None
    moment = trip.begins[0]
    disposal = next((c for c in changes if c.action == _DISPOSED), None)
    if trip.disposed_on is not None:
        # Disposal is dated, not timed: the vehicle may still be driven to the auction or the scrapyard that day.
        if moment.astimezone(zone).date() > trip.disposed_on:
            return VehicleStatus.disposed, disposal, "set_by" if disposal else "current"
    elif disposal is not None and moment >= disposal.at:
        return VehicleStatus.disposed, disposal, "set_by"
    moves = [c for c in changes if c.action != _DISPOSED]
    index = bisect_right([c.at for c in moves], moment)
    if index:
        return moves[index - 1].after, moves[index - 1], "set_by"
    if moves:
        return moves[0].before, moves[0], "before"
    # No move was ever logged: the vehicle has been in its present status all along (bar a disposal, seen above).
    status = trip.vehicle_status
    return (None if status is VehicleStatus.disposed else status), None, "current"


def _unusable(trips: Iterable[_Trip], log: Mapping[int, Sequence[_Change]], rules: AuditRules) -> Iterator[Finding]:
    for trip in trips:
        assert trip.vehicle_id is not None
        assert trip.begins is not None
        status, change, basis = _status_at(trip, log.get(trip.vehicle_id, ()), rules.calendar.zone)
        if status is None or status not in _UNUSABLE:
            continue
        moment, source = trip.begins
        zone = rules.calendar.zone
        if status is VehicleStatus.disposed and trip.disposed_on is not None:
            since = f"disposed of on {trip.disposed_on}" + (f" (audit record #{change.seq})" if change else "")
        elif change is not None and basis == "set_by":
            since = f"since {_local(change.at, zone)} (audit record #{change.seq})"
        elif change is not None:
            since = f"until {_local(change.at, zone)} (audit record #{change.seq} changed it from {status.value})"
        else:
            since = "by its status on record, never changed in the audit log"
        verb = "started" if source == "actual" else "is assigned to start"
        yield Finding(
            kind=FindingKind.unusable_vehicle,
            detail=f"Trip {trip.id} {verb} {_local(moment, zone)} on {trip.plate}, which was "
                   f"{status.value} ({status.zh}) {since}.",
            at=moment, agency=trip.agency, plate=trip.plate, vehicle_id=trip.vehicle_id, trip_id=trip.id,
            evidence={
                "trip_id": trip.id, "purpose": trip.purpose, "trip_status": trip.status, "time": moment,
                "time_source": source, "vehicle_status": status, "status_basis": basis,
                "audit_seq": change.seq if change else None, "audit_action": change.action if change else None,
                "audit_at": change.at if change else None, "reason": change.reason if change else None,
                "disposed_on": trip.disposed_on,
            },
        )


def _odometer_gaps(trips: Iterable[_Trip], previous: Mapping[int, _Trip], rules: AuditRules) -> Iterator[Finding]:
    travel = Geodesic(road_factor=rules.road_factor)
    by_vehicle: dict[int, list[_Trip]] = defaultdict(list)
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
            via = "via its home yard" if home is not None else "direct (no home yard on record)"
            yield Finding(
                kind=FindingKind.odometer_gap,
                detail=f"{nxt.plate} ran {gap} km between trip {prev.id} (odometer {prev.odometer_end_km} km at "
                       f"drop-off) and trip {nxt.id} ({nxt.odometer_start_km} km at pickup), {excess:.1f} km "
                       f"more than the {expected:.1f} km drive {via}.",
                at=nxt.started_at, agency=nxt.vehicle_agency, plate=nxt.plate, vehicle_id=vehicle_id,
                trip_id=nxt.id,
                evidence={
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


@dataclass(frozen=True)
class _Held:
    id: int
    plate: str
    agency_id: int
    agency: str
    category: Category
    status: VehicleStatus
    marking: MarkingStatus
    marking_exemption: str | None
    limit: int | None


def _fleet(session: Session, scope: list[int] | None) -> list[_Held]:
    """Vehicles on the books (every status but disposed), with their agency's quota for the category."""
    stmt = (
        sa.select(Vehicle.id, Vehicle.plate, Vehicle.agency_id, Agency.code, Vehicle.category, Vehicle.status,
                  Vehicle.marking, Vehicle.marking_exemption, Quota.limit)
        .join(Agency, Agency.id == Vehicle.agency_id)
        .outerjoin(Quota, sa.and_(Quota.agency_id == Vehicle.agency_id, Quota.category == Vehicle.category))
        .where(Vehicle.status != VehicleStatus.disposed)
        .order_by(Agency.code, Vehicle.plate)
    )
    if scope is not None:
        stmt = stmt.where(Vehicle.agency_id.in_(scope))
    return [_Held(*row) for row in session.execute(stmt)]


def _over_quota(fleet: Iterable[_Held]) -> Iterator[Finding]:
    groups: dict[tuple[str, Category], list[_Held]] = defaultdict(list)
    for vehicle in fleet:
        groups[vehicle.agency, vehicle.category].append(vehicle)
    for (agency, category), held in sorted(groups.items(), key=lambda group: group[0]):
        limit = held[0].limit or 0  # no quota row: the agency may hold none (编制 0)
        if len(held) <= limit:
            continue
        yield Finding(
            kind=FindingKind.over_quota,
            detail=f"Agency {agency} holds {len(held)} {category.value} ({category.zh}) vehicles against a quota "
                   f"of {limit}, {len(held) - limit} over.",
            agency=agency,
            evidence={
                "agency": agency, "category": category, "held": len(held), "limit": limit,
                "excess": len(held) - limit, "plates": [v.plate for v in held],
                "statuses": {v.plate: v.status for v in held},
            },
        )


def _unmarked(fleet: Iterable[_Held]) -> Iterator[Finding]:
    for vehicle in fleet:
        if vehicle.marking is not MarkingStatus.unmarked or (vehicle.marking_exemption or "").strip():
            continue
        yield Finding(
            kind=FindingKind.unmarked,
            detail=f"Vehicle {vehicle.plate} of {vehicle.agency} ({vehicle.category.value}, {vehicle.status.value}) "
                   f"carries no official-vehicle marking and has no recorded exemption.",
            agency=vehicle.agency, plate=vehicle.plate, vehicle_id=vehicle.id,
            evidence={
                "vehicle_id": vehicle.id, "plate": vehicle.plate, "agency": vehicle.agency,
                "category": vehicle.category, "status": vehicle.status, "marking": vehicle.marking,
                "marking_exemption": vehicle.marking_exemption,
            },
        )
