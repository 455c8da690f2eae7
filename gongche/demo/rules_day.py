"""Rules without holes (issue 14), tried the way a hurried or careless user would: a luxury sedan registered straight
onto the books, a car bought since go-live registered instead of acquired, a rental car against the quota, a
start dated weeks back, a driver back-filling, a booking for a pickup already past, a dispatcher's booking that skips
the agency's approver, an emergency without its reason, and an emergency its approver approves (placed at once).
Each attempt goes through the services the API calls, with the platform's clock moved to the booked day's hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import bookings, clock, queries, rentals, vehicles
from fleet.audit import Actor
from fleet.clock import CHINA
from fleet.db import unit_of_work
from fleet.enums import Category, Role, TripStatus, VehicleSource
from fleet.errors import FleetError
from fleet.models import Trip, User, Vehicle
from fleet.schemas import OdometerIn, RentalProviderIn, TripIn, VehicleIn, vin_check_digit


def run(engine: Engine, console: Console, *, day: date) -> None:
    """Try each walk-around on ``day`` (the booked day) and show the platform's answer to each."""
    table = Table(title="Rules without holes: each way around a rule, tried, and the answer")
    table.add_column("attempt")
    table.add_column("answer")

    def attempt(what: str, act: Callable[[Session], str]) -> None:
        try:
            with unit_of_work(engine) as session:
                table.add_row(what, f"[green]{act(session)}[/]")
        except FleetError as refused:
            table.add_row(what, f"[red]{refused.status} {refused.code}[/] ({refused.field}): {refused.detail}")

    with unit_of_work(engine, readonly=True) as session:
        dispatcher, requester = _user(session, Role.dispatcher), _user(session, Role.requester)
        assert requester.agency is not None
        agency = requester.agency.code
        approver = session.scalars(sa.select(User).where(User.role == Role.approver,
                                                         User.agency_id == requester.agency_id)).one()
        desk, asker, decider = (Actor(u.name, u.role.value) for u in (dispatcher, requester, approver))
        dispatcher_id, requester_id = dispatcher.id, requester.id
        full = _full_quota(session)
    admin = Actor("demo-admin", Role.admin.value)

    def by_desk(s: Session) -> User:
        return s.get_one(User, dispatcher_id)

    def by_asker(s: Session) -> User:
        return s.get_one(User, requester_id)

    bought = date(day.year - 1, 11, 20)  # before the platform went live
    attempt(f"register a 500,000 CNY 3.0 L petrol sedan bought on {bought}",
            lambda s: _registered(vehicles.register(s, admin, agency=agency, data=_sedan(
                9001, price="500000", litres="3.0", on=bought))))
    attempt("register a 1.5 L sedan bought today, after go-live, without a plan",
            lambda s: _registered(vehicles.register(s, admin, agency=agency, data=_sedan(9002, on=clock.today()))))
    hirer, category = full or (agency, Category.general)
    attempt(f"register a rental car (社会化租赁) for {hirer}{', whose quota is full' if full else ''}",
            lambda s: _rented(s, vehicles.register(s, admin, agency=hirer, data=_sedan(
                9003, on=clock.today(), category=category, source=VehicleSource.rental,
                rental_provider=_provider(s, admin)))))

    trip_id = _assigned_trip(engine, day)
    if trip_id is not None:
        pickup = _pickup(engine, trip_id)
        driver = Actor("driver-on-duty", Role.driver.value)
        with clock.travel(pickup + timedelta(minutes=5)):
            attempt("a driver starts a trip 'two months ago'", lambda s: _started(bookings.start(
                s, driver, trip_id=trip_id, data=OdometerIn(odometer_km=999_000, at=pickup - timedelta(days=61)))))
        with clock.travel(pickup + timedelta(hours=8)):
            attempt("the driver back-fills the start that evening", lambda s: _started(bookings.start(
                s, driver, trip_id=trip_id, data=OdometerIn(odometer_km=999_000, at=pickup,
                                                            backfill_reason="忘记点出车"))))
            attempt("the dispatcher back-fills it from the slip, with the reason", lambda s: _started(bookings.start(
                s, desk, trip_id=trip_id, data=OdometerIn(odometer_km=_odometer(s, trip_id), at=pickup,
                                                          backfill_reason="驾驶员手机没电，按派车单补录"))))

    morning = datetime.combine(day, time(9), CHINA)
    with clock.travel(datetime.combine(day, time(11), CHINA)):
        attempt("a requester books a trip for 09:00 at 11:00", lambda s: _booked(bookings.request(
            s, asker, agency=agency, data=_trip(morning, "routine"), requested_by=by_asker(s), engine=engine)))
        attempt("the dispatcher books it after the fact, with the reason and the approval's basis",
                lambda s: _booked(bookings.request(s, desk, agency=agency, data=_trip(
                    morning, "routine", backfill_reason="领导临时用车，事后补录", approval_basis="办公室主任电话同意"),
                    requested_by=by_desk(s), engine=engine)))
    with clock.travel(datetime.combine(day, time(12), CHINA)):
        afternoon = datetime.combine(day, time(16), CHINA)
        attempt("the dispatcher books a routine trip with no approval recorded", lambda s: _booked(bookings.request(
            s, desk, agency=agency, data=_trip(afternoon, "routine"), requested_by=by_desk(s),
            engine=engine)))
        attempt("a requester books an emergency without saying why", lambda s: _booked(bookings.request(
            s, asker, agency=agency, data=_trip(afternoon, "emergency"), requested_by=by_asker(s),
            engine=engine)))
        emergency: list[int] = []

        def urgent(s: Session) -> str:
            booking = bookings.request(s, asker, agency=agency, data=_trip(
                afternoon, "emergency", priority_reason="辖区突发火情，需立即赶赴现场"), requested_by=by_asker(s),
                engine=engine)
            emergency.append(booking.trip.id)
            return _booked(booking)

        attempt("a requester books an emergency, saying why", urgent)
        if emergency:
            attempt("its approver approves it", lambda s: _booked(bookings.approve(
                s, decider, trip_id=emergency[0], engine=engine, note="同意")))
    console.print(table)
    with unit_of_work(engine, readonly=True) as session:
        excepted = session.scalar(sa.select(sa.func.count()).select_from(Vehicle).where(
            Vehicle.registration_basis.is_not(None))) or 0
    console.print(f"{excepted} vehicles of the retained fleet are on the books by exception (bought above today's "
                  f"standard, each with its recorded basis): the annual report lists them (registered_by_exception)")


def _user(session: Session, role: Role) -> User:
    found = session.scalars(sa.select(User).where(User.role == role, User.active).order_by(User.id)).first()
    assert found is not None, f"the demo has a {role.value}"
    return found


def _full_quota(session: Session) -> tuple[str, Category] | None:
    """An agency and a category whose quota is used up."""
    for quota in queries.quota_use_page(session).rows:
        if quota.limit and quota.held >= quota.limit:
            return quota.agency, quota.category
    return None


def _provider(session: Session, admin: Actor) -> str:
    """A contracted rental provider a car can be hired from today (the demo's own, if none is)."""
    today = clock.today()
    for provider in rentals.providers(session, active_only=True):
        if provider.contract_until is None or provider.contract_until >= today:
            return provider.code
    return rentals.add_provider(session, admin, data=RentalProviderIn(
        code="ZL-DEMO", name="演示定点租赁公司", base_cny=Decimal(50), per_km_cny=Decimal("2.5"),
        per_hour_cny=Decimal(30), contract_until=date(today.year + 2, 12, 31))).code


def _sedan(serial: int, *, on: date, price: str = "118000", litres: str = "1.5", category: Category = Category.general,
           source: VehicleSource = VehicleSource.retained, rental_provider: str | None = None) -> VehicleIn:
    body = f"LFV2A21K{0}R{serial:07d}"[-17:]
    body = body[:8] + vin_check_digit(body) + body[9:]
    return VehicleIn(plate=f"鄂AX{serial % 10000:04d}", vin=body, model="演示车型", category=category,
                     powertrain="ice", seats=5, price_cny=Decimal(price), displacement_l=Decimal(litres),
                     acquired_on=on, source=source, rental_provider=rental_provider)


def _trip(at: datetime, priority: str, **extra: Any) -> TripIn:
    return TripIn.model_validate({
        "purpose": "演示行程", "priority": priority, "passengers": 1,
        "pickup": {"lat": 30.58, "lon": 114.30, "address": "江岸区沿江大道"},
        "dropoff": {"lat": 30.60, "lon": 114.33, "address": "江汉区解放大道"},
        "earliest_pickup": at.isoformat(), "latest_pickup": (at + timedelta(minutes=20)).isoformat(), **extra})


def _assigned_trip(engine: Engine, day: date) -> int | None:
    with unit_of_work(engine, readonly=True) as session:
        return session.scalar(sa.select(Trip.id).where(
            Trip.status == TripStatus.assigned, Trip.earliest_pickup >= datetime.combine(day, time(8), CHINA),
            Trip.earliest_pickup < datetime.combine(day, time(17), CHINA)).order_by(Trip.earliest_pickup))


def _pickup(engine: Engine, trip_id: int) -> datetime:
    with unit_of_work(engine, readonly=True) as session:
        holding = queries.trip(session, trip_id).assignment
        assert holding is not None
        return holding.starts_at


def _odometer(session: Session, trip_id: int) -> int:
    holding = queries.trip(session, trip_id).assignment
    assert holding is not None
    return queries.vehicle(session, holding.vehicle_id).odometer_km + 3


def _registered(vehicle: Vehicle) -> str:
    return f"registered {vehicle.plate}"


def _rented(session: Session, vehicle: Vehicle) -> str:
    held = queries.held_count(session, vehicle.agency_id, vehicle.category)
    limit = queries.quota_limit(session, vehicle.agency_id, vehicle.category)
    return f"registered {vehicle.plate}, hired, not held: {vehicle.agency.code} still holds {held} " \
           f"{vehicle.category.value} vehicles of its quota of {limit}"


def _started(trip: Trip) -> str:
    return f"trip {trip.id} started at {clock.local_text(trip.started_at or clock.now())}, back-fill: " \
           f"{trip.backfill_reason or '—'}"


def _booked(booking: bookings.Booking) -> str:
    placed = booking.urgent
    if placed is not None:
        where = placed.vehicle or f"no vehicle ({placed.reason})"
        return f"trip {placed.trip_id} approved and placed at once: {where}"
    trip = booking.trip
    said = f"trip {trip.id} {trip.status.value}"
    if trip.approval_basis:
        said += f" on the basis '{trip.approval_basis}'"
    if trip.backfill_reason:
        said += f", back-filled: {trip.backfill_reason}"
    return said if trip.status is not TripStatus.requested else f"{said}: waits for its agency's approver"
