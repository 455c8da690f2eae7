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

from fastapi import Path, Query
from pydantic import (
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from api.errors import request_language
from dispatch.messages import Text
from dispatch.reasons import CODES, TEMPLATES
from fleet.clock import CHINA, local_moment
from fleet.dispatching import NOTE_TEMPLATES
from fleet.enums import (
    AssignmentSource,
    Category,
    CostKind,
    EarlyRenewalBasis,
    JurisdictionLevel,
    LicenceClass,
    MarkingStatus,
    PlanLineKind,
    PlanStatus,
    PositionSource,
    Powertrain,
    Priority,
    RunStatus,
    TripStatus,
    VehicleSource,
    VehicleStatus,
)
from fleet.i18n import Message, msg, parsed, role_name, translate, unsaid
from fleet.queries import CalendarItem
from fleet.reminders import ReminderKind
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


# --- sentences in the reader's language -----------------------------------------------------------------------------


def _as_message(value: Any) -> Any:
    """A sentence as its message: kept as it is, made from its stable code and parameters (`fleet.i18n.said`), or
    read back from the English text a row stored (`fleet.i18n.parsed`)."""
    if isinstance(value, Mapping) and "code" in value:
        return unsaid(value, TEMPLATES)
    return parsed(value, NOTE_TEMPLATES) if isinstance(value, str) else value


def in_language(value: Any) -> Any:
    """A message in the language of the request being served (`Accept-Language`); anything else as it is."""
    return translate(value, request_language()) if isinstance(value, Message) else value


Said = Annotated[Text, BeforeValidator(_as_message), PlainSerializer(in_language, return_type=str, when_used="json")]
"""A sentence in a response (an engine's reason, a trip's dispatch note): worded in the request's language, from
the message it was made from, its stored code and parameters, or its stored English text."""


def _coded_json(value: dict[str, Any]) -> dict[str, Any]:
    """A free-form object whose ``reason`` is worded in the request's language (from its ``code`` and ``params``
    where it has them); its instants written as an `Instant` is."""
    reason = value.get("reason")
    if isinstance(reason, str):
        coded = {"code": value["code"], "params": value.get("params") or {}, "text": reason} \
            if isinstance(value.get("code"), str) else reason
        value = {**value, "reason": in_language(_as_message(coded))}
    return _china_object(value)


CodedJson = Annotated[dict[str, Any], PlainSerializer(_coded_json, return_type=dict[str, Any], when_used="json")]
"""A free-form object with a ``reason`` (a run's refusals at commit): worded in the request's language."""


def _actor(value: Any) -> Any:
    """``name (role)`` with the role named in the request's language: ``demo-dispatcher（平台调度员）``."""
    if not isinstance(value, str) or isinstance(value, Message):
        return value
    name, _, rest = value.rpartition(" (")
    role = rest.removesuffix(")")
    if not name or not rest.endswith(")") or not isinstance(role_name(role), Message):
        return value
    return msg("{name} ({role})", name=name, role=role_name(role))


ActorName = Annotated[Text, BeforeValidator(_actor), PlainSerializer(in_language, return_type=str, when_used="json")]
"""Who did it, ``name (role)``, the role in the request's language."""


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
        raise ValueError(msg("must fall from 2000-01-01 to 2099-12-31, China time")) from None


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

def _digits(value: Any) -> Any:
    # pydantic would read "1.0" and " 1" as row 1: a path that names another row than it spells is refused.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError(msg("is not a row number (digits only)"))
    return value


# A row id in a path: what the databases store, spelt in digits only.
ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1), BeforeValidator(_digits)]
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


class RentalOut(BaseModel):
    provider: str = Field(description="the provider's code")
    cost_cny: Decimal


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
    dispatch_note: Said | None = Field(default=None, description="why the engine left it unassigned, if it did, in "
                                       "the request's language")
    requested_by: str | None
    assignment: AssignmentOut | None
    started_at: Instant | None
    completed_at: Instant | None
    odometer_start_km: int | None
    odometer_end_km: int | None
    created_at: Instant
    approval_basis: str | None = Field(default=None, description="a dispatcher's booking approved on the agency's "
                                       "approval given outside the platform: what it was")
    backfill_reason: str | None = Field(default=None, description="why times were entered after the fact (补录)")
    rental: RentalOut | None = Field(default=None, description="the rental provider (定点租赁) that serves it instead "
                                     "of the fleet, and the cost: estimated when sent, final when billed")


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
    rent_unserved: bool | Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")] = Field(
        default=False, description="send the trips the run leaves unserved to a rental provider (定点租赁): true for "
        "the cheapest eligible one per trip, or a provider's code for that one only")


class UnservedOut(BaseModel):
    trip_id: Id
    priority: Priority
    reason: Said = Field(description="why the engine left it out, in the request's language")
    code: str | None = Field(default=None, description="the reason's stable code (no_vehicle_of_category, "
                             "no_vehicle_with_seats, window_unreachable, range_too_short, all_busy, "
                             "no_range_or_gap_left, no_gap), when it is one of the engine's")
    params: dict[str, Any] = Field(default_factory=dict, description="the reason's parameters")

    @model_validator(mode="before")
    @classmethod
    def _reason(cls, data: Any) -> Any:
        """The reason made from its stable code and parameters when the run stored them; read back from its
        English text otherwise (a run stored before the codes), the code with it."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        reason, code = data.get("reason"), data.get("code")
        if isinstance(code, str) and isinstance(reason, str) and not isinstance(reason, Message):
            data["reason"] = unsaid({"code": code, "params": data.get("params") or {}, "text": reason}, TEMPLATES)
        elif code is None and isinstance(reason, str):
            made = parsed(reason, NOTE_TEMPLATES)
            if isinstance(made, Message):
                data["reason"] = made
                data["code"] = CODES.get(made.template)
                data["params"] = {k: v for k, v in made.params.items() if not isinstance(v, Message)}
        if data.get("code") not in TEMPLATES:  # a template, not one of the engine's codes: not for machines
            data["code"] = None
        return data


class DispatchOut(BaseModel):
    run_id: Id
    trips: int
    vehicles_available: int
    served: dict[Priority, int]
    offered: dict[Priority, int]
    unserved: list[UnservedOut]
    refused_at_commit: list[CodedJson] = Field(description="planned trips left out as they were written: trip_id, "
                                              "reason (in the request's language)")
    deadhead_km: float
    total_km: float
    vehicles_used: int
    routes_without_driver: int
    bounds: JsonObject
    gap: dict[str, float]
    status: str
    stopped_by: str = Field(description="what ended the search: optimal, work budget or time limit")
    stopped_by_text: Said | None = Field(default=None, description="stopped_by in the request's language")
    solve_seconds: float
    build_seconds: float
    rented: list[JsonObject] = Field(default_factory=list, description="unserved trips sent to a rental provider "
                                     "(rent_unserved): trip_id, provider, cost_cny")

    @model_validator(mode="before")
    @classmethod
    def _stopped(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("stopped_by_text") is None and "stopped_by" in data:
            return {**data, "stopped_by_text": _STOPPED_BY.get(str(data["stopped_by"]), data["stopped_by"])}
        return data


_STOPPED_BY: dict[str, Message] = {
    "optimal": msg("the plan is optimal"),
    "work budget": msg("the work budget was spent"),
    "time limit": msg("the time limit was reached"),
}


class MovedOut(BaseModel):
    trip_id: Id
    plate: str
    before: Instant = Field(description="the confirmed pickup on the slip")
    after: Instant = Field(description="the pickup now")


class UrgentOut(BaseModel):
    """An approved emergency: placed at once, with what it displaced."""

    vehicle: str | None
    reason: Said | None = Field(description="why no vehicle could take it, when none did")
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
    marking_exemption: str | None = None
    terminal_id: str | None = Field(default=None, description="the JT/T 808 terminal phone number")
    colour: str | None = None
    insurance_expires_on: date | None = None
    inspected_on: date | None = Field(default=None, description="the last annual inspection (年检) passed")
    serviced_on: date | None = Field(default=None, description="the last scheduled maintenance")
    serviced_km: int | None = None
    service_interval_km: int | None = Field(default=None, description="null: the reminders' default")
    service_interval_months: int | None = Field(default=None, description="null: the reminders' default")
    source: VehicleSource = VehicleSource.retained
    rental_provider: str | None = Field(default=None, description="a rental car's contracted provider (its code)")


class DriverOut(Out):
    id: Id
    name: str
    licence_class: LicenceClass
    agency: str | None
    shift_start: str
    shift_end: str
    active: bool
    licence_no: str | None = None
    licence_expires_on: date | None = None
    phone: str | None = None


class AgencyOut(Out):
    id: Id
    code: str
    name: str
    jurisdiction: str | None = Field(default=None, validation_alias=AliasPath("jurisdiction", "code"))
    parent: str | None = Field(default=None, validation_alias=AliasPath("parent", "code"))
    dissolved_on: date | None = Field(default=None, description="merged or split up (机构改革) on that day")
    successor: str | None = Field(default=None, validation_alias=AliasPath("successor", "code"),
                                  description="the agency that took over a dissolved one")


class QuotaOut(Out):
    """An agency's quota (编制) in a category, against the vehicles it holds there (every status but disposed;
    never a rental car). ``limit`` 0 with vehicles held: the agency holds them without a quota, all of them over."""

    agency: str
    category: Category
    limit: int
    held: int = Field(description="vehicles counted against the quota: on the books and not hired")


class PlanLineOut(Out):
    """A plan line as approved: its id is what `POST /plan-lines/{line_id}/acquire` and `POST /vehicles/renew`
    take."""

    id: Id
    kind: PlanLineKind
    category: Category
    powertrain: Powertrain
    count: int
    seats: int
    unit_price_cny: Decimal
    displacement_l: Decimal | None
    acquired: int = Field(description="vehicles acquired under the line so far")
    remaining: int = Field(description="vehicles still to acquire (count - acquired)")
    replaces: list[str] = Field(description="plates of the vehicles the line renews")
    justification: str | None
    new_energy_exemption: str | None
    early_renewal_basis: EarlyRenewalBasis | None
    early_renewal_reason: str | None


class PlanOut(Out):
    id: Id
    agency: str
    year: int
    status: PlanStatus
    title: str
    decision_note: str | None
    lines: list[PlanLineOut]


class PlanPage(PageOut[PlanOut]):
    pass


class PlanFindingOut(BaseModel):
    """A rule the plan breaks: the refusal approval would give."""

    error: str = Field(description="the refusal's code, as an error body's `error`", examples=["NewEnergyShareTooLow"])
    detail: str
    field: str | None


class ShareCountOut(BaseModel):
    new_energy: int
    counted: int = Field(description="additions and renewals that count for the share (exempted lines do not)")
    share: float | None = Field(description="new_energy / counted; null when nothing counts")


class ShareReviewOut(BaseModel):
    """The new-energy share of the plan year over the scope (the province, or the plan's jurisdiction)."""

    scope: str = Field(description="the code of the jurisdiction whose subtree the share is counted over")
    scope_name: str
    scope_level: JurisdictionLevel
    year: int
    minimum: float
    approved: ShareCountOut = Field(description="the scope's other approved plans of the year")
    with_plan: ShareCountOut = Field(description="the same with this plan added")
    met: bool = Field(description="whether the share with this plan keeps the minimum")


class PlanReviewOut(BaseModel):
    plan_id: Id
    status: PlanStatus
    findings: list[PlanFindingOut] = Field(description="every rule the plan breaks, in the order approval checks "
                                                       "them; empty: it can be approved")
    share: ShareReviewOut


class CostOut(Out):
    id: Id
    vehicle_id: Id
    kind: CostKind
    incurred_on: date
    amount_cny: Decimal
    odometer_km: int | None = None
    note: str | None = None


class CostPage(PageOut[CostOut]):
    pass


class AccountOut(BaseModel):
    """A vehicle's account for a calendar year (单车核算): km driven, cost by kind, total and per km."""

    vehicle_id: Id
    plate: str
    year: int
    km: int = Field(description="read off the odometer readings of the year")
    by_kind: dict[CostKind, Decimal]
    total_cny: Decimal
    per_km_cny: Decimal | None = Field(description="null when the vehicle drove no km that year")


class ReminderOut(BaseModel):
    kind: ReminderKind
    due_on: date
    days_left: int = Field(description="negative: overdue by that many days")
    subject: Literal["vehicle", "driver"]
    subject_id: Id
    label: str = Field(description="the plate, or the driver's name")
    agency: str | None
    detail: str
    due_km: int | None = Field(default=None, description="maintenance: the odometer reading it is due at")


class ReminderList(BaseModel):
    today: date
    until: date
    items: list[ReminderOut]


class ReorganisationOut(BaseModel):
    """What a merge or a split (机构改革) moved."""

    source: AgencyOut
    receivers: list[AgencyOut]
    vehicles: dict[str, list[str]] = Field(description="receiving agency -> plates moved to it")
    quotas: dict[str, dict[str, int]] = Field(description="agency -> category -> its quota now")
    drivers: list[Id]
    users: list[str]
    trips: list[Id] = Field(description="open trips moved to the successor")
    plans: list[Id]
    agencies: list[str] = Field(description="sub-agencies moved under the successor")


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
    disposal: DisposalIn | None = Field(default=None, description="the replaced vehicle's disposal; left out when "
                                        "it was already disposed of (written off before its replacement came)")


class AuditOut(Out):
    seq: int
    at: Instant
    actor: ActorName = Field(description="who did it, 'name (role)', the role in the request's language")
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
    actor: ActorName = Field(description="who ran it, 'name (role)', the role in the request's language")
    holder: str | None = Field(description="the process working on a running run (host:pid:start)")
    window_start: Instant
    window_end: Instant
    started_at: Instant
    finished_at: Instant | None
    time_limit: float
    summary: DispatchOut | None = Field(description="what the run did, once it is done")
    error: Said | None = Field(default=None, description="why a failed run failed")


class DispatchRunPage(PageOut[DispatchRunOut]):
    pass


# --- 定点租赁 and 统一核算 (issue 14: api/routes/rentals.py, api/routes/accounts.py) ---


class RentalProviderOut(Out):
    code: str
    name: str
    contact: str | None
    base_cny: Decimal
    per_km_cny: Decimal
    per_hour_cny: Decimal
    max_seats: int
    contract_until: date | None
    active: bool


class TripChargeOut(Out):
    trip_id: Id
    day: date
    agency: str = Field(description="the booking agency, charged")
    agency_name: str
    plate: str | None
    holder: str | None = Field(description="the agency holding the vehicle")
    provider: str | None = Field(description="the rental provider that served it instead of the fleet")
    km: float
    km_source: Literal["odometer", "planned", "rental"]
    vehicle_cny: Decimal
    driver_cny: Decimal
    rental_cny: Decimal
    total_cny: Decimal


class AgencyTotalsOut(Out):
    agency: str
    name: str
    trips: int
    vehicle_cny: Decimal
    driver_cny: Decimal
    rental_cny: Decimal
    total_cny: Decimal
    unallocated_cny: Decimal = Field(description="what the vehicles it holds cost beyond their trips' shares")


class VehicleBalanceOut(Out):
    plate: str
    holder: str
    ledger_cny: Decimal
    ledger_km: int
    trips: int
    trips_km: float
    charged_cny: Decimal
    unallocated_cny: Decimal
    balanced: bool


class VehicleChargeOut(Out):
    plate: str
    holder: str = Field(description="the agency holding the vehicle, another than the statement's")
    trips: int = Field(description="the statement agency's trips in it")
    trips_km: float
    charged_cny: Decimal = Field(description="what those trips were charged of its ledger")


class ReconciliationOut(Out):
    ledger_cny: Decimal
    charged_cny: Decimal
    unallocated_cny: Decimal
    balanced: bool = Field(description="ledger = charged + unallocated, to the fen")
    charged_out_cny: Decimal = Field(description="one agency's statement: of charged, what other agencies' trips "
                                     "were charged for its vehicles")
    charged_in_cny: Decimal = Field(description="one agency's statement: what its trips were charged for other "
                                    "holders' vehicles (charged_in)")


class StatementOut(Out):
    month: str
    first_day: date
    last_day: date
    agency: str | None
    driver_cost_cny_per_hour: Decimal
    trips: list[TripChargeOut]
    agencies: list[AgencyTotalsOut]
    totals: AgencyTotalsOut
    vehicles: list[VehicleBalanceOut] = Field(description="the reconciliation of every vehicle (one agency's "
                                              "statement: of the vehicles it and its predecessors hold)")
    charged_in: list[VehicleChargeOut] = Field(description="one agency's statement: the other holders' vehicles its "
                                               "trips rode in, with only what they were charged")
    reconciliation: ReconciliationOut
    adds_up: bool = Field(description="totals' vehicle shares + unallocated = ledger − charged_out + charged_in")


# --- tracks and the live map (issue 15: api/routes/tracks.py, fleet/track_queries.py) ---
# GeoJSON (RFC 7946): positions are [lon, lat], WGS-84 as the terminals send them (a map drawn in GCJ-02 shifts them
# for display). Served as application/json so that every client parses them; the shape is GeoJSON's.


class LineStringOut(BaseModel):
    type: Literal["LineString"]
    coordinates: list[list[float]] = Field(description="[lon, lat] positions, in time order")


class MultiLineStringOut(BaseModel):
    type: Literal["MultiLineString"]
    coordinates: list[list[list[float]]] = Field(description="the parts of a track cut at its gaps, each a list of "
                                                             "[lon, lat] positions in time order")


LineGeometryOut = Annotated[LineStringOut | MultiLineStringOut, Field(discriminator="type")]


class TrackPropertiesOut(BaseModel):
    role: Literal["track"] = "track"
    vehicle_id: Id
    plate: str
    trip_id: Id | None = Field(default=None, description="a trip's track: the trip")
    start: Instant = Field(description="the window read, [start, end)")
    end: Instant
    first_fix: Instant | None = Field(description="the first fix in the window; null: none")
    last_fix: Instant | None
    fixes: int = Field(description="fixes in the window")
    points: int = Field(description="positions in the geometry (fewer than fixes when simplified)")
    parts: int = Field(description="lines the track is cut into at gaps longer than gap_minutes")
    km: float = Field(description="great-circle km through every fix in the window, gaps left out")
    gap_minutes: float
    simplified: bool = Field(description="whether points were left out (Douglas–Peucker) to stay under max_points")
    tolerance_m: float | None = Field(description="the simplification's tolerance in metres; null: not simplified")
    coordTimes: list[Instant] | list[list[Instant]] | None = Field(  # togeojson's name, camel case
        description="the time of each position (togeojson's convention): a list for a LineString, a list per part "
                    "for a MultiLineString")


class TrackFeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: LineGeometryOut | None = Field(description="null: no fix in the window")
    properties: TrackPropertiesOut


class TrackOut(BaseModel):
    """A vehicle's track over a window: a GeoJSON FeatureCollection of one Feature."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[TrackFeatureOut]


class PlannedStopOut(BaseModel):
    kind: Literal["home", "pickup", "dropoff"]
    address: str | None = Field(description="null for the vehicle's home")


class PlannedPropertiesOut(BaseModel):
    role: Literal["planned"] = "planned"
    trip_id: Id
    planned_km: float = Field(description="road km pickup → drop-off, as booked")
    stops: list[PlannedStopOut] = Field(description="the line's positions, in order")


class PlannedFeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: LineStringOut = Field(description="the vehicle's home (when known) → pickup → drop-off, straight legs")
    properties: PlannedPropertiesOut


class TripTrackOut(BaseModel):
    """A trip's track (role "track", absent while no vehicle is assigned) beside its planned route (role
    "planned"): a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[TrackFeatureOut | PlannedFeatureOut]


class LivePositionOut(Out):
    vehicle_id: Id
    plate: str
    category: Category
    agency: str = Field(description="the agency holding the vehicle (code)")
    status: VehicleStatus
    lat: float
    lon: float
    speed_kmh: float
    course: int | None = Field(description="degrees clockwise from north")
    acc: bool | None = Field(description="ignition on; null when the source does not say")
    alarm: int = Field(description="the JT/T 808 alarm bits")
    source: PositionSource
    fixed_at: Instant = Field(description="the device's time of the fix")
    received_at: Instant
    age_s: float = Field(description="seconds since the fix")
    online: bool = Field(description="a fix was received within online_within_s")


class LatestPositionsOut(BaseModel):
    at: Instant = Field(description="the server's now: send it as since to the next poll for what changed")
    online_within_s: int
    items: list[LivePositionOut]
