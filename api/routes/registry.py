"""Registry operations (the foundation's services) over HTTP: the admin writes, the platform and supervisors read.

Each within the caller's scope (`fleet.scopes`): lists hold the scope's agencies' rows, and an object of another
agency is unknown (404), for reads and writes alike."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api.deps import Admin, RegistryReader, ScopeDep, SessionDep
from api.errors import ErrorOut, translated
from api.schemas import (
    AgencyOut,
    AgencyPage,
    CalendarItemOut,
    CalendarOut,
    CostOut,
    DriverOut,
    DriverPage,
    Limit,
    ObjectId,
    Offset,
    PlanFindingOut,
    PlanLineOut,
    PlanOut,
    PlanPage,
    PlanReviewOut,
    QuotaOut,
    QuotaPage,
    ReasonIn,
    RenewIn,
    ShareCountOut,
    ShareReviewOut,
    Since,
    StatusMoveIn,
    Until,
    VehicleOut,
    VehiclePage,
)
from fleet import assignments, costs, drivers, plans, queries, registry, scopes, vehicles
from fleet.enums import Category, PlanStatus, Powertrain, VehicleStatus
from fleet.errors import InvalidInput
from fleet.i18n import msg
from fleet.models import Driver, Plan, PlanLine, Vehicle
from fleet.schemas import (
    AgencyIn,
    CostIn,
    DisposalIn,
    DriverIn,
    Input,
    JurisdictionIn,
    Moment,
    PlanIn,
    QuotaIn,
    TransferIn,
    VehicleIn,
)
from fleet.users import actor_of

router = APIRouter(tags=["registry"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})



class RegisterIn(Input):
    agency: str = Field(min_length=1, max_length=32)
    vehicle: VehicleIn


def vehicle_out(v: Vehicle) -> VehicleOut:
    provider = v.rental_provider.code if v.rental_provider is not None else None
    return VehicleOut.model_validate({
        **{c: getattr(v, c) for c in VehicleOut.model_fields if c not in ("agency", "rental_provider")},
        "agency": v.agency.code, "rental_provider": provider})


def plan_line_out(line: PlanLine) -> PlanLineOut:
    # Amounts at the columns' scale (fen, millilitres): a line just drafted holds the Decimal as it was sent
    # ("150000"), one read back the stored one ("150000.00"); the answer is the same either way.
    litres = None if line.displacement_l is None else line.displacement_l.quantize(Decimal("0.001"))
    return PlanLineOut.model_validate({
        **{c: getattr(line, c) for c in PlanLineOut.model_fields},
        "unit_price_cny": line.unit_price_cny.quantize(Decimal("0.01")), "displacement_l": litres,
        "replaces": [v.plate for v in line.replaces]})


def plan_out(p: Plan) -> PlanOut:
    return PlanOut(id=p.id, agency=p.agency.code, year=p.year, status=p.status, title=p.title,
                   decision_note=p.decision_note, lines=[plan_line_out(line) for line in p.lines])


def share_count_out(counts: tuple[int, int]) -> ShareCountOut:
    return ShareCountOut(new_energy=counts[0], counted=counts[1], share=plans.ShareReview.share(counts))


def plan_review_out(review: plans.PlanReview) -> PlanReviewOut:
    share = review.share
    return PlanReviewOut(
        plan_id=review.plan.id, status=review.plan.status,
        findings=[PlanFindingOut(error=f.code, detail=translated(f.detail), field=f.field) for f in review.findings],
        share=ShareReviewOut(scope=share.scope.code, scope_name=share.scope.name, scope_level=share.scope.level,
                             year=share.year, minimum=share.minimum, approved=share_count_out(share.approved),
                             with_plan=share_count_out(share.with_plan), met=share.met),
    )


def driver_out(d: Driver) -> DriverOut:
    return DriverOut(id=d.id, name=d.name, licence_class=d.licence_class, agency=d.agency.code if d.agency else None,
                     shift_start=f"{d.shift_start:%H:%M}", shift_end=f"{d.shift_end:%H:%M}", active=d.active,
                     licence_no=d.licence_no, licence_expires_on=d.licence_expires_on, phone=d.phone)


@router.post("/jurisdictions", status_code=201, summary="Add a jurisdiction (行政区划)")
def add_jurisdiction(body: JurisdictionIn, session: SessionDep, user: Admin, scope: ScopeDep) -> dict[str, str]:
    if body.parent is not None:
        scopes.jurisdiction(session, scope, body.parent, field="parent")
    elif not scope.whole:
        raise InvalidInput(msg("a jurisdiction without a parent is the whole platform's to add: name a parent "
                               "within {scope}", scope=scope.label), field="parent")
    created = registry.create_jurisdiction(session, actor_of(user), data=body)
    return {"code": created.code, "name": created.name}


@router.get("/agencies", response_model=AgencyPage, summary="Agencies, by code")
def list_agencies(session: SessionDep, user: RegistryReader, scope: ScopeDep, limit: Limit = 50,
                  offset: Offset = 0) -> AgencyPage:
    page = queries.agencies_page(session, limit=limit, offset=offset, agency_ids=scope.agency_ids)
    return AgencyPage(items=[AgencyOut.model_validate(a) for a in page.rows], total=page.total, limit=limit,
                      offset=offset)


@router.post("/agencies", status_code=201, response_model=AgencyOut, summary="Add an agency (单位)")
def add_agency(body: AgencyIn, session: SessionDep, user: Admin, scope: ScopeDep) -> AgencyOut:
    scopes.jurisdiction(session, scope, body.jurisdiction)
    if body.parent is not None:
        scopes.agency(session, scope, body.parent, field="parent")
    return AgencyOut.model_validate(registry.create_agency(session, actor_of(user), data=body))


@router.get("/quotas", response_model=QuotaPage, summary="Establishment quotas (编制), by agency and category")
def list_quotas(session: SessionDep, user: RegistryReader, scope: ScopeDep, limit: Limit = 50,
                offset: Offset = 0) -> QuotaPage:
    page = queries.quota_use_page(session, limit=limit, offset=offset, agency_ids=scope.agency_ids)
    return QuotaPage(items=[QuotaOut(agency=q.agency, category=q.category, limit=q.limit, held=q.held)
                            for q in page.rows], total=page.total, limit=limit, offset=offset)


@router.put("/quotas", response_model=QuotaOut, summary="Set a quota, with the reason")
def set_quota(body: QuotaIn, session: SessionDep, user: Admin, scope: ScopeDep) -> QuotaOut:
    scopes.agency(session, scope, body.agency)
    q = registry.set_quota(session, actor_of(user), data=body)
    return QuotaOut(agency=q.agency.code, category=q.category, limit=q.limit,
                    held=queries.held_count(session, q.agency_id, q.category))


@router.post("/plans", status_code=201, response_model=PlanOut, summary="Draft an acquisition plan (配备更新计划)")
def create_plan(body: PlanIn, session: SessionDep, user: Admin, scope: ScopeDep) -> PlanOut:
    scopes.agency(session, scope, body.agency)
    return plan_out(plans.create_plan(session, actor_of(user), data=body))


@router.get("/plans", response_model=PlanPage, summary="Plans, newest year first, with their lines")
def list_plans(
    session: SessionDep, user: RegistryReader, scope: ScopeDep,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None, status: PlanStatus | None = None,
    limit: Limit = 50, offset: Offset = 0,
) -> PlanPage:
    page = queries.plans_page(session, limit=limit, offset=offset, agency=agency, year=year, status=status,
                              agency_ids=scope.agency_ids)
    return PlanPage(items=[plan_out(p) for p in page.rows], total=page.total, limit=limit, offset=offset)


@router.get("/plans/{plan_id}", response_model=PlanOut, summary="One plan, with its lines")
def get_plan(plan_id: ObjectId, session: SessionDep, user: RegistryReader, scope: ScopeDep) -> PlanOut:
    return plan_out(scopes.plan(session, scope, plan_id))


@router.get("/plans/{plan_id}/review", response_model=PlanReviewOut,
            summary="Every rule the plan breaks, and the new-energy share it leaves its province (or jurisdiction)")
def review_plan(plan_id: ObjectId, session: SessionDep, user: RegistryReader, scope: ScopeDep) -> PlanReviewOut:
    """What approval would say, without deciding: each refusal (code, sentence, field) in the order approval checks
    them, and the share's figures over the policy's scope (`new_energy_share_scope`: the province by default):
    the other approved plans of the year, the same with this plan, and the minimum."""
    return plan_review_out(plans.review_plan(session, scopes.plan(session, scope, plan_id), lock=False))


@router.post("/plans/{plan_id}/submit", response_model=PlanOut, summary="Submit a draft plan")
def submit_plan(plan_id: ObjectId, session: SessionDep, user: Admin, scope: ScopeDep) -> PlanOut:
    scopes.plan(session, scope, plan_id)
    return plan_out(plans.submit_plan(session, actor_of(user), plan_id=plan_id))


@router.post("/plans/{plan_id}/approve", response_model=PlanOut, summary="Approve, or refuse naming the rule")
def approve_plan(plan_id: ObjectId, session: SessionDep, user: Admin, scope: ScopeDep) -> PlanOut:
    scopes.plan(session, scope, plan_id)
    return plan_out(plans.approve_plan(session, actor_of(user), plan_id=plan_id))


@router.post("/plans/{plan_id}/reject", response_model=PlanOut, summary="Reject a submitted plan")
def reject_plan(plan_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin, scope: ScopeDep) -> PlanOut:
    scopes.plan(session, scope, plan_id)
    return plan_out(plans.reject_plan(session, actor_of(user), plan_id=plan_id, reason=body.reason))


@router.get("/vehicles", response_model=VehiclePage, summary="Vehicles, by plate")
def list_vehicles(
    session: SessionDep, user: RegistryReader, scope: ScopeDep,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    status: VehicleStatus | None = None, category: Category | None = None, powertrain: Powertrain | None = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the plate or the model")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> VehiclePage:
    page = queries.vehicles_page(session, limit=limit, offset=offset, agency=agency, status=status,
                                 category=category, powertrain=powertrain, q=q or None, agency_ids=scope.agency_ids)
    return VehiclePage(items=[vehicle_out(v) for v in page.rows], total=page.total, limit=limit, offset=offset)


@router.get("/vehicles/available", response_model=list[VehicleOut],
            summary="Vehicles in service that nothing holds in [start, end)")
def available_vehicles(
    session: SessionDep, user: RegistryReader, scope: ScopeDep,
    start: Annotated[Moment | None, Query(description="from (inclusive)")] = None,
    end: Annotated[Moment | None, Query(description="to (exclusive)")] = None,
    category: Category | None = None,
    seats: Annotated[int | None, Query(ge=1, le=60, description="at least this many seats")] = None,
    trip_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="for this trip: start and end default to "
                                         "the interval it would hold its vehicle from its earliest pickup, category "
                                         "to those it allows, seats to its passengers")] = None,
) -> list[VehicleOut]:
    """Every vehicle `POST /trips/{id}/assign` would accept for a trip held within [start, end), drivers aside: not
    sealed, in the workshop or disposed of, and with no active assignment overlapping the interval. By plate."""
    categories = [category] if category is not None else []
    if trip_id is not None:
        booked = scopes.trip(session, scope, trip_id)
        held_from, held_to = assignments.occupied(booked, booked.earliest_pickup)
        start, end = start or held_from, end or held_to
        categories = categories or [Category(c) for c in booked.categories]
        seats = max(seats or 0, booked.passengers)
    if start is None or end is None:
        missing = "start" if start is None else "end"
        raise InvalidInput(msg("field '{field}': name the interval (start and end), or a trip_id", field=missing),
                           field=missing)
    if end <= start:
        raise InvalidInput(msg("field 'end': is not after start"), field="end")
    return [vehicle_out(v) for v in assignments.free_vehicles(session, start, end, categories=categories,
                                                              seats=seats) if scope.has_agency(v.agency_id)]


@router.get("/vehicles/{vehicle_id}", response_model=VehicleOut, summary="One vehicle")
def get_vehicle(vehicle_id: ObjectId, session: SessionDep, user: RegistryReader, scope: ScopeDep) -> VehicleOut:
    return vehicle_out(scopes.vehicle(session, scope, vehicle_id))


MAX_CALENDAR = timedelta(days=62)


@router.get("/vehicles/{vehicle_id}/calendar", response_model=CalendarOut,
            summary="A vehicle's assignments, sealed and workshop periods over a window")
def vehicle_calendar(
    vehicle_id: ObjectId, session: SessionDep, user: RegistryReader, scope: ScopeDep,
    since: Annotated[Since, Query(description="a date (from the start of that day, China time) or an instant")],
    until: Annotated[Until, Query(description="a date (to the end of that day, China time) or an instant "
                                              "(exclusive); at most 62 days after since")],
) -> CalendarOut:
    """Assignments as booked (a trip across the window's edge keeps its own times); sealed and workshop periods,
    read off the vehicle's status history in the audit log, clipped to the window (one still open runs to its
    end)."""
    if until <= since:
        raise InvalidInput(msg("field 'until': is not after since"), field="until")
    if until - since > MAX_CALENDAR:
        raise InvalidInput(msg("field 'until': a calendar spans at most {days} days", days=MAX_CALENDAR.days),
                           field="until")
    vehicle = scopes.vehicle(session, scope, vehicle_id)
    items = queries.calendar(session, [vehicle], since, until)
    return CalendarOut(vehicle=vehicle_out(vehicle), start=since, end=until,
                       items=[CalendarItemOut.of(i) for i in items])


@router.post("/vehicles", status_code=201, response_model=VehicleOut, summary="Register a retained vehicle")
def register(body: RegisterIn, session: SessionDep, user: Admin, scope: ScopeDep) -> VehicleOut:
    scopes.agency(session, scope, body.agency)
    return vehicle_out(vehicles.register(session, actor_of(user), agency=body.agency, data=body.vehicle))


@router.post("/plan-lines/{line_id}/acquire", status_code=201, response_model=VehicleOut,
             summary="Acquire a vehicle under an approved plan line")
def acquire(line_id: ObjectId, body: VehicleIn, session: SessionDep, user: Admin, scope: ScopeDep) -> VehicleOut:
    scopes.plan_line(session, scope, line_id)
    return vehicle_out(vehicles.acquire(session, actor_of(user), plan_line_id=line_id, data=body))


@router.post("/vehicles/renew", status_code=201, response_model=VehicleOut,
             summary="Renew: register the new vehicle and dispose of the old one")
def renew(body: RenewIn, session: SessionDep, user: Admin, scope: ScopeDep) -> VehicleOut:
    scopes.plan_line(session, scope, body.plan_line_id)
    scopes.vehicle(session, scope, body.replaced_vehicle_id)
    return vehicle_out(vehicles.renew(session, actor_of(user), plan_line_id=body.plan_line_id,
                                      replaced_vehicle_id=body.replaced_vehicle_id, data=body.vehicle,
                                      disposal=body.disposal))


@router.post("/vehicles/{vehicle_id}/transfer", response_model=VehicleOut, summary="Transfer (调剂)")
def transfer(vehicle_id: ObjectId, body: TransferIn, session: SessionDep, user: Admin, scope: ScopeDep) -> VehicleOut:
    scopes.vehicle(session, scope, vehicle_id)
    scopes.agency(session, scope, body.to_agency, field="to_agency")  # 调剂 within the admin's scope
    return vehicle_out(vehicles.transfer(session, actor_of(user), vehicle_id=vehicle_id, data=body))


@router.post("/vehicles/{vehicle_id}/dispose", response_model=VehicleOut, summary="Dispose of (处置)")
def dispose(vehicle_id: ObjectId, body: DisposalIn, session: SessionDep, user: Admin, scope: ScopeDep) -> VehicleOut:
    scopes.vehicle(session, scope, vehicle_id)
    vehicles.dispose(session, actor_of(user), vehicle_id=vehicle_id, data=body)
    return vehicle_out(queries.vehicle(session, vehicle_id))


@router.post("/vehicles/{vehicle_id}/seal", response_model=VehicleOut, summary="Seal (封存)")
def seal(vehicle_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin, scope: ScopeDep) -> VehicleOut:
    scopes.vehicle(session, scope, vehicle_id)
    return vehicle_out(vehicles.seal(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason))


@router.post("/vehicles/{vehicle_id}/unseal", response_model=VehicleOut, summary="Return a sealed vehicle to use")
def unseal(vehicle_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin, scope: ScopeDep) -> VehicleOut:
    scopes.vehicle(session, scope, vehicle_id)
    return vehicle_out(vehicles.unseal(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason))


@router.post("/vehicles/{vehicle_id}/maintenance-in", response_model=VehicleOut, summary="Into the workshop")
def maintenance_in(vehicle_id: ObjectId, body: StatusMoveIn, session: SessionDep, user: Admin,
                   scope: ScopeDep) -> VehicleOut:
    scopes.vehicle(session, scope, vehicle_id)
    return vehicle_out(vehicles.maintenance_in(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason,
                                               odometer_km=body.odometer_km, on=body.on))


@router.post("/vehicles/{vehicle_id}/maintenance-out", response_model=VehicleOut, summary="Out of the workshop")
def maintenance_out(vehicle_id: ObjectId, body: StatusMoveIn, session: SessionDep, user: Admin,
                    scope: ScopeDep) -> VehicleOut:
    scopes.vehicle(session, scope, vehicle_id)
    return vehicle_out(vehicles.maintenance_out(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason,
                                                odometer_km=body.odometer_km, on=body.on))


@router.post("/vehicles/{vehicle_id}/costs", status_code=201, response_model=CostOut, summary="Book a cost")
def record_cost(vehicle_id: ObjectId, body: CostIn, session: SessionDep, user: Admin, scope: ScopeDep) -> CostOut:
    scopes.vehicle(session, scope, vehicle_id)
    return CostOut.model_validate(costs.record_cost(session, actor_of(user), vehicle_id=vehicle_id, data=body))


@router.get("/drivers", response_model=DriverPage, summary="Drivers, by id")
def list_drivers(session: SessionDep, user: RegistryReader, scope: ScopeDep, limit: Limit = 50,
                 offset: Offset = 0) -> DriverPage:
    """The scope's agencies' drivers and the platform pool's (whom any dispatcher may give a trip)."""
    page = queries.drivers_page(session, limit=limit, offset=offset, agency_ids=scope.agency_ids)
    return DriverPage(items=[driver_out(d) for d in page.rows], total=page.total, limit=limit, offset=offset)


@router.post("/drivers", status_code=201, response_model=DriverOut, summary="Add a driver")
def add_driver(body: DriverIn, session: SessionDep, user: Admin, scope: ScopeDep) -> DriverOut:
    if body.agency is not None:
        scopes.agency(session, scope, body.agency)
    elif not scope.whole:
        raise InvalidInput(msg("a driver of the platform pool is the whole platform's to add: name an agency "
                               "within {scope}", scope=scope.label), field="agency")
    return driver_out(drivers.add_driver(session, actor_of(user), data=body))


@router.post("/drivers/{driver_id}/deactivate", response_model=DriverOut, summary="Deactivate a driver")
def deactivate_driver(driver_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin,
                      scope: ScopeDep) -> DriverOut:
    scopes.driver(session, scope, driver_id)
    return driver_out(drivers.deactivate_driver(session, actor_of(user), driver_id=driver_id, reason=body.reason))
