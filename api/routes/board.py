"""The dispatcher's day board (every vehicle's day, and the queue of trips waiting for one) and the places a
booking form offers."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep, allow, scope_of
from api.errors import ErrorOut
from api.routes.trips import trip_out
from api.schemas import BoardOut, BoardVehicleOut, CalendarItemOut, KnownPlaceOut
from fleet import clock, queries
from fleet.clock import local_moment
from fleet.enums import Role
from fleet.models import User
from fleet.schemas import Day
from fleet.users import AGENCY_ROLES

router = APIRouter(tags=["board"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})

Watcher = Annotated[User, Depends(allow(Role.dispatcher, Role.supervisor))]
Anyone = Annotated[User, Depends(allow(*Role))]


@router.get("/board", response_model=BoardOut, summary="The day board: every vehicle's day and the queue")
def board(session: SessionDep, user: Watcher,
          day: Annotated[Day | None, Query(description="a China-time day; default today")] = None) -> BoardOut:
    """The vehicles on the books (not disposed of), by plate, each with the drivers it has that day; their
    calendar items overlapping the day (assignments as booked, sealed and workshop periods clipped to the day);
    and the queue: approved trips not yet assigned whose pickup window overlaps the day, emergencies first, then
    by earliest pickup, each with the engine's ``dispatch_note``. A fixed number of queries, whatever the fleet.
    A caller for part of the platform (`fleet.scopes`) sees its scope's vehicles and trips only."""
    shown = day or clock.today()
    start, end = local_moment(shown), local_moment(shown + timedelta(days=1))
    scope = scope_of(session, user)
    vehicles = queries.board_vehicles(session, scope.agency_ids)
    items = queries.calendar(session, vehicles, start, end)
    drivers: dict[int, list[str]] = {}
    for item in sorted(items, key=lambda i: i.start):
        if item.driver is not None and item.driver not in drivers.setdefault(item.vehicle_id, []):
            drivers[item.vehicle_id].append(item.driver)
    return BoardOut(
        day=shown, start=start, end=end,
        vehicles=[BoardVehicleOut.model_validate({**v._mapping, "drivers": drivers.get(v.id, [])}) for v in vehicles],
        items=[CalendarItemOut.of(i) for i in items],
        queue=[trip_out(t) for t in queries.queue(session, start, end, scope.agency_ids)])


@router.get("/places", response_model=list[KnownPlaceOut], summary="Known places to pick a pickup or drop-off from")
def places(session: SessionDep, user: Anyone,
           q: Annotated[str | None, Query(max_length=100, description="text in the name, case-insensitive")] = None,
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[KnownPlaceOut]:
    """The agencies at their yards (``agency``) and their other yards (``depot``), then the addresses of trips the
    caller may see (``trip``), most recently booked first; each name once, with its WGS-84 coordinates."""
    found = queries.known_places(
        session, q=q or None, limit=limit,
        scope_agency_id=user.agency_id if user.role in AGENCY_ROLES else None,
        scope_driver_id=user.driver_id if user.role is Role.driver else None,
        scope_agency_ids=scope_of(session, user).agency_ids if user.role not in AGENCY_ROLES | {Role.driver}
        else None)
    return [KnownPlaceOut(name=p.name, lat=p.lat, lon=p.lon, kind=p.kind) for p in found]
