"""Response bodies (``XOut``), the few request bodies that exist only at the HTTP edge (``XIn``), and the types
every route shares: instants as the API writes them, date-or-instant filters, list pages.

Request bodies of domain operations are `fleet.schemas`' models themselves: one definition, one set of bounds.

**Instants** leave the API in one form, ``YYYY-MM-DDTHH:MM:SS+08:00`` (China time, whole seconds), whatever zone
they were stored or sent in: every instant field of a response is an `Instant`, and every free-form object a
response carries (audit ``changes``, findings' ``evidence``, a dispatch summary) is a `JsonObject`, whose instants,
stored as ISO text in UTC, are written the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from fleet.clock import CHINA, local_moment
from fleet.enums import (
    AssignmentSource,
    Category,
    CostKind,
    LicenceClass,
    MarkingStatus,
    PlanStatus,
    Powertrain,
    Priority,
    RunStatus,
    TripStatus,
    VehicleStatus,
)
from fleet.i18n import msg
from fleet.queries import CalendarItem
from fleet.schemas import Day, DisposalIn, Input, Moment, VehicleIn
from fleet.usage_audit import FindingKind

Id = int
MAX_PAGE = 200
MAX_TIME_LIMIT = 60.0


# --- instants -----------------------------------------------------------------------------------------------------


def china_instant(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+08:00``: the instant in China time, to the second (a naive value is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(CHINA).isoformat(timespec="seconds")


# An ISO 8601 instant as Python writes one (isoformat) or a client sends one: date, time, and an offset or Z.
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})")


def china_json(value: Any) -> Any:
    """``value`` with every instant in it, a datetime or ISO text with an offset, written as `china_instant`."""
    if isinstance(value, datetime):
        return china_instant(value)
    if isinstance(value, str):
        if _ISO_INSTANT.fullmatch(value):
            try:
                return china_instant(datetime.fromisoformat(value))
            except ValueError:
                return value
        return value
    if isinstance(value, Mapping):
        return {key: china_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [china_json(item) for item in value]
    return value


def _china_object(value: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = china_json(value)
    return found


INSTANT_EXAMPLE = "2026-12-01T09:00:00+08:00"
Instant = Annotated[datetime, PlainSerializer(china_instant, return_type=str, when_used="json"),
                    WithJsonSchema({"type": "string", "format": "date-time", "examples": [INSTANT_EXAMPLE]},
                                   mode="serialization")]
"""An instant in a response: written ``2026-12-01T09:00:00+08:00``."""
JsonObject = Annotated[dict[str, Any], PlainSerializer(_china_object, return_type=dict[str, Any], when_used="json")]
"""A free-form object in a response; the instants in it are written as an `Instant` is."""


# --- date-or-instant filters --------------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _local_day(value: Any, *, after: bool) -> Any:
    if not (isinstance(value, str) and _DATE.fullmatch(value)):
        return value  # an instant (or a mistake): the Moment it must be says which
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(msg("is not a date (YYYY-MM-DD) or an instant with its offset")) from None
    try:
        return local_moment(day + timedelta(days=1) if after else day)
    except OverflowError:
        raise ValueError(msg("must fall between 2000 and 2100")) from None


def _day_start(value: Any) -> Any:
    return _local_day(value, after=False)


def _day_end(value: Any) -> Any:
    return _local_day(value, after=True)


_DATE_OR_INSTANT = WithJsonSchema({"anyOf": [{"type": "string", "format": "date"},
                                             {"type": "string", "format": "date-time"}]}, mode="validation")
Since = Annotated[Moment, BeforeValidator(_day_start), _DATE_OR_INSTANT]
"""A filter's start, inclusive: an instant, or a date meaning from the start of that day in China time."""
Until = Annotated[Moment, BeforeValidator(_day_end), _DATE_OR_INSTANT]
"""A filter's end: an instant (exclusive), or a date meaning up to the end of that day in China time (inclusive)."""


# --- pages --------------------------------------------------------------------------------------------------------

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]
ItemT = TypeVar("ItemT")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[ItemT]):
    """One page of a list: its ``items``, how many the whole list holds (``total``), and the page asked for."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int


class PlaceOut(Out):
    lat: float
    lon: float
    address: str


class AssignmentOut(Out):
    id: Id
    vehicle_id: Id
    plate: str
    driver_id: Id | None
    driver: str | None
    starts_at: Instant
    ends_at: Instant
    source: AssignmentSource
    run_id: Id | None


class TripOut(Out):
    id: Id
    agency: str
    purpose: str
    priority: Priority
    priority_reason: str | None = Field(default=None, description="why it is an emergency or law enforcement")
    categories: list[Category]
    passengers: int
    pickup: PlaceOut
    dropoff: PlaceOut
    earliest_pickup: Instant
    latest_pickup: Instant
    dwell_min: int
    planned_km: float
    status: TripStatus
    decision_note: str | None
    dispatch_note: str | None = Field(default=None, description="why the engine left it unassigned, if it did")
    requested_by: str | None
    assignment: AssignmentOut | None
    started_at: Instant | None
    completed_at: Instant | None
    odometer_start_km: int | None
    odometer_end_km: int | None
    created_at: Instant


class TripPage(PageOut[TripOut]):
    pass


class DecisionIn(Input):
    note: str | None = Field(default=None, max_length=500)


class RejectIn(Input):
    note: str = Field(min_length=2, max_length=500, description="why the trip is refused")


class DispatchIn(Input):
    start: Moment = Field(description="first pickup time dispatched", examples=["2026-11-24T00:00:00+08:00"])
    end: Moment = Field(description="end of the window (exclusive)", examples=["2026-11-25T00:00:00+08:00"])
    time_limit: float = Field(default=10.0, gt=0, le=MAX_TIME_LIMIT, description="solver seconds")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class UnservedOut(BaseModel):
    trip_id: Id
    priority: Priority
    reason: str


class DispatchOut(BaseModel):
    run_id: Id
    trips: int
    vehicles_available: int
    served: dict[Priority, int]
    offered: dict[Priority, int]
    unserved: list[UnservedOut]
    refused_at_commit: list[JsonObject]
    deadhead_km: float
    total_km: float
    vehicles_used: int
    routes_without_driver: int
    bounds: JsonObject
    gap: dict[str, float]
    status: str
    stopped_by: str
    solve_seconds: float
    build_seconds: float


class MovedOut(BaseModel):
    trip_id: Id
    plate: str
    before: Instant = Field(description="the confirmed pickup on the slip")
    after: Instant = Field(description="the pickup now")


class UrgentOut(BaseModel):
    """An emergency booked by a dispatcher: placed at once, with what it displaced."""

    vehicle: str | None
    reason: str | None = Field(description="why no vehicle could take it, when none did")
    displaced: list[Id]
    replaced: dict[str, str] = Field(description="displaced trip id -> the vehicle that took it instead")
    unplaced: list[Id]
    moved: list[MovedOut] = Field(default_factory=list, description="confirmed pickups the placement changed: "
                                  "tell whoever holds their slips")
    milliseconds: float


class BookingOut(TripOut):
    urgent: UrgentOut | None = None


class VehicleOut(Out):
    id: Id
    plate: str
    vin: str
    model: str
    agency: str
    category: Category
    powertrain: Powertrain
    seats: int
    price_cny: Decimal
    range_km: int | None
    acquired_on: date
    odometer_km: int
    status: VehicleStatus
    marking: MarkingStatus
    home_lat: float | None
    home_lon: float | None


class DriverOut(Out):
    id: Id
    name: str
    licence_class: LicenceClass
    agency: str | None
    shift_start: str
    shift_end: str
    active: bool


class AgencyOut(Out):
    id: Id
    code: str
    name: str


class QuotaOut(Out):
    agency: str
    category: Category
    limit: int


class PlanOut(Out):
    id: Id
    agency: str
    year: int
    status: PlanStatus
    title: str
    decision_note: str | None


class CostOut(Out):
    id: Id
    vehicle_id: Id
    kind: CostKind
    incurred_on: date
    amount_cny: Decimal


class ReasonIn(Input):
    reason: str = Field(min_length=2, max_length=500)


class StatusMoveIn(Input):
    reason: str = Field(min_length=2, max_length=500)
    odometer_km: int | None = Field(default=None, ge=0, le=3_000_000)
    on: Day | None = None


class RenewIn(Input):
    plan_line_id: Id = Field(ge=1, le=2**31 - 1)
    replaced_vehicle_id: Id = Field(ge=1, le=2**31 - 1)
    vehicle: VehicleIn
    disposal: DisposalIn


class AuditOut(Out):
    seq: int
    at: Instant
    actor: str
    action: str
    entity: str
    entity_id: str
    changes: JsonObject
    prev_hash: str
    hash: str


class AuditPage(PageOut[AuditOut]):
    pass


class VerifyOut(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    broken_seq: int | None
    reason: str | None
    checkpoint: JsonObject | None = Field(description="the latest checkpoint checked, if any")
    rows: int | None = Field(default=None, description="rows of the audited tables checked against the log")
    table: str | None = Field(default=None, description="the table of the first row not as the log states it")
    row_id: str | None = Field(default=None, description="that row's id")


ReportFormat = Literal["json", "csv", "xlsx"]


class FindingOut(Out):
    """A usage-audit finding (`fleet.usage_audit.Finding`) as the API writes it."""

    kind: FindingKind
    detail: str
    at: Instant | None = None
    agency: str | None = None
    plate: str | None = None
    vehicle_id: Id | None = None
    trip_id: Id | None = None
    evidence: JsonObject = Field(default_factory=dict)


class FindingPage(PageOut[FindingOut]):
    pass


class VehiclePage(PageOut[VehicleOut]):
    pass


class DriverPage(PageOut[DriverOut]):
    pass


class AgencyPage(PageOut[AgencyOut]):
    pass


class QuotaPage(PageOut[QuotaOut]):
    pass


class UnassignIn(Input):
    note: str | None = Field(default=None, max_length=500, description="why the trip leaves its vehicle")


class CalendarItemOut(BaseModel):
    """A block of a vehicle's calendar: an assignment (its trip's facts with it), or a sealed or workshop period."""

    id: str = Field(description="a<assignment id>, or s/w and the audit seq of the move that began the period",
                    examples=["a57", "s3", "w9"])
    vehicle_id: Id
    kind: Literal["assignment", "sealed", "workshop"]
    start: Instant
    end: Instant
    trip_id: Id | None = None
    priority: Priority | None = None
    status: TripStatus | None = None
    purpose: str | None = None
    driver: str | None = None
    agency: str | None = Field(default=None, description="the trip's agency (code)")

    @classmethod
    def of(cls, item: CalendarItem) -> CalendarItemOut:
        return cls(id=item.id, vehicle_id=item.vehicle_id, kind=item.kind, start=item.start, end=item.end,
                   trip_id=item.trip_id, priority=item.priority, status=item.status, purpose=item.purpose,
                   driver=item.driver, agency=item.agency)


class CalendarOut(BaseModel):
    vehicle: VehicleOut
    start: Instant = Field(description="the window shown, [start, end)")
    end: Instant
    items: list[CalendarItemOut]


class BoardVehicleOut(VehicleOut):
    drivers: list[str] = Field(description="who drives it that day, by first trip")


class BoardOut(BaseModel):
    day: date
    start: Instant
    end: Instant
    vehicles: list[BoardVehicleOut]
    items: list[CalendarItemOut]
    queue: list[TripOut] = Field(description="approved trips of the day not yet assigned, emergencies first")


class KnownPlaceOut(BaseModel):
    name: str
    lat: float
    lon: float
    kind: Literal["agency", "depot", "trip"]


class DispatchRunOut(BaseModel):
    id: Id
    status: RunStatus
    actor: str
    holder: str | None = Field(description="the process working on a running run (host:pid:start)")
    window_start: Instant
    window_end: Instant
    started_at: Instant
    finished_at: Instant | None
    time_limit: float
    summary: DispatchOut | None = Field(description="what the run did, once it is done")
    error: str | None = Field(default=None, description="why a failed run failed")


class DispatchRunPage(PageOut[DispatchRunOut]):
    pass
