"""The trip lifecycle (用车申请 → 审批 → 派车 → 出车 → 收车): booking, decisions, assignments and odometers.

Every change is audited in its own transaction. An assignment holds its vehicle (and driver) for the occupied
interval [pickup, drop-off + dwell); the database refuses two overlapping ones (migration 0002), and the service
checks first so that the refusal names the trip already holding the vehicle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from dispatch.travel import Geodesic
from fleet import audit, queries
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import AssignmentSource, LicenceClass, TripStatus, VehicleStatus
from fleet.errors import Conflict, InvalidInput, InvalidState, NotFound
from fleet.models import Assignment, Driver, Trip, User, Vehicle, utcnow
from fleet.schemas import AssignIn, OdometerIn, TripIn
from fleet.vehicles import record_odometer

CHINA = ZoneInfo("Asia/Shanghai")
# The exchange format's defaults (road km = geodesic x 1.3 at 30 km/h): bookings and the engine agree on times.
TRAVEL = Geodesic()
# Licence classes that may drive a vehicle with this many seats (准驾车型): C1/C2 up to 9, B1 up to 19, A1 any.
_LICENCES = ((9, frozenset(LicenceClass)), (19, frozenset({LicenceClass.A1, LicenceClass.B1})),
             (10_000, frozenset({LicenceClass.A1})))

_DECISIONS: dict[str, tuple[frozenset[TripStatus], TripStatus]] = {
    "approve": (frozenset({TripStatus.requested}), TripStatus.approved),
    "reject": (frozenset({TripStatus.requested}), TripStatus.rejected),
    "cancel": (frozenset({TripStatus.requested, TripStatus.approved, TripStatus.assigned}), TripStatus.cancelled),
}
DECISIONS = tuple(_DECISIONS)


def trip(session: Session, trip_id: int, *, lock: bool = False) -> Trip:
    found = session.get(Trip, trip_id, with_for_update=lock)
    if found is None:
        raise NotFound(f"unknown trip id {trip_id}", field="trip_id")
    return found


def occupied(booked: Trip, pickup_at: datetime) -> tuple[datetime, datetime]:
    """The interval an assignment holds its vehicle: from pickup to drop-off plus dwell."""
    drive = float(TRAVEL.seconds(np.asarray(booked.planned_km)))
    return pickup_at, pickup_at + timedelta(seconds=drive + booked.dwell_min * 60)


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


def _by_key(session: Session, user: User | None, key: str) -> Trip | None:
    owner = Trip.requested_by_id.is_(None) if user is None else Trip.requested_by_id == user.id
    return session.scalar(sa.select(Trip).where(owner, Trip.idempotency_key == key))


def _replayed(earlier: Trip, fingerprint: str) -> Trip:
    if earlier.request_digest != fingerprint:
        raise Conflict("this Idempotency-Key was used for a different booking; use a new key for a new trip",
                       field="Idempotency-Key", trip_id=earlier.id)
    return earlier


@atomic
def decide(session: Session, actor: Actor, *, trip_id: int, decision: str, note: str | None = None) -> Trip:
    """Approve, reject or cancel a trip; cancelling an assigned trip frees its vehicle."""
    allowed, to = _DECISIONS[decision]
    booked = trip(session, trip_id, lock=True)
    if booked.status not in allowed:
        raise InvalidState(f"trip {trip_id} is {booked.status.value}; {decision} needs "
                           f"{' or '.join(sorted(s.value for s in allowed))}", field="status")
    released = _release(session, booked)
    before, booked.status, booked.decision_note = booked.status, to, note
    changes: dict[str, object] = {"from": before, "to": to, "note": note}
    if released is not None:
        changes["released_vehicle_id"] = released.vehicle_id
    audit.record(session, actor, f"trip.{to.value}", booked, changes)
    return booked


def _active(session: Session, booked: Trip) -> Assignment | None:
    return session.scalar(sa.select(Assignment).where(Assignment.trip_id == booked.id, Assignment.active))


def _release(session: Session, booked: Trip) -> Assignment | None:
    current = _active(session, booked)
    if current is not None:
        current.active = False
        session.flush()
    return current


def licence_allows(licence: LicenceClass, seats: int) -> bool:
    return any(seats <= most and licence in classes for most, classes in _LICENCES)


def on_shift(driver: Driver, start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies inside one of the driver's shifts (which may run past midnight)."""
    local_start = start.astimezone(CHINA)
    for day in (local_start.date() - timedelta(days=1), local_start.date()):
        shift_start = datetime.combine(day, driver.shift_start, CHINA)
        shift_end = datetime.combine(day, driver.shift_end, CHINA)
        if driver.shift_end <= driver.shift_start:
            shift_end += timedelta(days=1)
        if shift_start <= start and end <= shift_end:
            return True
    return False


def _shift_text(driver: Driver) -> str:
    return f"{driver.shift_start:%H:%M}-{driver.shift_end:%H:%M}"


@atomic
def assign(session: Session, actor: Actor, *, trip_id: int, data: AssignIn,
           source: AssignmentSource = AssignmentSource.manual, run_id: int | None = None) -> Assignment:
    """Give an approved (or reassign an assigned) trip to a vehicle and, optionally, a driver."""
    booked = trip(session, trip_id, lock=True)
    if booked.status not in (TripStatus.approved, TripStatus.assigned):
        raise InvalidState(f"trip {trip_id} is {booked.status.value}; only an approved or assigned trip can be "
                           f"assigned", field="status")
    vehicle = queries.vehicle(session, data.vehicle_id, lock=True)
    _check_vehicle(vehicle, booked)
    driver = _driver(session, data.driver_id, vehicle) if data.driver_id is not None else None
    pickup_at = data.pickup_at or booked.earliest_pickup
    if not booked.earliest_pickup <= pickup_at <= booked.latest_pickup:
        raise InvalidInput(f"pickup {pickup_at.isoformat()} is outside the trip's window "
                           f"{booked.earliest_pickup.isoformat()} to {booked.latest_pickup.isoformat()}",
                           field="pickup_at")
    starts, ends = occupied(booked, pickup_at)
    if driver is not None and not on_shift(driver, starts, ends):
        raise Conflict(f"driver {driver.name}'s shift {_shift_text(driver)} does not cover "
                       f"{starts.astimezone(CHINA):%H:%M}-{ends.astimezone(CHINA):%H:%M}", field="driver_id")
    _release(session, booked)
    holding = _record(session, booked, vehicle, driver, starts, ends, source, run_id)
    booked.status = TripStatus.assigned
    audit.record(session, actor, "trip.assigned", booked, {
        "vehicle_id": vehicle.id, "plate": vehicle.plate, "driver_id": driver.id if driver else None,
        "starts_at": starts, "ends_at": ends, "source": source, "run_id": run_id})
    return holding


def _check_vehicle(vehicle: Vehicle, booked: Trip) -> None:
    if vehicle.status is not VehicleStatus.active:
        raise InvalidState(f"vehicle {vehicle.plate} is {vehicle.status.value}, not in service", field="vehicle_id")
    if vehicle.category.value not in booked.categories:
        raise Conflict(f"vehicle {vehicle.plate} is {vehicle.category.value}; trip {booked.id} allows "
                       f"{', '.join(booked.categories)}", field="vehicle_id")
    if vehicle.seats < booked.passengers:
        raise Conflict(f"vehicle {vehicle.plate} seats {vehicle.seats}; trip {booked.id} carries "
                       f"{booked.passengers}", field="vehicle_id")


def _driver(session: Session, driver_id: int, vehicle: Vehicle) -> Driver:
    driver = session.get(Driver, driver_id, with_for_update=True)
    if driver is None:
        raise NotFound(f"unknown driver id {driver_id}", field="driver_id")
    if not driver.active:
        raise InvalidState(f"driver {driver.name} is inactive", field="driver_id")
    if not licence_allows(driver.licence_class, vehicle.seats):
        raise Conflict(f"driver {driver.name} holds {driver.licence_class.value}, which does not cover a "
                       f"{vehicle.seats}-seat vehicle", field="driver_id")
    return driver


def _record(session: Session, booked: Trip, vehicle: Vehicle, driver: Driver | None, starts: datetime,
            ends: datetime, source: AssignmentSource, run_id: int | None) -> Assignment:
    """Insert the assignment; an overlap is refused naming the trip that holds the vehicle or driver."""
    for column, value, what in ((Assignment.vehicle_id, vehicle.id, f"vehicle {vehicle.plate}"),
                                (Assignment.driver_id, driver.id if driver else None,
                                 f"driver {driver.name}" if driver else "")):
        if value is None:
            continue
        clash = session.scalar(sa.select(Assignment).where(
            column == value, Assignment.active, Assignment.starts_at < ends, Assignment.ends_at > starts).limit(1))
        if clash is not None:
            raise Conflict(f"{what} is assigned to trip {clash.trip_id} from {_local(clash.starts_at)} to "
                           f"{_local(clash.ends_at)}", field="driver_id" if what.startswith("driver") else
                           "vehicle_id", trip_id=clash.trip_id)
    holding = Assignment(trip_id=booked.id, vehicle_id=vehicle.id, driver_id=driver.id if driver else None,
                         starts_at=starts, ends_at=ends, source=source, run_id=run_id)
    try:
        with session.begin_nested():
            session.add(holding)
            session.flush()
    except IntegrityError:  # another connection took the vehicle or driver between our check and our write
        raise Conflict(f"vehicle {vehicle.plate} or its driver was just assigned to another trip overlapping "
                       f"{_local(starts)}-{_local(ends)}", field="vehicle_id") from None
    return holding


def _local(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


@atomic
def start(session: Session, actor: Actor, *, trip_id: int, data: OdometerIn) -> Trip:
    """出车: the driver picks the passengers up and reads the odometer."""
    booked = _moving(session, trip_id, TripStatus.assigned, "start")
    at = data.at or utcnow()
    vehicle = queries.vehicle(session, _holding(session, booked).vehicle_id, lock=True)
    record_odometer(session, vehicle, data.odometer_km, at.astimezone(CHINA).date(), "trip.start")
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
        raise InvalidInput(f"odometer {data.odometer_km} km is below the start reading "
                           f"{booked.odometer_start_km} km", field="odometer_km")
    if at < booked.started_at:
        raise InvalidInput(f"completion {at.isoformat()} is before the start {booked.started_at.isoformat()}",
                           field="at")
    vehicle = queries.vehicle(session, _holding(session, booked).vehicle_id, lock=True)
    record_odometer(session, vehicle, data.odometer_km, at.astimezone(CHINA).date(), "trip.complete")
    booked.status, booked.completed_at, booked.odometer_end_km = TripStatus.completed, at, data.odometer_km
    audit.record(session, actor, "trip.completed", booked, {
        "odometer_km": data.odometer_km, "at": at, "driven_km": data.odometer_km - booked.odometer_start_km,
        "planned_km": booked.planned_km})
    return booked


def _moving(session: Session, trip_id: int, needed: TripStatus, step: str) -> Trip:
    booked = trip(session, trip_id, lock=True)
    if booked.status is not needed:
        raise InvalidState(f"trip {trip_id} is {booked.status.value}; {step} needs {needed.value}", field="status")
    return booked


def _holding(session: Session, booked: Trip) -> Assignment:
    current = _active(session, booked)
    if current is None:
        raise InvalidState(f"trip {booked.id} has no vehicle assigned", field="status")
    return current


def assignments_between(session: Session, start: datetime, end: datetime,
                        vehicle_ids: Sequence[int] | None = None) -> list[Assignment]:
    """Active assignments overlapping [start, end), by vehicle and time."""
    query = (sa.select(Assignment).options(selectinload(Assignment.trip), selectinload(Assignment.driver))
             .where(Assignment.active, Assignment.starts_at < end, Assignment.ends_at > start))
    if vehicle_ids is not None:
        query = query.where(Assignment.vehicle_id.in_(vehicle_ids))
    return list(session.scalars(query.order_by(Assignment.vehicle_id, Assignment.starts_at)))
