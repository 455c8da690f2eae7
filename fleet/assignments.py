"""Who drives what, when: the interval a trip holds its vehicle, licence and shift checks, assign and release,
and the choice of a driver for a route.

An assignment holds its vehicle (and driver) for the occupied interval [pickup, drop-off + dwell); the database
refuses two overlapping ones (migration 0002), and `assign` checks first so that the refusal names the trip
already holding the vehicle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from dispatch.travel import Geodesic
from fleet import audit, queries
from fleet.audit import Actor
from fleet.clock import CHINA, local_date, local_moment, local_text
from fleet.db import atomic
from fleet.enums import AssignmentSource, Category, LicenceClass, TripStatus, VehicleStatus
from fleet.errors import Conflict, InvalidInput, InvalidState, NotFound
from fleet.i18n import msg
from fleet.models import Assignment, Driver, Trip, Vehicle
from fleet.schemas import AssignIn

# The exchange format's defaults (road km = geodesic x 1.3 at 30 km/h): bookings and the engine agree on times.
TRAVEL = Geodesic()
# Licence classes that may drive a vehicle with this many seats (准驾车型): C1/C2 up to 9, B1 up to 19, A1 any.
_LICENCES = ((9, frozenset(LicenceClass)), (19, frozenset({LicenceClass.A1, LicenceClass.B1})),
             (10_000, frozenset({LicenceClass.A1})))

Interval = tuple[datetime, datetime]


def occupied(booked: Trip, pickup_at: datetime) -> Interval:
    """The interval an assignment holds its vehicle: from pickup to drop-off plus dwell."""
    drive = float(TRAVEL.seconds(np.asarray(booked.planned_km)))
    return pickup_at, pickup_at + timedelta(seconds=drive + booked.dwell_min * 60)


def licence_allows(licence: LicenceClass, seats: int) -> bool:
    """Whether a driver's licence class (准驾车型) covers a vehicle with this many seats."""
    return any(seats <= most and licence in classes for most, classes in _LICENCES)


def on_shift(driver: Driver, start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies inside one of the driver's shifts (which may run past midnight)."""
    today = local_date(start)
    for day in (today - timedelta(days=1), today):
        shift_start = local_moment(day, driver.shift_start)
        shift_end = local_moment(day, driver.shift_end)
        if driver.shift_end <= driver.shift_start:
            shift_end += timedelta(days=1)
        if shift_start <= start and end <= shift_end:
            return True
    return False


def _shift_text(driver: Driver) -> str:
    return f"{driver.shift_start:%H:%M}-{driver.shift_end:%H:%M}"


def holds(start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    """An active assignment holding its vehicle (and driver) at some moment of [start, end): what `assign` refuses
    to overlap, and what keeps a vehicle out of `free_vehicles`."""
    return sa.and_(Assignment.active, Assignment.starts_at < end, Assignment.ends_at > start)


def release(session: Session, booked: Trip) -> Assignment | None:
    """End the trip's active assignment, if any, freeing its vehicle and driver; returns what was released."""
    current = queries.active_assignment(session, booked.id)
    if current is not None:
        current.active = False
        session.flush()
    return current


def holding(session: Session, booked: Trip) -> Assignment:
    """The trip's active assignment; a trip without one cannot be driven."""
    current = queries.active_assignment(session, booked.id)
    if current is None:
        raise InvalidState(msg("trip {trip_id} has no vehicle assigned", trip_id=booked.id), field="status")
    return current


@atomic
def assign(session: Session, actor: Actor, *, trip_id: int, data: AssignIn,
           source: AssignmentSource = AssignmentSource.manual, run_id: int | None = None) -> Assignment:
    """Give an approved (or reassign an assigned) trip to a vehicle and, optionally, a driver."""
    queries.lock_in_order(session, vehicles=[data.vehicle_id])  # the car first; the trip's locked read is next
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status not in (TripStatus.approved, TripStatus.assigned):
        raise InvalidState(msg("trip {trip_id} is {status}; only an approved or assigned trip can be assigned",
                               trip_id=trip_id, status=booked.status), field="status")
    vehicle = queries.vehicle(session, data.vehicle_id, lock=True)
    _check_vehicle(vehicle, booked)
    driver = _driver(session, data.driver_id, vehicle) if data.driver_id is not None else None
    pickup_at = data.pickup_at or booked.earliest_pickup
    if not booked.earliest_pickup <= pickup_at <= booked.latest_pickup:
        raise InvalidInput(msg("pickup {pickup} is outside the trip's window {earliest} to {latest}",
                               pickup=local_text(pickup_at), earliest=local_text(booked.earliest_pickup),
                               latest=local_text(booked.latest_pickup)), field="pickup_at")
    starts, ends = occupied(booked, pickup_at)
    if driver is not None and not on_shift(driver, starts, ends):
        raise Conflict(msg("driver {name}'s shift {shift} does not cover {starts:%H:%M}-{ends:%H:%M}",
                           name=driver.name, shift=_shift_text(driver), starts=starts.astimezone(CHINA),
                           ends=ends.astimezone(CHINA)), field="driver_id")
    release(session, booked)
    held = _record(session, booked, vehicle, driver, starts, ends, source, run_id)
    booked.status, booked.dispatch_note = TripStatus.assigned, None
    audit.record(session, actor, "trip.assigned", booked, {
        "vehicle_id": vehicle.id, "plate": vehicle.plate, "driver_id": driver.id if driver else None,
        "starts_at": starts, "ends_at": ends, "source": source, "run_id": run_id})
    return held


@atomic
def unassign(session: Session, actor: Actor, *, trip_id: int, note: str | None = None) -> Trip:
    """Take an assigned trip that has not started off its vehicle (and driver): it goes back to the queue, approved.

    Refused (409) for a trip that is not assigned: one still to be decided or already approved has nothing to
    release, and one under way, completed, rejected or cancelled is past the point where its vehicle can change.
    """
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status is not TripStatus.assigned:
        raise InvalidState(msg("trip {trip_id} is {status}; only an assigned trip that has not started can be "
                               "unassigned", trip_id=trip_id, status=booked.status), field="status")
    released = release(session, booked)
    if released is None:  # assigned without a vehicle: the trip's own row says otherwise; refuse, change nothing
        raise InvalidState(msg("trip {trip_id} holds no vehicle to release", trip_id=trip_id), field="status")
    booked.status = TripStatus.approved
    audit.record(session, actor, "trip.unassigned", booked, {
        "vehicle_id": released.vehicle_id, "plate": released.vehicle.plate, "driver_id": released.driver_id,
        "starts_at": released.starts_at, "ends_at": released.ends_at, "note": note})
    return booked


def free_vehicles(session: Session, start: datetime, end: datetime, *, categories: Sequence[Category] = (),
                  seats: int | None = None) -> list[Vehicle]:
    """Vehicles in service (not sealed, in the workshop or disposed of) that no active assignment holds at any
    moment of [start, end), of one of ``categories`` (any when empty) and with at least ``seats`` seats, by plate.

    The same conditions `assign` checks of the vehicle: a trip whose occupied interval lies inside [start, end)
    and whose categories and passengers fit can be assigned to any of them (a driver's shift aside)."""
    query = (sa.select(Vehicle).options(selectinload(Vehicle.agency))
             .where(Vehicle.status == VehicleStatus.active,
                    ~sa.exists().where(Assignment.vehicle_id == Vehicle.id, holds(start, end)))
             .order_by(Vehicle.plate))
    if categories:
        query = query.where(Vehicle.category.in_(categories))
    if seats is not None:
        query = query.where(Vehicle.seats >= seats)
    return list(session.scalars(query))


def _check_vehicle(vehicle: Vehicle, booked: Trip) -> None:
    if vehicle.status is not VehicleStatus.active:
        raise InvalidState(msg("vehicle {plate} is {status}, not in service", plate=vehicle.plate,
                               status=vehicle.status), field="vehicle_id")
    if vehicle.category.value not in booked.categories:
        raise Conflict(msg("vehicle {plate} is {category}; trip {trip_id} allows {categories}", plate=vehicle.plate,
                           category=vehicle.category, trip_id=booked.id,
                           categories=", ".join(booked.categories)), field="vehicle_id")
    if vehicle.seats < booked.passengers:
        raise Conflict(msg("vehicle {plate} seats {seats}; trip {trip_id} carries {passengers}", plate=vehicle.plate,
                           seats=vehicle.seats, trip_id=booked.id, passengers=booked.passengers), field="vehicle_id")


def _driver(session: Session, driver_id: int, vehicle: Vehicle) -> Driver:
    driver = session.get(Driver, driver_id, with_for_update={"key_share": True})
    if driver is None:
        raise NotFound(msg("unknown driver id {driver_id}", driver_id=driver_id), field="driver_id")
    if not driver.active:
        raise InvalidState(msg("driver {name} is inactive", name=driver.name), field="driver_id")
    if not licence_allows(driver.licence_class, vehicle.seats):
        raise Conflict(msg("driver {name} holds {licence}, which does not cover a {seats}-seat vehicle",
                           name=driver.name, licence=driver.licence_class, seats=vehicle.seats),
                       field="driver_id")
    return driver


def _record(session: Session, booked: Trip, vehicle: Vehicle, driver: Driver | None, starts: datetime,
            ends: datetime, source: AssignmentSource, run_id: int | None) -> Assignment:
    """Insert the assignment; an overlap is refused naming the trip that holds the vehicle or driver."""
    for column, value, what, field in (
            (Assignment.vehicle_id, vehicle.id, msg("vehicle {plate}", plate=vehicle.plate), "vehicle_id"),
            (Assignment.driver_id, driver.id if driver else None,
             msg("driver {name}", name=driver.name) if driver else "", "driver_id")):
        if value is None:
            continue
        clash = session.scalar(sa.select(Assignment).where(column == value, holds(starts, ends)).limit(1))
        if clash is not None:
            raise Conflict(msg("{what} is assigned to trip {trip_id} from {start} to {end}", what=what,
                               trip_id=clash.trip_id, start=local_text(clash.starts_at),
                               end=local_text(clash.ends_at)), field=field, trip_id=clash.trip_id)
    held = Assignment(trip_id=booked.id, vehicle_id=vehicle.id, driver_id=driver.id if driver else None,
                      starts_at=starts, ends_at=ends, source=source, run_id=run_id)
    try:
        with session.begin_nested():
            session.add(held)
            session.flush()
    except IntegrityError:  # another connection took the vehicle or driver between our check and our write
        raise Conflict(msg("vehicle {plate} or its driver was just assigned to another trip overlapping "
                           "{start}-{end}", plate=vehicle.plate, start=local_text(starts), end=local_text(ends)),
                       field="vehicle_id") from None
    return held


# --- choosing a driver for a route ------------------------------------------------------------------------------

DriverCalendar = dict[int, list[Interval]]


def free_driver(vehicle: Vehicle, intervals: Sequence[Interval], busy: DriverCalendar, drivers: Sequence[Driver],
                prefer: frozenset[int] = frozenset()) -> Driver | None:
    """A driver for the whole route, booked into ``busy``: one already driving the vehicle (``prefer``), then the
    vehicle's agency's own, then the platform pool."""
    order = sorted(drivers, key=lambda d: (d.id not in prefer, d.agency_id != vehicle.agency_id, d.id))
    for driver in order:
        if driver.id not in prefer and driver.agency_id not in (None, vehicle.agency_id):
            continue
        if not licence_allows(driver.licence_class, vehicle.seats):
            continue
        if not all(on_shift(driver, s, e) for s, e in intervals):
            continue
        taken = busy.get(driver.id, [])
        if any(s < te and ts < e for s, e in intervals for ts, te in taken):
            continue
        busy.setdefault(driver.id, []).extend(intervals)
        return driver
    return None


def driver_calendar(session: Session, start: datetime, end: datetime) -> DriverCalendar:
    """Each driver's held intervals around [start, end), a day either side for shifts that cross midnight."""
    busy: DriverCalendar = {}
    for held in queries.assignments_between(session, start - timedelta(days=1), end + timedelta(days=1)):
        if held.driver_id is not None:
            busy.setdefault(held.driver_id, []).append((held.starts_at, held.ends_at))
    return busy
