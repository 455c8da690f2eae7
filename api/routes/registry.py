"""Registry operations (the foundation's services) over HTTP: the admin writes, the platform and supervisors read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from api.deps import SessionDep, allow
from api.errors import ErrorOut
from api.schemas import (
    MAX_PAGE,
    AgencyOut,
    CostOut,
    DriverOut,
    PlanOut,
    QuotaOut,
    ReasonIn,
    RenewIn,
    StatusMoveIn,
    VehicleOut,
)
from fleet import costs, drivers, plans, queries, registry, vehicles
from fleet.enums import Category, Role, VehicleStatus
from fleet.models import Driver, Plan, User, Vehicle
from fleet.schemas import (
    AgencyIn,
    CostIn,
    DisposalIn,
    DriverIn,
    Input,
    JurisdictionIn,
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


@router.get("/agencies", response_model=list[AgencyOut], summary="Agencies")
def list_agencies(session: SessionDep, user: Reader) -> list[AgencyOut]:
    return [AgencyOut.model_validate(a) for a in queries.agencies_page(session).rows]


@router.post("/agencies", status_code=201, response_model=AgencyOut, summary="Add an agency (单位)")
def add_agency(body: AgencyIn, session: SessionDep, user: Admin) -> AgencyOut:
    return AgencyOut.model_validate(registry.create_agency(session, actor_of(user), data=body))


@router.get("/quotas", response_model=list[QuotaOut], summary="Establishment quotas (编制)")
def list_quotas(session: SessionDep, user: Reader) -> list[QuotaOut]:
    rows = queries.quotas_page(session).rows
    return [QuotaOut(agency=q.agency.code, category=q.category, limit=q.limit) for q in rows]


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


@router.get("/vehicles", response_model=list[VehicleOut], summary="Vehicles")
def list_vehicles(
    session: SessionDep, user: Reader, agency: Annotated[str | None, Query(max_length=32)] = None,
    status: VehicleStatus | None = None, category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50, offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> list[VehicleOut]:
    rows = queries.vehicles_page(session, limit=limit, offset=offset, agency=agency, status=status,
                                category=category).rows
    return [vehicle_out(v) for v in rows]


@router.get("/vehicles/{vehicle_id}", response_model=VehicleOut, summary="One vehicle")
def get_vehicle(vehicle_id: ObjectId, session: SessionDep, user: Reader) -> VehicleOut:
    return vehicle_out(queries.vehicle(session, vehicle_id))


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


@router.get("/drivers", response_model=list[DriverOut], summary="Drivers")
def list_drivers(session: SessionDep, user: Reader) -> list[DriverOut]:
    return [driver_out(d) for d in queries.drivers_page(session).rows]


@router.post("/drivers", status_code=201, response_model=DriverOut, summary="Add a driver")
def add_driver(body: DriverIn, session: SessionDep, user: Admin) -> DriverOut:
    return driver_out(drivers.add_driver(session, actor_of(user), data=body))


@router.post("/drivers/{driver_id}/deactivate", response_model=DriverOut, summary="Deactivate a driver")
def deactivate_driver(driver_id: ObjectId, body: ReasonIn, session: SessionDep, user: Admin) -> DriverOut:
    return driver_out(drivers.deactivate_driver(session, actor_of(user), driver_id=driver_id, reason=body.reason))
