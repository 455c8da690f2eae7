"""The trip lifecycle: book, decide, assign, drive, and the dispatch slip (派车单)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from html import escape
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.deps import HEAVY_READ, EngineDep, SessionDep, allow, scope_of, sees_trip
from api.errors import ApiError, ErrorOut
from api.schemas import (
    AssignmentOut,
    BookingOut,
    DecisionIn,
    Limit,
    MovedOut,
    ObjectId,
    Offset,
    PlaceOut,
    RejectIn,
    RentalOut,
    Since,
    TripOut,
    TripPage,
    UnassignIn,
    Until,
    UrgentOut,
)
from fleet import assignments, bookings, clock, exports, queries, scopes
from fleet.clock import CHINA, local_text
from fleet.db import unit_of_work
from fleet.enums import Priority, Role, TripStatus
from fleet.i18n import msg, with_article
from fleet.models import Trip, User
from fleet.schemas import AssignIn, OdometerIn, TripIn
from fleet.users import AGENCY_ROLES, actor_of

router = APIRouter(prefix="/trips", tags=["trips"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}})

Booker = Annotated[User, Depends(allow(Role.requester, Role.approver, Role.dispatcher))]
Decider = Annotated[User, Depends(allow(Role.approver, Role.dispatcher))]
Canceller = Annotated[User, Depends(allow(Role.requester, Role.approver, Role.dispatcher))]
Dispatcher = Annotated[User, Depends(allow(Role.dispatcher))]
Driving = Annotated[User, Depends(allow(Role.driver, Role.dispatcher))]
Reader = Annotated[User, Depends(allow(Role.requester, Role.approver, Role.dispatcher, Role.driver,
                                      Role.supervisor))]
TripId = ObjectId


def trip_out(trip: Trip) -> TripOut:
    holding = trip.assignment
    return TripOut(
        id=trip.id, agency=trip.agency.code, purpose=trip.purpose, priority=trip.priority,
        priority_reason=trip.priority_reason,
        categories=trip.categories,
        passengers=trip.passengers,
        pickup=PlaceOut(lat=trip.pickup_lat, lon=trip.pickup_lon, address=trip.pickup_address),
        dropoff=PlaceOut(lat=trip.dropoff_lat, lon=trip.dropoff_lon, address=trip.dropoff_address),
        earliest_pickup=trip.earliest_pickup, latest_pickup=trip.latest_pickup, dwell_min=trip.dwell_min,
        planned_km=round(trip.planned_km, 3), status=trip.status, decision_note=trip.decision_note,
        dispatch_note=trip.dispatch_note,
        requested_by=trip.requested_by.name if trip.requested_by else None,
        assignment=None if holding is None else AssignmentOut(
            id=holding.id, vehicle_id=holding.vehicle_id, plate=holding.vehicle.plate, driver_id=holding.driver_id,
            driver=holding.driver.name if holding.driver else None, starts_at=holding.starts_at,
            ends_at=holding.ends_at, source=holding.source, run_id=holding.run_id),
        started_at=trip.started_at, completed_at=trip.completed_at, odometer_start_km=trip.odometer_start_km,
        odometer_end_km=trip.odometer_end_km, created_at=trip.created_at, approval_basis=trip.approval_basis,
        backfill_reason=trip.backfill_reason,
        rental=None if trip.rental_provider is None or trip.rental_cost_cny is None else RentalOut(
            provider=trip.rental_provider.code, cost_cny=trip.rental_cost_cny),
    )


def visible(session: Session, user: User, trip_id: int) -> Trip:
    """The trip, if the caller may see it; otherwise 404, as if it did not exist."""
    trip = session.get(Trip, trip_id)
    holding = trip.assignment if trip is not None else None
    if trip is None or not sees_trip(user, trip, holding.driver_id if holding else None, scope_of(session, user)):
        raise ApiError(404, "NotFound", msg("unknown trip id {trip_id}", trip_id=trip_id), "trip_id")
    return trip


@router.post("", status_code=201, response_model=BookingOut, summary="Book a trip (用车申请)", responses={
    200: {"model": BookingOut, "description": "a retry with the same Idempotency-Key: the first booking",
          "headers": {"Idempotent-Replayed": {"schema": {"type": "string"}}}}})
def book(body: TripIn, session: SessionDep, user: Booker, response: Response, engine: EngineDep,
         idempotency_key: Annotated[str | None, Header(min_length=8, max_length=100,
                                                       description="retry-safe key: a retry returns the first "
                                                                   "booking instead of a second")] = None,
         ) -> BookingOut:
    if user.role in AGENCY_ROLES:
        assert user.agency is not None
        if body.agency not in (None, user.agency.code):
            raise ApiError(403, "Forbidden", msg("{role} books for its own agency {agency} only",
                                                 role=with_article(user.role), agency=user.agency.code), "agency")
        agency = user.agency.code
    else:
        if body.agency is None:
            raise ApiError(422, "InvalidInput",
                           msg("field 'agency': the platform books on behalf of an agency: name it"), "agency")
        agency = scopes.agency(session, scope_of(session, user), body.agency).code  # within the caller's scope
    booking = bookings.request(session, actor_of(user), agency=agency, data=body, requested_by=user, engine=engine,
                               idempotency_key=idempotency_key, within=_placing_scope(session, user))
    if not booking.created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return booking_out(booking, engine, user)


def _placing_scope(session: Session, user: User) -> frozenset[int] | None:
    """The vehicles an emergency this caller approves may take: a dispatcher's scope's; the whole platform's for an
    agency's approver (the platform serves its emergencies)."""
    return scope_of(session, user).agency_ids if user.role is Role.dispatcher else None


def booking_out(booking: bookings.Booking, engine: Engine, user: User) -> BookingOut:
    """The trip, with where an approved emergency went when it was placed. The trips it displaced or moved are
    other agencies' business: an agency's requester or approver is told the vehicle and the reason only."""
    placed = booking.urgent
    if placed is None:
        return BookingOut(**trip_out(booking.trip).model_dump())
    platform = user.role not in AGENCY_ROLES
    urgent = UrgentOut(
        vehicle=placed.vehicle, reason=placed.reason, displaced=placed.displaced if platform else [],
        replaced={str(k): v for k, v in placed.replaced.items()} if platform else {}, unplaced=placed.unplaced,
        moved=[MovedOut(trip_id=m.trip_id, plate=m.plate, before=m.before, after=m.after) for m in placed.moved]
        if platform else [],
        milliseconds=round(placed.seconds * 1000, 1))
    with unit_of_work(engine, readonly=True) as fresh:  # the booking's own session was committed before placement
        return BookingOut(**trip_out(queries.trip(fresh, placed.trip_id)).model_dump(), urgent=urgent)


def trip_filter(
    user: Reader, session: SessionDep,
    status: Annotated[list[TripStatus] | None, Query(description="repeatable: any of these")] = None,
    priority: Priority | None = None,
    agency: Annotated[str | None, Query(max_length=32, description="the booking agency's code")] = None,
    vehicle_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="assigned to this vehicle")] = None,
    driver_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="driven by this driver")] = None,
    mine: Annotated[bool, Query(description="only the trips the caller requested")] = False,
    since: Annotated[Since | None, Query(description="earliest pickup from: a date (that day in China time, "
                                                     "inclusive) or an instant")] = None,
    until: Annotated[Until | None, Query(description="earliest pickup before: a date (that day in China time, "
                                                     "inclusive) or an instant (exclusive)")] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the purpose, either address or the "
                                                                "assigned vehicle's plate; case-insensitive")] = None,
) -> queries.TripFilter:
    """The trips the caller may see (agency roles their agency's, drivers the trips they drive) that match the
    filters: `GET /trips` and its export read the same."""
    return queries.TripFilter(
        statuses=tuple(status or ()), priority=priority, agency=agency, vehicle_id=vehicle_id, driver_id=driver_id,
        requested_by_id=user.id if mine else None, since=since, until=until, q=q or None,
        scope_agency_id=user.agency_id if user.role in AGENCY_ROLES else None,
        scope_driver_id=user.driver_id if user.role is Role.driver else None,
        scope_agency_ids=scope_of(session, user).agency_ids if user.role is not Role.driver else None)


TripFilterDep = Annotated[queries.TripFilter, Depends(trip_filter)]
Sort = Annotated[queries.TripSort, Query(description="pickup (the default), created, priority (emergencies first) "
                                                      "or id; a leading - reverses")]


@router.get("", response_model=TripPage, summary="List trips the caller may see")
def list_trips(session: SessionDep, where: TripFilterDep, sort: Sort = "pickup", limit: Limit = 50,
               offset: Offset = 0) -> TripPage:
    page = queries.trips_page(session, where, sort=sort, limit=limit, offset=offset)
    return TripPage(items=[trip_out(t) for t in page.rows], total=page.total, limit=limit, offset=offset)


@router.get("/export", summary="Every trip the list would show, as CSV or XLSX with Chinese headings",
            dependencies=HEAVY_READ,
            responses={200: {"content": {"text/csv": {}, exports.SHEET_MEDIA_TYPES["xlsx"]: {}}}})
def export_trips(session: SessionDep, where: TripFilterDep, sort: Sort = "pickup",
                 format: exports.SheetFormat = "csv") -> StreamingResponse:
    """Not a page: every matching trip, written (a batch of rows at a time) before the answer starts, then
    streamed. Instants are China time."""
    # Past EXPORT_IN_MEMORY the sheet waits on disk; the response closes it once sent (hence no ``with`` here).
    sheet = tempfile.SpooledTemporaryFile(max_size=EXPORT_IN_MEMORY)  # noqa: SIM115
    try:
        exports.write_trips_sheet(session, sheet, format, where, sort=sort)
        sheet.seek(0)
    except BaseException:
        sheet.close()
        raise
    stamp = clock.now().astimezone(CHINA).strftime("%Y%m%d-%H%M")
    return StreamingResponse(_chunks(sheet), media_type=exports.SHEET_MEDIA_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="trips-{stamp}.{format}"'})


EXPORT_IN_MEMORY = 8 * 2**20


def _chunks(sheet: IO[bytes], size: int = 2**16) -> Iterator[bytes]:
    with sheet:
        while chunk := sheet.read(size):
            yield chunk


@router.get("/{trip_id}", response_model=TripOut, summary="One trip")
def get_trip(trip_id: TripId, session: SessionDep, user: Reader) -> TripOut:
    return trip_out(visible(session, user, trip_id))


def _decide(session: Session, user: User, trip_id: int, decision: str, note: str | None) -> TripOut:
    visible(session, user, trip_id)
    trip = bookings.decide(session, actor_of(user), trip_id=trip_id, decision=decision, note=note)
    return trip_out(trip)


@router.post("/{trip_id}/approve", response_model=BookingOut,
             summary="Approve (审批通过); an emergency is placed at once (urgent insertion)")
def approve(trip_id: TripId, session: SessionDep, user: Decider, engine: EngineDep,
            body: DecisionIn | None = None) -> BookingOut:
    """The agency's approver approves its trips. A dispatcher approves only on the agency's approval given outside
    the platform: `note` is then required and states that basis (e.g. who approved, by phone); it is stored as the
    trip's `approval_basis` and audited (422 naming `note` without it). A trip whose pickup window is over is not
    approved (422 naming `latest_pickup`), unless it was booked as a back-fill (补录)."""
    visible(session, user, trip_id)
    approval = bookings.approve(session, actor_of(user), trip_id=trip_id, engine=engine,
                                note=body.note if body else None, within=_placing_scope(session, user))
    return booking_out(approval, engine, user)


@router.post("/{trip_id}/reject", response_model=TripOut, summary="Reject, with the reason (驳回)")
def reject(trip_id: TripId, body: RejectIn, session: SessionDep, user: Decider) -> TripOut:
    return _decide(session, user, trip_id, "reject", body.note)


@router.post("/{trip_id}/cancel", response_model=TripOut, summary="Cancel; an assigned trip frees its vehicle")
def cancel(trip_id: TripId, session: SessionDep, user: Canceller, body: DecisionIn | None = None) -> TripOut:
    return _decide(session, user, trip_id, "cancel", body.note if body else None)


@router.post("/{trip_id}/assign", response_model=TripOut, summary="Assign a vehicle and driver by hand")
def assign(trip_id: TripId, body: AssignIn, session: SessionDep, user: Dispatcher) -> TripOut:
    visible(session, user, trip_id)
    scope = scope_of(session, user)  # a dispatcher gives its trips its own vehicles and drivers (or the pool's)
    scopes.vehicle(session, scope, body.vehicle_id)
    if body.driver_id is not None:
        scopes.assignable_driver(session, scope, body.driver_id)
    assignments.assign(session, actor_of(user), trip_id=trip_id, data=body)
    return trip_out(visible(session, user, trip_id))


@router.post("/{trip_id}/unassign", response_model=TripOut,
             summary="Take an assigned trip off its vehicle: it goes back to the queue, approved")
def unassign(trip_id: TripId, session: SessionDep, user: Dispatcher, body: UnassignIn | None = None) -> TripOut:
    visible(session, user, trip_id)
    return trip_out(assignments.unassign(session, actor_of(user), trip_id=trip_id, note=body.note if body else None))


@router.post("/{trip_id}/start", response_model=TripOut, summary="出车: pick up, with the odometer reading")
def start(trip_id: TripId, body: OdometerIn, session: SessionDep, user: Driving) -> TripOut:
    visible(session, user, trip_id)
    return trip_out(bookings.start(session, actor_of(user), trip_id=trip_id, data=body))


@router.post("/{trip_id}/complete", response_model=TripOut, summary="收车: drop off, with the odometer reading")
def complete(trip_id: TripId, body: OdometerIn, session: SessionDep, user: Driving) -> TripOut:
    visible(session, user, trip_id)
    return trip_out(bookings.complete(session, actor_of(user), trip_id=trip_id, data=body))


@router.get("/{trip_id}/slip", response_model=TripOut, summary="The dispatch slip (派车单), JSON or printable HTML",
            responses={200: {"content": {"text/html": {}}}})
def slip(trip_id: TripId, session: SessionDep, user: Reader,
         format: Annotated[str, Query(pattern="^(json|html)$")] = "json") -> TripOut | HTMLResponse:
    trip = trip_out(visible(session, user, trip_id))
    if format == "json":
        return trip
    return HTMLResponse(slip_html(trip))


def slip_html(trip: TripOut) -> str:
    """A one-page 派车单 that prints on A5."""
    a = trip.assignment

    def local(at: datetime | None) -> str:
        return local_text(at) if at else "—"

    rows = [
        ("单号 No.", str(trip.id)), ("用车单位 Agency", trip.agency), ("事由 Purpose", trip.purpose),
        ("优先级 Priority", f"{trip.priority.zh} ({trip.priority.value})"),
        ("事由说明 Reason", trip.priority_reason or "—"), ("人数 Passengers", str(trip.passengers)),
        ("上车地点 Pickup", trip.pickup.address), ("目的地 Destination", trip.dropoff.address),
        ("用车时间 Pickup window", f"{local(trip.earliest_pickup)} – {local(trip.latest_pickup)}"),
        ("计划里程 Planned km", f"{trip.planned_km:.1f}"), ("状态 Status", f"{trip.status.zh} ({trip.status.value})"),
        ("车牌 Vehicle", a.plate if a else "未派车"), ("驾驶员 Driver", (a.driver or "—") if a else "—"),
        ("计划出车 Planned pickup", local(a.starts_at) if a else "—"),
        ("出车里程 Odometer out", str(trip.odometer_start_km or "—")),
        ("收车里程 Odometer in", str(trip.odometer_end_km or "—")),
        ("审批依据 Approval basis", trip.approval_basis or "单位审批 agency approver"),
        ("补录原因 Back-filled", trip.backfill_reason or "—"),
    ]
    body = "\n".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>派车单 {trip.id}</title>
<style>@page {{ size: A5; margin: 12mm }} body {{ font-family: sans-serif }} table {{ border-collapse: collapse;
width: 100% }} th, td {{ border: 1px solid #444; padding: 4px 8px; text-align: left }} th {{ width: 35% }}
.sign {{ margin-top: 24px; display: flex; justify-content: space-between }}</style></head>
<body><h1>公务用车派车单</h1><table>{body}</table>
<div class="sign"><span>调度员签字:</span><span>驾驶员签字:</span><span>用车人签字:</span></div></body></html>"""
