"""公务租车: providers' tariffs, which provider may take a trip, and the rented trip's lifecycle."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fleet import bookings, clock, queries, rentals
from fleet.audit import Actor
from fleet.clock import CHINA
from fleet.enums import Category, Role, TripStatus
from fleet.errors import AlreadyExists, Conflict, InvalidInput, InvalidState, NotFound, NotPermitted
from fleet.models import AuditRecord, Quota, RentalProvider, Trip, Vehicle
from fleet.schemas import RentalBillIn, RentalProviderIn, RentalProviderPatch, TripIn
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

DAY = date(2030, 3, 12)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), CHINA)


def provider_in(code: str = "ZL-1", **overrides: Any) -> RentalProviderIn:
    data: dict[str, Any] = {"code": code, "name": "武汉定点租赁", "base_cny": "50", "per_km_cny": "2.50",
                            "per_hour_cny": "30", "max_seats": 7, "contract_until": "2030-12-31"}
    return RentalProviderIn.parse({**data, **overrides})


def booked(session: Session, *, passengers: int = 2, dwell: int = 30, hour: int = 9) -> Trip:
    trip, _ = bookings.book(session, ADMIN, agency="WH-GA", approved=True, data=TripIn.parse({
        "purpose": "公务活动", "passengers": passengers, "dwell_min": dwell,
        "pickup": {"lat": 30.60, "lon": 114.30, "address": "甲"}, "dropoff": {"lat": 30.62, "lon": 114.32,
                                                                              "address": "乙"},
        "earliest_pickup": at(hour).isoformat(), "latest_pickup": at(hour, 30).isoformat()}))
    return trip


@pytest.fixture
def city(session: Session) -> Session:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 1})
    return session


# --- the tariff -------------------------------------------------------------------------------------------------


def test_every_started_hour_counts_and_a_rental_is_at_least_one() -> None:
    assert rentals.started_hours(at(9), at(9)) == 1
    assert rentals.started_hours(at(9), at(10)) == 1
    assert rentals.started_hours(at(9), at(10, 1)) == 2
    assert rentals.started_hours(at(9), at(9) + timedelta(hours=5, seconds=1)) == 6


@given(base=st.decimals(min_value=0, max_value=1000, places=2), per_km=st.decimals(min_value=0, max_value=20, places=2),
       per_hour=st.decimals(min_value=0, max_value=500, places=2), km=st.floats(min_value=0, max_value=5000),
       hours=st.integers(min_value=1, max_value=48))
def test_the_tariff_is_base_plus_km_plus_hours_to_the_fen(base: Decimal, per_km: Decimal, per_hour: Decimal,
                                                          km: float, hours: int) -> None:
    provider = RentalProvider(code="x", name="x", base_cny=base, per_km_cny=per_km, per_hour_cny=per_hour)
    price = rentals.tariff(provider, km, hours)
    assert price == price.quantize(Decimal("0.01"))
    assert abs(price - (base + per_km * Decimal(str(km)) + per_hour * hours)) <= Decimal("0.005")


# --- providers ----------------------------------------------------------------------------------------------------


def test_providers_are_kept_and_changed_with_an_audit_record(city: Session) -> None:
    added = rentals.add_provider(city, ADMIN, data=provider_in())
    with pytest.raises(AlreadyExists):
        rentals.add_provider(city, ADMIN, data=provider_in())
    changed = rentals.update_provider(city, ADMIN, code="ZL-1", data=RentalProviderPatch.parse(
        {"per_km_cny": "3.10", "contract_until": None}))
    assert (changed.id, changed.per_km_cny, changed.contract_until, changed.base_cny) == (
        added.id, Decimal("3.10"), None, Decimal(50))
    actions = city.scalars(sa.select(AuditRecord.action).where(AuditRecord.entity == "rental_provider")
                           .order_by(AuditRecord.seq)).all()
    assert actions == ["rental_provider.added", "rental_provider.updated"]
    with pytest.raises(NotFound):
        rentals.update_provider(city, ADMIN, code="nope", data=RentalProviderPatch.parse({"active": False}))
    with pytest.raises(InvalidInput) as refused:
        RentalProviderPatch.parse({"name": None})
    assert refused.value.field == "name"


# --- renting --------------------------------------------------------------------------------------------------------


def test_renting_an_unserved_trip_estimates_the_tariff(city: Session) -> None:
    provider = rentals.add_provider(city, ADMIN, data=provider_in())
    trip = booked(city)
    vehicles_before = city.scalar(sa.select(sa.func.count()).select_from(Vehicle))
    quotas_before = city.scalars(sa.select(Quota.limit)).all()
    rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
    assert trip.status is TripStatus.rented
    assert trip.rental_provider_id == provider.id
    hours = rentals.trip_hours(trip)
    assert hours == 1  # ~3.8 km at 30 km/h and 30 minutes there
    assert trip.rental_cost_cny == (Decimal(50) + Decimal("2.50") * Decimal(str(trip.planned_km)) + 30
                                    ).quantize(Decimal("0.01"))
    # no vehicle, no quota touched
    assert city.scalar(sa.select(sa.func.count()).select_from(Vehicle)) == vehicles_before
    assert city.scalars(sa.select(Quota.limit)).all() == quotas_before
    assert queries.active_assignment(city, trip.id) is None


@pytest.mark.parametrize(("change", "error"), [
    ({"active": False}, InvalidState),
    ({"contract_until": "2030-03-11"}, InvalidState),
    ({"max_seats": 1}, Conflict),
])
def test_a_provider_that_cannot_take_the_trip_is_refused(city: Session, change: dict[str, Any],
                                                         error: type[Exception]) -> None:
    rentals.add_provider(city, ADMIN, data=provider_in(**change))
    trip = booked(city, passengers=2)
    with pytest.raises(error) as refused:
        rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
    assert refused.value.field == "provider"  # type: ignore[attr-defined]
    assert trip.status is TripStatus.approved


def test_a_contract_ending_on_the_trips_day_still_covers_it(city: Session) -> None:
    rentals.add_provider(city, ADMIN, data=provider_in(contract_until=DAY.isoformat()))
    trip = booked(city)
    rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
    assert trip.status is TripStatus.rented


def test_only_an_approved_trip_without_a_vehicle_is_rented(city: Session) -> None:
    rentals.add_provider(city, ADMIN, data=provider_in())
    trip = booked(city)
    bookings.decide(city, ADMIN, trip_id=trip.id, decision="cancel")
    with pytest.raises(InvalidState):
        rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
    with pytest.raises(NotFound):
        rentals.rent(city, ADMIN, trip_id=booked(city).id, provider="nope")


def test_the_cheapest_eligible_provider(city: Session) -> None:
    dear = rentals.add_provider(city, ADMIN, data=provider_in("A-DEAR", base_cny="200"))
    cheap_small = rentals.add_provider(city, ADMIN, data=provider_in("B-SMALL", base_cny="10", max_seats=1))
    cheap = rentals.add_provider(city, ADMIN, data=provider_in("C-CHEAP", base_cny="20"))
    trip = booked(city, passengers=2)
    pick = rentals.cheapest([dear, cheap_small, cheap], trip)
    assert pick is not None
    assert pick[0] is cheap
    assert rentals.cheapest([dear, cheap_small], booked(city, passengers=7, hour=11))[0] is dear  # type: ignore[index]
    assert rentals.cheapest([cheap_small], trip) is None


# --- billing and cancelling --------------------------------------------------------------------------------------


def test_a_bill_completes_the_trip_with_the_invoice_or_the_tariff(city: Session) -> None:
    rentals.add_provider(city, ADMIN, data=provider_in())
    tariffed, invoiced = booked(city), booked(city, hour=14)
    for trip in (tariffed, invoiced):
        rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
    with clock.travel(at(11, 5)):  # each bill is entered as its rental ends
        rentals.bill(city, ADMIN, trip_id=tariffed.id, data=RentalBillIn(km=10, at=at(11)))
    with clock.travel(at(16)):
        rentals.bill(city, ADMIN, trip_id=invoiced.id, data=RentalBillIn.parse({"km": 10, "amount_cny": "99.90",
                                                                                 "at": at(16).isoformat()}))
    assert (tariffed.status, tariffed.rental_cost_cny, tariffed.completed_at) == (
        TripStatus.completed, Decimal("105.00"), at(11))
    assert invoiced.rental_cost_cny == Decimal("99.90")
    assert (tariffed.rental_km, invoiced.rental_km) == (10.0, 10.0)
    with pytest.raises(InvalidState):  # billed once
        rentals.bill(city, ADMIN, trip_id=tariffed.id, data=RentalBillIn(km=10))
    with pytest.raises(InvalidState):  # never rented
        rentals.bill(city, ADMIN, trip_id=booked(city).id, data=RentalBillIn(km=10))


DISPATCHER = Actor("desk", Role.dispatcher.value)


def test_a_bill_ends_the_rental_now_or_as_a_dispatchers_back_fill_never_in_the_future(city: Session) -> None:
    """Issue 14: the rental's end is a time like a start or a completion (`fleet.backfill.entered_at`)."""
    rentals.add_provider(city, ADMIN, data=provider_in())
    trip = booked(city)  # 09:00-09:30
    rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
    with clock.travel(at(11)):
        for later in (datetime(2099, 12, 31, tzinfo=CHINA), at(12)):
            with pytest.raises(InvalidInput) as refused:
                rentals.bill(city, DISPATCHER, trip_id=trip.id, data=RentalBillIn(km=10, at=later))
            assert refused.value.field == "at"
        with pytest.raises(InvalidInput) as refused:  # a reason for a time that is now: no back-fill to record
            rentals.bill(city, DISPATCHER, trip_id=trip.id, data=RentalBillIn(km=10, backfill_reason=REASON))
        assert refused.value.field == "backfill_reason"
    with clock.travel(at(18)):
        with pytest.raises(InvalidInput) as refused:  # hours ago, without a reason
            rentals.bill(city, DISPATCHER, trip_id=trip.id, data=RentalBillIn(km=10, at=at(11)))
        assert refused.value.field == "at"
        with pytest.raises(NotPermitted) as forbidden:
            rentals.bill(city, ADMIN, trip_id=trip.id, data=RentalBillIn(km=10, at=at(11), backfill_reason=REASON))
        assert forbidden.value.field == "backfill_reason"
        assert trip.status is TripStatus.rented
        rentals.bill(city, DISPATCHER, trip_id=trip.id, data=RentalBillIn(km=10, at=at(11), backfill_reason=REASON))
    assert (trip.status, trip.completed_at, trip.backfill_reason) == (TripStatus.completed, at(11), REASON)
    billed = city.scalars(sa.select(AuditRecord).where(AuditRecord.action == rentals.BILLED)).one()
    assert billed.changes["backfill_reason"] == REASON


REASON = "租赁公司次日送来结算单，补录"


def test_a_rented_trip_can_be_cancelled(city: Session) -> None:
    rentals.add_provider(city, ADMIN, data=provider_in())
    trip = booked(city)
    rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
    bookings.decide(city, ADMIN, trip_id=trip.id, decision="cancel", note="会议取消")
    assert trip.status is TripStatus.cancelled
    with pytest.raises(InvalidState):
        rentals.bill(city, ADMIN, trip_id=trip.id, data=RentalBillIn(km=10))


def test_a_vehicle_held_trip_is_not_rented(city: Session) -> None:
    from fleet import assignments
    from fleet.schemas import AssignIn

    rentals.add_provider(city, ADMIN, data=provider_in())
    car = registered(city, "WH-GA", category=Category.general)
    trip = booked(city)
    assignments.assign(city, ADMIN, trip_id=trip.id, data=AssignIn(vehicle_id=car.id))
    with pytest.raises(InvalidState):
        rentals.rent(city, ADMIN, trip_id=trip.id, provider="ZL-1")
