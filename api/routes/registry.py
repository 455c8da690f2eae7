"""Registry operations (the foundation's services) over HTTP: the admin writes, the platform and supervisors read."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from api.deps import SessionDep, allow
from api.errors import ErrorOut
from api.schemas import (
    AgencyOut,
    AgencyPage,
    CalendarItemOut,
    CalendarOut,
    CostOut,
    DriverOut,
    DriverPage,
    Limit,
    Offset,
    PlanOut,
    QuotaOut,
    QuotaPage,
    ReasonIn,
    RenewIn,
    Since,
    StatusMoveIn,
    Until,
    VehicleOut,
    VehiclePage,
)
from fleet import assignments, costs, drivers, plans, queries, registry, vehicles
from fleet.enums import Category, Role, VehicleStatus
from fleet.errors import InvalidInput
from fleet.i18n import msg
from fleet.models import Driver, Plan, User, Vehicle
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

Admin = Annotated[User, Depends(allow(Role.admin))]
Reader = Annotated[User, Depends(allow(Role.admin, Role.dispatcher, Role.supervisor))]
ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class RegisterIn(Input):
    agency: str = Field(min_length=1, max_length=32)
    vehicle: VehicleIn


def vehicle_out(v: Vehicle) -> VehicleOut:
    return VehicleOut.model_validate({**{c: getattr(v, c) for c in VehicleOut.model_fields if c != "agency"},
                                      "agency": v.agency.code})


def plan_out(p: Plan) -> PlanOut:
    return PlanOut(id=p.id, agency=p.agency.code, year=p.year, status=p.status, title=p.title,
                   decision_note=p.decision_note)


def driver_out(d: Driver) -> DriverOut:
    return DriverOut(id=d.id, name=d.name, licence_class=d.licence_class, agency=d.agency.code if d.agency else None,
                     shift_start=f"{d.shift_start:%H:%M}", shift_end=f"{d.shift_end:%H:%M}", active=d.active)


@router.post("/jurisdictions", status_code=201, summary="Add a jurisdiction (行政区划)")
def add_jurisdiction(body: JurisdictionIn, session: SessionDep, user: Admin) -> dict[str, str]:
    created = registry.create_jurisdiction(session, actor_of(user), data=body)
    return {"code": created.code, "name": created.name}


@router.get("/agencies", response_model=AgencyPage, summary="Agencies, by code")
def list_agencies(session: SessionDep, user: Reader, limit: Limit = 50, offset: Offset = 0) -> AgencyPage:
    page = queries.agencies_page(session, limit=limit, offset=offset)
    return AgencyPage(items=[AgencyOut.model_validate(a) for a in page.rows], total=page.total, limit=limit,
                      offset=offset)


@router.post("/agencies", status_code=201, response_model=AgencyOut, summary="Add an agency (单位)")
def add_agency(body: AgencyIn, session: SessionDep, user: Admin) -> AgencyOut:
    return AgencyOut.model_validate(registry.create_agency(session, actor_of(user), data=body))


@router.get("/quotas", response_model=QuotaPage, summary="Establishment quotas (编制), by agency and category")
def list_quotas(session: SessionDep, user: Reader, limit: Limit = 50, offset: Offset = 0) -> QuotaPage:
    page = queries.quotas_page(session, limit=limit, offset=offset)
    return QuotaPage(items=[QuotaOut(agency=q.agency.code, category=q.category, limit=q.limit) for q in page.rows],
                     total=page.total, limit=limit, offset=offset)


@router.put("/quotas", response_model=QuotaOut, summary="Set a quota, with the reason")
def set_quota(body: QuotaIn, session: SessionDep, user: Admin) -> QuotaOut:
    q = registry.set_quota(session, actor_of(user), data=body)
    return QuotaOut(agency=q.agency.code, category=q.category, limit=q.limit)


@router.post("/plans", status_code=201, response_model=PlanOut, summary="Draft an acquisition plan (配备更新计划)")
def create_plan(body: PlanIn, session: SessionDep, user: Admin) -> PlanOut:
    return plan_out(plans.create_plan(session, actor_of(user), data=body))


@router.get("/plans/{plan_id}", response_model=PlanOut, summary="One plan")
def get_plan(plan_id: ObjectId, session: SessionDep, user: Reader) -> PlanOut:
    return plan_out(queries.plan(session, plan_id))


@router.post("/plans/{plan_id}/submit", response_model=PlanOut, summary="Submit a draft plan")
def submit_plan(plan_id: ObjectId, session: SessionDep, user: Admin) -> PlanOut:
    return plan_out(plans.submit_plan(session, actor_of(user), plan_id=plan_id))


@router.post("/plans/{plan_id}/approve", response_model=PlanOut, summary="Approve, or refuse naming the rule")
def approve_plan(plan_id: ObjectId, session: SessionDep, user: Admin) -> PlanOut:
    return plan_out(plans.approve_plan(session, actor_of(user), plan_id=plan_id))


@router.post("/plans/{plan_id}/reject", response_model=PlanOut, summary="Reject a submitted plan")
def reject_plan(plan_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin) -> PlanOut:
    return plan_out(plans.reject_plan(session, actor_of(user), plan_id=plan_id, reason=body.reason))


@router.get("/vehicles", response_model=VehiclePage, summary="Vehicles, by plate")
def list_vehicles(
    session: SessionDep, user: Reader, agency: Annotated[str | None, Query(max_length=32)] = None,
    status: VehicleStatus | None = None, category: Category | None = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the plate or the model")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> VehiclePage:
    page = queries.vehicles_page(session, limit=limit, offset=offset, agency=agency, status=status,
                                 category=category, q=q or None)
    return VehiclePage(items=[vehicle_out(v) for v in page.rows], total=page.total, limit=limit, offset=offset)


@router.get("/vehicles/available", response_model=list[VehicleOut],
            summary="Vehicles in service that nothing holds in [start, end)")
def available_vehicles(
    session: SessionDep, user: Reader,
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
        booked = queries.trip(session, trip_id)
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
                                                              seats=seats)]


@router.get("/vehicles/{vehicle_id}", response_model=VehicleOut, summary="One vehicle")
def get_vehicle(vehicle_id: ObjectId, session: SessionDep, user: Reader) -> VehicleOut:
    return vehicle_out(queries.vehicle(session, vehicle_id))


MAX_CALENDAR = timedelta(days=62)


@router.get("/vehicles/{vehicle_id}/calendar", response_model=CalendarOut,
            summary="A vehicle's assignments, sealed and workshop periods over a window")
def vehicle_calendar(
    vehicle_id: ObjectId, session: SessionDep, user: Reader,
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
    vehicle = queries.vehicle(session, vehicle_id)
    items = queries.calendar(session, [vehicle], since, until)
    return CalendarOut(vehicle=vehicle_out(vehicle), start=since, end=until,
                       items=[CalendarItemOut.of(i) for i in items])


@router.post("/vehicles", status_code=201, response_model=VehicleOut, summary="Register a retained vehicle")
def register(body: RegisterIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.register(session, actor_of(user), agency=body.agency, data=body.vehicle))


@router.post("/plan-lines/{line_id}/acquire", status_code=201, response_model=VehicleOut,
             summary="Acquire a vehicle under an approved plan line")
def acquire(line_id: ObjectId, body: VehicleIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.acquire(session, actor_of(user), plan_line_id=line_id, data=body))


@router.post("/vehicles/renew", status_code=201, response_model=VehicleOut,
             summary="Renew: register the new vehicle and dispose of the old one")
def renew(body: RenewIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.renew(session, actor_of(user), plan_line_id=body.plan_line_id,
                                      replaced_vehicle_id=body.replaced_vehicle_id, data=body.vehicle,
                                      disposal=body.disposal))


@router.post("/vehicles/{vehicle_id}/transfer", response_model=VehicleOut, summary="Transfer (调剂)")
def transfer(vehicle_id: ObjectId, body: TransferIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.transfer(session, actor_of(user), vehicle_id=vehicle_id, data=body))


@router.post("/vehicles/{vehicle_id}/dispose", response_model=VehicleOut, summary="Dispose of (处置)")
def dispose(vehicle_id: ObjectId, body: DisposalIn, session: SessionDep, user: Admin) -> VehicleOut:
    vehicles.dispose(session, actor_of(user), vehicle_id=vehicle_id, data=body)
    return vehicle_out(queries.vehicle(session, vehicle_id))


@router.post("/vehicles/{vehicle_id}/seal", response_model=VehicleOut, summary="Seal (封存)")
def seal(vehicle_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.seal(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason))


@router.post("/vehicles/{vehicle_id}/unseal", response_model=VehicleOut, summary="Return a sealed vehicle to use")
def unseal(vehicle_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.unseal(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason))


@router.post("/vehicles/{vehicle_id}/maintenance-in", response_model=VehicleOut, summary="Into the workshop")
def maintenance_in(vehicle_id: ObjectId, body: StatusMoveIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.maintenance_in(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason,
                                               odometer_km=body.odometer_km, on=body.on))


@router.post("/vehicles/{vehicle_id}/maintenance-out", response_model=VehicleOut, summary="Out of the workshop")
def maintenance_out(vehicle_id: ObjectId, body: StatusMoveIn, session: SessionDep, user: Admin) -> VehicleOut:
    return vehicle_out(vehicles.maintenance_out(session, actor_of(user), vehicle_id=vehicle_id, reason=body.reason,
                                                odometer_km=body.odometer_km, on=body.on))


@router.post("/vehicles/{vehicle_id}/costs", status_code=201, response_model=CostOut, summary="Book a cost")
def record_cost(vehicle_id: ObjectId, body: CostIn, session: SessionDep, user: Admin) -> CostOut:
    return CostOut.model_validate(costs.record_cost(session, actor_of(user), vehicle_id=vehicle_id, data=body))


@router.get("/drivers", response_model=DriverPage, summary="Drivers, by id")
def list_drivers(session: SessionDep, user: Reader, limit: Limit = 50, offset: Offset = 0) -> DriverPage:
    page = queries.drivers_page(session, limit=limit, offset=offset)
    return DriverPage(items=[driver_out(d) for d in page.rows], total=page.total, limit=limit, offset=offset)


@router.post("/drivers", status_code=201, response_model=DriverOut, summary="Add a driver")
def add_driver(body: DriverIn, session: SessionDep, user: Admin) -> DriverOut:
    return driver_out(drivers.add_driver(session, actor_of(user), data=body))


@router.post("/drivers/{driver_id}/deactivate", response_model=DriverOut, summary="Deactivate a driver")
def deactivate_driver(driver_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin) -> DriverOut:
    return driver_out(drivers.deactivate_driver(session, actor_of(user), driver_id=driver_id, reason=body.reason))
