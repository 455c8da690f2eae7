"""Response bodies (``XOut``) and the few request bodies that exist only at the HTTP edge (``XIn``).

Request bodies of domain operations are `fleet.schemas`' models themselves: one definition, one set of bounds.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleet.enums import (
    AssignmentSource,
    Category,
    CostKind,
    LicenceClass,
    MarkingStatus,
    PlanStatus,
    Powertrain,
    Priority,
    TripStatus,
    VehicleStatus,
)
from fleet.schemas import Day, DisposalIn, Input, Moment, VehicleIn

Id = int
MAX_PAGE = 200
MAX_TIME_LIMIT = 60.0


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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
    starts_at: datetime
    ends_at: datetime
    source: AssignmentSource
    run_id: Id | None


class TripOut(Out):
    id: Id
    agency: str
    purpose: str
    priority: Priority
    categories: list[Category]
    passengers: int
    pickup: PlaceOut
    dropoff: PlaceOut
    earliest_pickup: datetime
    latest_pickup: datetime
    dwell_min: int
    planned_km: float
    status: TripStatus
    decision_note: str | None
    dispatch_note: str | None = Field(default=None, description="why the engine left it unassigned, if it did")
    requested_by: str | None
    assignment: AssignmentOut | None
    started_at: datetime | None
    completed_at: datetime | None
    odometer_start_km: int | None
    odometer_end_km: int | None
    created_at: datetime


class TripPage(Out):
    items: list[TripOut]
    total: int
    limit: int
    offset: int


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
    refused_at_commit: list[dict[str, Any]]
    deadhead_km: float
    total_km: float
    vehicles_used: int
    routes_without_driver: int
    bounds: dict[str, Any]
    gap: dict[str, float]
    status: str
    stopped_by: str
    solve_seconds: float
    build_seconds: float


class MovedOut(BaseModel):
    trip_id: Id
    plate: str
    before: datetime = Field(description="the confirmed pickup on the slip")
    after: datetime = Field(description="the pickup now")


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
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    changes: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(Out):
    items: list[AuditOut]
    total: int
    limit: int
    offset: int


class VerifyOut(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    broken_seq: int | None
    reason: str | None
    checkpoint: dict[str, Any] | None = Field(description="the latest checkpoint checked, if any")
    rows: int | None = Field(default=None, description="rows of the audited tables checked against the log")
    table: str | None = Field(default=None, description="the table of the first row not as the log states it")
    row_id: str | None = Field(default=None, description="that row's id")


ReportFormat = Literal["json", "csv", "xlsx"]
