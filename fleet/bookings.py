"""The trip lifecycle (用车申请 → 审批 → 派车 → 出车 → 收车): booking, decisions, and driving with odometers.

Every change is audited in its own transaction. Assigning a vehicle is `fleet.assignments`; dispatching many trips
at once, or one urgent trip into the running day, is `fleet.dispatching`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet import audit, dispatching, queries
from fleet.assignments import TRAVEL, holding, release
from fleet.audit import Actor
from fleet.clock import local_date
from fleet.db import atomic
from fleet.enums import Priority, Role, TripStatus
from fleet.errors import Conflict, InvalidInput, InvalidState
from fleet.i18n import alternatives, msg
from fleet.models import Trip, User, utcnow
from fleet.schemas import OdometerIn, TripIn
from fleet.vehicles import record_odometer

_DECISIONS: dict[str, tuple[frozenset[TripStatus], TripStatus]] = {
    "approve": (frozenset({TripStatus.requested}), TripStatus.approved),
    "reject": (frozenset({TripStatus.requested}), TripStatus.rejected),
    "cancel": (frozenset({TripStatus.requested, TripStatus.approved, TripStatus.assigned}), TripStatus.cancelled),
}
DECISIONS = tuple(_DECISIONS)
_DECISION_WORDS = {"approve": msg("approve"), "reject": msg("reject"), "cancel": msg("cancel"),
                   "start": msg("start"), "complete": msg("complete")}


def digest(data: TripIn) -> str:
    return hashlib.sha256(data.model_dump_json().encode("utf-8")).hexdigest()


@atomic
def book(session: Session, actor: Actor, *, agency: str, data: TripIn, requested_by: User | None = None,
         idempotency_key: str | None = None, approved: bool = False) -> tuple[Trip, bool]:
    """Book a trip for ``agency``; returns (trip, created). A repeated idempotency key returns the first booking."""
    fingerprint = digest(data)
    if idempotency_key is not None:
        earlier = _by_key(session, requested_by, idempotency_key)
        if earlier is not None:
            return _replayed(earlier, fingerprint), False
    held_by = queries.agency_by_code(session, agency)
    booked = Trip(
        agency=held_by, requested_by=requested_by, purpose=data.purpose, priority=data.priority,
        priority_reason=data.priority_reason,
        categories=[c.value for c in data.allowed], passengers=data.passengers,
        pickup_lat=data.pickup.lat, pickup_lon=data.pickup.lon, pickup_address=data.pickup.address,
        dropoff_lat=data.dropoff.lat, dropoff_lon=data.dropoff.lon, dropoff_address=data.dropoff.address,
        earliest_pickup=data.earliest_pickup, latest_pickup=data.latest_pickup, dwell_min=data.dwell_min,
        planned_km=TRAVEL.pair_km((data.pickup.lat, data.pickup.lon), (data.dropoff.lat, data.dropoff.lon)),
        status=TripStatus.approved if approved else TripStatus.requested,
        idempotency_key=idempotency_key, request_digest=fingerprint,
    )
    try:
        with session.begin_nested():
            session.add(booked)
            session.flush()
    except IntegrityError:  # the same key raced in from another connection (PostgreSQL): answer with that one
        earlier = _by_key(session, requested_by, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return _replayed(earlier, fingerprint), False
    changes = data.model_dump(exclude={"agency", "categories"}) | {"agency": agency, "categories": booked.categories,
                                                                    "status": booked.status}
    audit.record(session, actor, "trip.booked", booked, changes)
    return booked, True


@dataclass(frozen=True)
class Booking:
    """A booking as its requester sees it: the trip, whether this call created it, and where an urgent trip went.

    When ``urgent`` is set, ``session`` was committed before the placement and must not be used again: read the
    trip afresh.
    """

    trip: Trip
    created: bool
    urgent: dispatching.Urgent | None


def request(session: Session, actor: Actor, *, agency: str, data: TripIn, requested_by: User, engine: Engine,
            idempotency_key: str | None = None) -> Booking:
    """Book a trip as ``requested_by``'s role books it.

    The platform's own bookings (a dispatcher's) need no agency approval, and an emergency the platform books is
    placed at once by urgent insertion; an agency's bookings wait for its approver. The emergency's booking is
    committed first, so that it is stored whatever placement does; placement then runs in transactions of its own
    on ``engine`` (`fleet.dispatching.place_urgent`).
    """
    by_platform = requested_by.role is Role.dispatcher
    booked, created = book(session, actor, agency=agency, data=data, requested_by=requested_by,
                           idempotency_key=idempotency_key, approved=by_platform)
    urgent = None
    if created and by_platform and booked.priority is Priority.emergency:
        session.commit()
        urgent = dispatching.place_urgent(engine, actor, trip_id=booked.id, now=utcnow())
    return Booking(booked, created, urgent)


def _by_key(session: Session, user: User | None, key: str) -> Trip | None:
    owner = Trip.requested_by_id.is_(None) if user is None else Trip.requested_by_id == user.id
    return session.scalar(sa.select(Trip).where(owner, Trip.idempotency_key == key))


def _replayed(earlier: Trip, fingerprint: str) -> Trip:
    if earlier.request_digest != fingerprint:
        raise Conflict(msg("this Idempotency-Key was used for a different booking; use a new key for a new trip"),
                       field="Idempotency-Key", trip_id=earlier.id)
    return earlier


@atomic
def decide(session: Session, actor: Actor, *, trip_id: int, decision: str, note: str | None = None) -> Trip:
    """Approve, reject or cancel a trip; cancelling an assigned trip frees its vehicle."""
    allowed, to = _DECISIONS[decision]
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status not in allowed:
        raise InvalidState(msg("trip {trip_id} is {status}; {decision} needs {needed}", trip_id=trip_id,
                               status=booked.status, decision=_DECISION_WORDS[decision],
                               needed=alternatives(sorted(allowed))), field="status")
    released = release(session, booked)
    before, booked.status, booked.decision_note = booked.status, to, note
    changes: dict[str, object] = {"from": before, "to": to, "note": note}
    if released is not None:
        changes["released_vehicle_id"] = released.vehicle_id
    audit.record(session, actor, f"trip.{to.value}", booked, changes)
    return booked


@atomic
def start(session: Session, actor: Actor, *, trip_id: int, data: OdometerIn) -> Trip:
    """出车: the driver picks the passengers up and reads the odometer."""
    booked = _moving(session, trip_id, TripStatus.assigned, "start")
    at = data.at or utcnow()
    vehicle = queries.vehicle(session, holding(session, booked).vehicle_id, lock=True)
    record_odometer(session, vehicle, data.odometer_km, local_date(at), "trip.start")
    booked.status, booked.started_at, booked.odometer_start_km = TripStatus.in_progress, at, data.odometer_km
    audit.record(session, actor, "trip.started", booked, {"odometer_km": data.odometer_km, "at": at,
                                                          "vehicle_id": vehicle.id})
    return booked


@atomic
def complete(session: Session, actor: Actor, *, trip_id: int, data: OdometerIn) -> Trip:
    """收车: the passengers are delivered; the odometer reading closes the trip's mileage."""
    booked = _moving(session, trip_id, TripStatus.in_progress, "complete")
    at = data.at or utcnow()
    assert booked.odometer_start_km is not None  # set by start
    assert booked.started_at is not None
    if data.odometer_km < booked.odometer_start_km:
        raise InvalidInput(msg("odometer {km} km is below the start reading {start_km} km", km=data.odometer_km,
                               start_km=booked.odometer_start_km), field="odometer_km")
    if at < booked.started_at:
        raise InvalidInput(msg("completion {at} is before the start {started_at}", at=at.isoformat(),
                               started_at=booked.started_at.isoformat()), field="at")
    vehicle = queries.vehicle(session, holding(session, booked).vehicle_id, lock=True)
    record_odometer(session, vehicle, data.odometer_km, local_date(at), "trip.complete")
    booked.status, booked.completed_at, booked.odometer_end_km = TripStatus.completed, at, data.odometer_km
    audit.record(session, actor, "trip.completed", booked, {
        "odometer_km": data.odometer_km, "at": at, "driven_km": data.odometer_km - booked.odometer_start_km,
        "planned_km": booked.planned_km})
    return booked


def _moving(session: Session, trip_id: int, needed: TripStatus, step: str) -> Trip:
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status is not needed:
        raise InvalidState(msg("trip {trip_id} is {status}; {decision} needs {needed}", trip_id=trip_id,
                               status=booked.status, decision=_DECISION_WORDS[step], needed=needed), field="status")
    return booked
