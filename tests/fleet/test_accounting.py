"""统一核算一本账: trips charged to the agency that booked them, and every vehicle's ledger reconciled to the fen."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from fleet import accounting, clock, costs, drivers, queries, rentals
from fleet.clock import CHINA
from fleet.enums import AssignmentSource, Category, CostKind, Priority, TripStatus
from fleet.errors import InvalidInput
from fleet.models import Assignment, Driver, Trip, Vehicle
from fleet.schemas import CostIn, DriverIn, RentalBillIn, RentalProviderIn
from fleet.vehicles import record_odometer
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

MONTH = "2030-03"
AFTER = datetime(2030, 4, 1, 8, 0, tzinfo=CHINA)  # the platform's clock when the month's records are booked


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2030, 3, day), time(hour, minute), CHINA)


# --- the arithmetic -----------------------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**12),
       st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=30).filter(lambda w: sum(w) > 0))
def test_allocate_adds_up_exactly_and_each_part_is_within_a_fen(total: int, weights: list[int]) -> None:
    parts = accounting.allocate(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert total * weight // whole <= part <= total * weight // whole + 1


@given(total=st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False, allow_infinity=False),
       ledger_km=st.integers(min_value=0, max_value=100_000),
       trips=st.lists(st.integers(min_value=0, max_value=3_000_000), max_size=40))
def test_any_ledger_and_trips_reconcile_to_the_fen(total: Decimal, ledger_km: int, trips: list[int]) -> None:
    shares, rest = accounting.split_ledger(total, ledger_km * 1000, trips)
    assert len(shares) == len(trips)
    assert sum(shares, Decimal(0)) + rest == total
    assert all(s >= 0 for s in shares)
    assert rest >= 0
    assert all(s == s.quantize(Decimal("0.01")) for s in [*shares, rest])
    driven = max(ledger_km * 1000, sum(trips))
    if driven:  # each share is the ledger's cost per km x the trip's km, to within a fen
        for share, metres in zip(shares, trips, strict=True):
            assert abs(share - total * metres / driven) < Decimal("0.01")


def test_km_the_trips_did_not_drive_stay_with_the_holder() -> None:
    shares, rest = accounting.split_ledger(Decimal("1000.00"), 100_000, [40_000, 20_000])
    assert shares == [Decimal("400.00"), Decimal("200.00")]
    assert rest == Decimal("400.00")
    # thirds: the odd fen goes to the largest remainder, and the sum still holds
    shares, rest = accounting.split_ledger(Decimal("100.00"), 3_000, [1_000, 1_000])
    assert sum(shares) + rest == Decimal("100.00")
    assert sorted([*shares, rest]) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    # no km on record: the holder keeps everything
    assert accounting.split_ledger(Decimal("88.80"), 0, []) == ([], Decimal("88.80"))


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "november", "2026-00", "1999-12"])
def test_a_month_is_yyyy_mm(month: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        accounting.month_bounds(month)
    assert refused.value.field == "month"


def test_month_bounds() -> None:
    assert accounting.month_bounds("2030-02") == (date(2030, 2, 1), date(2030, 2, 28))
    assert accounting.month_bounds("2028-12") == (date(2028, 12, 1), date(2028, 12, 31))


# --- the statement ------------------------------------------------------------------------------------------------


def _trip(session: Session, code: str, vehicle: Vehicle | None, *, day: int, hour: int,
          odometers: tuple[int, int] | None, driver: Driver | None = None,
          status: TripStatus = TripStatus.completed) -> Trip:
    booked = Trip(
        agency=queries.agency_by_code(session, code), purpose="公务", priority=Priority.routine, categories=["general"],
        passengers=1, pickup_lat=30.6, pickup_lon=114.3, pickup_address="甲", dropoff_lat=30.65, dropoff_lon=114.35,
        dropoff_address="乙", earliest_pickup=at(day, hour), latest_pickup=at(day, hour, 30), dwell_min=0,
        planned_km=9.5, status=status,
        started_at=at(day, hour) if odometers else None, completed_at=at(day, hour + 1) if odometers else None,
        odometer_start_km=odometers[0] if odometers else None, odometer_end_km=odometers[1] if odometers else None)
    session.add(booked)
    session.flush()
    if vehicle is not None:
        session.add(Assignment(trip_id=booked.id, vehicle_id=vehicle.id, driver_id=driver.id if driver else None,
                               starts_at=at(day, hour), ends_at=at(day, hour) + timedelta(minutes=90),
                               source=AssignmentSource.manual))
        session.flush()
    if odometers and vehicle is not None:
        record_odometer(session, vehicle, odometers[1], date(2030, 3, day), "trip.complete")
    return booked


@pytest.fixture
def city(session: Session) -> dict[str, Any]:
    """Agency WH-CG holds a car that WH-GA's trips ride in, in March 2030: 100 km on the ledger, 1 333.33 CNY."""
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 2})
    agency(session, "WH-CG", quotas={Category.general: 2})
    car = registered(session, "WH-CG", category=Category.general)
    idle = registered(session, "WH-CG", category=Category.general)
    driver = drivers.add_driver(session, ADMIN, data=DriverIn(name="王师傅", licence_class="C1", agency="WH-CG",
                                                               shift_start="07:00", shift_end="19:00"))
    with clock.travel(AFTER):  # costs and readings are booked once they happened
        record_odometer(session, car, 1000, date(2030, 2, 28), "cost")
        costs.record_cost(session, ADMIN, vehicle_id=car.id, data=CostIn(
            kind=CostKind.maintenance, incurred_on=date(2030, 3, 3), amount_cny=Decimal("333.33")))
        first = _trip(session, "WH-GA", car, day=5, hour=9, odometers=(1010, 1050), driver=driver)
        second = _trip(session, "WH-GA", car, day=6, hour=9, odometers=(1060, 1080))
        own = _trip(session, "WH-CG", car, day=7, hour=9, odometers=(1085, 1095))
        _trip(session, "WH-GA", car, day=8, hour=9, odometers=(1095, 1098), status=TripStatus.cancelled)
        late = _trip(session, "WH-GA", car, day=31, hour=23, odometers=None)  # no readings: planned km
        costs.record_cost(session, ADMIN, vehicle_id=car.id, data=CostIn(
            kind=CostKind.fuel, incurred_on=date(2030, 3, 31), amount_cny=Decimal("1000.00"), odometer_km=1100))
        costs.record_cost(session, ADMIN, vehicle_id=idle.id, data=CostIn(
            kind=CostKind.insurance, incurred_on=date(2030, 3, 2), amount_cny=Decimal("3600.00")))
    return {"car": car, "idle": idle, "first": first, "second": second, "own": own, "planned": late}


def test_trips_are_charged_to_the_booking_agency_by_km(session: Session, city: dict[str, Any]) -> None:
    report = accounting.statement(session, month=MONTH)
    by_trip = {c.trip_id: c for c in report.trips}
    first, second, own, planned = (by_trip[t.id] for t in (city["first"], city["second"], city["own"],
                                                              city["planned"]))
    assert (first.agency, first.holder, first.km, first.km_source) == ("WH-GA", "WH-CG", 40.0, "odometer")
    assert (planned.km, planned.km_source) == (9.5, "planned")
    assert len(report.trips) == 4  # the cancelled trip is not charged
    # 1 333.33 CNY over 100 km: 13.3333 CNY/km
    assert first.vehicle_cny == Decimal("533.33")
    assert second.vehicle_cny == Decimal("266.67")
    assert own.vehicle_cny == Decimal("133.33")
    assert planned.vehicle_cny == Decimal("126.67")
    # the driver's 90 minutes at the default 50 CNY/h; no driver, no driver cost
    assert first.driver_cny == Decimal("75.00")
    assert second.driver_cny == Decimal("0.00")
    assert first.total_cny == Decimal("608.33")


def test_every_vehicle_reconciles_to_the_fen(session: Session, city: dict[str, Any]) -> None:
    report = accounting.statement(session, month=MONTH)
    car = next(v for v in report.vehicles if v.plate == city["car"].plate)
    idle = next(v for v in report.vehicles if v.plate == city["idle"].plate)
    assert (car.ledger_cny, car.ledger_km, car.trips) == (Decimal("1333.33"), 100, 4)
    assert car.charged_cny + car.unallocated_cny == car.ledger_cny
    assert car.unallocated_cny == Decimal("273.33")  # 20.5 km of the 100 off the trips
    assert (idle.charged_cny, idle.unallocated_cny) == (Decimal("0.00"), Decimal("3600.00"))
    assert all(v.balanced for v in report.vehicles)
    assert report.reconciliation.balanced
    assert report.reconciliation.ledger_cny == Decimal("4933.33")
    totals = {a.agency: a for a in report.agencies}
    assert totals["WH-GA"].vehicle_cny == Decimal("926.67")
    assert totals["WH-CG"].vehicle_cny == Decimal("133.33")
    assert totals["WH-CG"].unallocated_cny == Decimal("3873.33")  # its car's remainder and its idle car
    assert sum(a.vehicle_cny + a.unallocated_cny for a in report.agencies) == report.reconciliation.ledger_cny


def test_a_statement_for_one_agency(session: Session, city: dict[str, Any]) -> None:
    report = accounting.statement(session, month=MONTH, agency="WH-GA")
    assert {c.agency for c in report.trips} == {"WH-GA"}
    assert [a.agency for a in report.agencies] == ["WH-GA"]
    # WH-GA holds no vehicle: WH-CG's car its trips rode in shows only what they were charged, none of its ledger
    assert report.vehicles == []
    [car] = report.charged_in
    assert (car.plate, car.holder, car.trips, car.trips_km) == (city["car"].plate, "WH-CG", 3, 69.5)
    assert car.charged_cny == Decimal("926.67") == report.totals.vehicle_cny
    assert not any(hasattr(car, name) for name in ("ledger_cny", "ledger_km", "unallocated_cny"))
    check = report.reconciliation
    assert (check.ledger_cny, check.charged_out_cny, check.charged_in_cny) == (0, 0, Decimal("926.67"))
    assert report.adds_up
    empty = accounting.statement(session, month="2030-05", agency="WH-GA")
    assert (empty.trips, empty.vehicles, empty.charged_in, empty.agencies[0].total_cny) == ([], [], [],
                                                                                            Decimal("0.00"))


def test_a_holders_statement_reconciles_its_own_vehicles_and_adds_up(session: Session, city: dict[str, Any]) -> None:
    report = accounting.statement(session, month=MONTH, agency="WH-CG")
    assert [c.trip_id for c in report.trips] == [city["own"].id]  # WH-GA's trips in its car are not listed
    assert sorted(v.plate for v in report.vehicles) == sorted([city["car"].plate, city["idle"].plate])
    assert report.charged_in == []
    check = report.reconciliation
    assert check.balanced
    assert (check.ledger_cny, check.charged_cny) == (Decimal("4933.33"), Decimal("1060.00"))
    assert check.charged_out_cny == Decimal("926.67")  # what WH-GA's trips were charged for its car
    assert report.adds_up  # 133.33 + 3873.33 = 4933.33 - 926.67
    whole = accounting.statement(session, month=MONTH)
    assert (whole.charged_in, whole.reconciliation.charged_out_cny) == ([], 0)
    assert whole.adds_up


def test_an_agency_statement_covers_its_predecessors(session: Session, city: dict[str, Any]) -> None:
    from fleet import reorganisation
    from fleet.schemas import MergeIn

    agency(session, "WH-P")
    with clock.travel(AFTER):
        theirs = _trip(session, "WH-P", city["car"], day=9, hour=9, odometers=(1098, 1099))
    reorganisation.merge(session, ADMIN, code="WH-P", data=MergeIn(into="WH-GA", on=clock.today(), reason="合并"))
    report = accounting.statement(session, month=MONTH, agency="WH-GA")
    assert theirs.id in {c.trip_id for c in report.trips}
    assert [a.agency for a in report.agencies] == ["WH-GA", "WH-P"]
    assert report.charged_in[0].trips == 4
    assert report.adds_up


def test_a_rented_trip_is_charged_its_bill(session: Session, city: dict[str, Any]) -> None:
    provider = rentals.add_provider(session, ADMIN, data=RentalProviderIn(
        code="ZL-1", name="定点租赁", base_cny=Decimal(50), per_km_cny=Decimal("2.5"), per_hour_cny=Decimal(30)))
    booked = _trip(session, "WH-GA", None, day=12, hour=10, odometers=None, status=TripStatus.approved)
    rentals.rent(session, ADMIN, trip_id=booked.id, provider=provider.code)
    with clock.travel(at(12, 12, 5)):  # the bill is entered as the rental ends
        rentals.bill(session, ADMIN, trip_id=booked.id, data=RentalBillIn(km=12.5, at=at(12, 12)))
    report = accounting.statement(session, month=MONTH, agency="WH-GA")
    charge = next(c for c in report.trips if c.trip_id == booked.id)
    assert (charge.provider, charge.plate, charge.km, charge.km_source) == ("ZL-1", None, 12.5, "rental")
    assert charge.rental_cny == Decimal("111.25")  # 50 + 2.5 x 12.5 + 30 x 1 started hour
    assert charge.vehicle_cny == charge.driver_cny == Decimal("0.00")
    assert report.reconciliation.balanced


def test_the_statement_as_a_workbook(session: Session, city: dict[str, Any]) -> None:
    report = accounting.statement(session, month=MONTH)
    out = BytesIO()
    accounting.write_xlsx(report, out)
    book = load_workbook(BytesIO(out.getvalue()))
    assert book.sheetnames == ["费用明细", "单位汇总", "车辆对账"]
    assert [c.value for c in book["费用明细"][2]] == list(accounting.TRIP_HEADINGS)
    assert book["费用明细"].max_row == 2 + len(report.trips) + 1
    last = [c.value for c in book["车辆对账"][book["车辆对账"].max_row - 1]]
    assert last[0] == "合计"
    assert last[-1] == "是"
    assert Decimal(str(last[2])) == report.reconciliation.ledger_cny
