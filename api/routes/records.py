"""The records the office keeps, over HTTP: edits of vehicles, drivers and agencies (each audited field by field),
agencies merged or split (机构改革), and a vehicle's cost ledger and yearly account (单车核算).

The admin edits; the platform (dispatcher) and supervisors read the ledger and the account, as the registry's
other reads. Everything within the caller's scope (`fleet.scopes`): outside it an object is unknown (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Admin, RegistryReader, ScopeDep, SessionDep
from api.errors import ErrorOut
from api.routes.registry import driver_out, vehicle_out
from api.schemas import (
    AccountOut,
    AgencyOut,
    CostOut,
    CostPage,
    DriverOut,
    Limit,
    ObjectId,
    Offset,
    ReorganisationOut,
    VehicleOut,
)
from fleet import amendments, costs, queries, reorganisation, scopes
from fleet.enums import CostKind
from fleet.errors import InvalidInput
from fleet.i18n import msg
from fleet.reorganisation import Reorganised
from fleet.schemas import AgencyPatch, Code, Day, DriverPatch, MergeIn, SplitIn, VehiclePatch
from fleet.users import actor_of

router = APIRouter(tags=["registry"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})

AgencyCode = Annotated[Code, Path()]


@router.patch("/vehicles/{vehicle_id}", response_model=VehicleOut, summary="Edit a vehicle's record")
def amend_vehicle(vehicle_id: ObjectId, body: VehiclePatch, session: SessionDep, user: Admin,
                  scope: ScopeDep) -> VehicleOut:
    """Only the fields sent change; `null` empties one that may be empty. Audited as each field's from and to; a
    patch that changes nothing writes nothing. The reminders (`GET /reminders`) count from the dates set here."""
    scopes.vehicle(session, scope, vehicle_id)
    return vehicle_out(amendments.amend_vehicle(session, actor_of(user), vehicle_id=vehicle_id, data=body))


@router.patch("/drivers/{driver_id}", response_model=DriverOut, summary="Edit a driver's record")
def amend_driver(driver_id: ObjectId, body: DriverPatch, session: SessionDep, user: Admin,
                 scope: ScopeDep) -> DriverOut:
    """Licence class, number and expiry, phone, shift, agency (`null`: the platform's pool). Audited field by
    field."""
    scopes.driver(session, scope, driver_id)
    if "agency" in body.model_fields_set:
        if body.agency is not None:
            scopes.agency(session, scope, body.agency)
        elif not scope.whole:
            raise InvalidInput(msg("field '{field}': the platform's pool is the whole platform's; name an agency "
                                   "within {scope}", field="agency", scope=scope.label), field="agency")
    return driver_out(amendments.amend_driver(session, actor_of(user), driver_id=driver_id, data=body))


@router.patch("/agencies/{code}", response_model=AgencyOut, summary="Rename an agency or change its parent")
def amend_agency(code: AgencyCode, body: AgencyPatch, session: SessionDep, user: Admin,
                 scope: ScopeDep) -> AgencyOut:
    scopes.agency(session, scope, code, field="code")
    if body.parent is not None:
        scopes.agency(session, scope, body.parent, field="parent")
    return AgencyOut.model_validate(amendments.amend_agency(session, actor_of(user), code=code, data=body))


def reorganisation_out(done: Reorganised) -> ReorganisationOut:
    return ReorganisationOut(source=AgencyOut.model_validate(done.source),
                             receivers=[AgencyOut.model_validate(a) for a in done.receivers], **done.summary())


@router.post("/agencies/{code}/merge-into", response_model=ReorganisationOut,
             summary="Merge an agency into another (机构改革)")
def merge_agency(code: AgencyCode, body: MergeIn, session: SessionDep, user: Admin,
                 scope: ScopeDep) -> ReorganisationOut:
    """The source's vehicles, quotas (added per category), active drivers, users, open trips (requested,
    approved, assigned), unfinished plans and sub-agencies move to `into`, in one transaction, each move audited;
    the source is dissolved on `on`, with `into` as its successor. Completed trips, the cost ledger and the
    transfers stay as they were: the annual report of the successor includes its predecessors."""
    scopes.agency(session, scope, code, field="code")
    scopes.agency(session, scope, body.into, field="into")
    return reorganisation_out(reorganisation.merge(session, actor_of(user), code=code, data=body))


@router.post("/agencies/{code}/split", status_code=201, response_model=ReorganisationOut,
             summary="Split new agencies off an agency (机构改革)")
def split_agency(code: AgencyCode, body: SplitIn, session: SessionDep, user: Admin,
                 scope: ScopeDep) -> ReorganisationOut:
    """Each part becomes an agency in the source's jurisdiction, under its parent, with the source's vehicles it
    lists and its part of the source's quota (parts never exceed it; each part's quota holds its vehicles). The
    source continues with the rest; to split it up entirely, merge the rest into one of the parts afterwards."""
    scopes.agency(session, scope, code, field="code")
    return reorganisation_out(reorganisation.split(session, actor_of(user), code=code, data=body))


@router.get("/vehicles/{vehicle_id}/costs", response_model=CostPage, summary="A vehicle's cost ledger")
def vehicle_costs(
    vehicle_id: ObjectId, session: SessionDep, user: RegistryReader, scope: ScopeDep,
    since: Annotated[Day | None, Query(description="first day (inclusive)")] = None,
    until: Annotated[Day | None, Query(description="last day (inclusive)")] = None,
    kind: Annotated[list[CostKind] | None, Query(description="only these kinds")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> CostPage:
    """Newest first."""
    if since is not None and until is not None and until < since:
        raise InvalidInput(msg("field 'until': is before since"), field="until")
    scopes.vehicle(session, scope, vehicle_id)
    page = queries.costs_page(session, vehicle_id, since=since, until=until, kinds=kind or (), limit=limit,
                              offset=offset)
    return CostPage(items=[CostOut.model_validate(e) for e in page.rows], total=page.total, limit=limit,
                    offset=offset)


@router.get("/vehicles/{vehicle_id}/account", response_model=AccountOut,
            summary="A vehicle's account for a year (单车核算)")
def vehicle_account(
    vehicle_id: ObjectId, session: SessionDep, user: RegistryReader, scope: ScopeDep,
    year: Annotated[int, Query(ge=2000, le=2100, description="calendar year")],
) -> AccountOut:
    vehicle = scopes.vehicle(session, scope, vehicle_id)
    account = costs.year_account(session, vehicle_id, year)
    return AccountOut(vehicle_id=vehicle.id, plate=vehicle.plate, year=year, km=account.km,
                      by_kind=account.by_kind, total_cny=account.total, per_km_cny=account.per_km)

