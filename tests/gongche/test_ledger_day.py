"""The demo's ledger evening (gongche/demo/ledger_day.py) on the API tests' small city: an unserved trip rented and
billed, the cars that drove filled up, the month's statement printed with its reconciliation and written."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from rich.console import Console
from sqlalchemy.engine import Engine

from fleet import bookings, clock, queries
from fleet.db import unit_of_work
from fleet.enums import AssignmentSource, TripStatus
from fleet.models import Assignment, Trip
from fleet.schemas import TripIn
from fleet.vehicles import record_odometer
from gongche.demo import ledger_day
from tests.api.conftest import AGENCY_A, AGENCY_B, DAY, City, at, city, city_engine, city_template, trip_body
from tests.factories import ADMIN

__all__ = ["city", "city_engine", "city_template"]  # the API tests' city, shared


@pytest.fixture
def evening(city_engine: Engine, city: City) -> Engine:
    """WH-CG's trip driven in WH-GA's le-a1 (40 km) and an approved trip of eight no car of the city seats."""
    with clock.travel(at(7)), unit_of_work(city_engine) as session:
        crowd, _ = bookings.book(session, ADMIN, agency=AGENCY_A, approved=True,
                                 data=TripIn.parse(trip_body(passengers=8)))
        crowd.dispatch_note = "no vehicle seats 8"
        driven = Trip(**{**_columns(crowd), "agency_id": queries.agency_by_code(session, AGENCY_B).id,
                         "status": TripStatus.completed, "started_at": at(9), "completed_at": at(10),
                         "odometer_start_km": 10, "odometer_end_km": 50, "passengers": 2})
        session.add(driven)
        session.flush()
        session.add(Assignment(trip_id=driven.id, vehicle_id=city.vehicles["le-a1"], source=AssignmentSource.manual,
                               driver_id=city.drivers["driver-a"], starts_at=at(9), ends_at=at(10)))
        vehicle = queries.vehicle(session, city.vehicles["le-a1"], lock=True)
        record_odometer(session, vehicle, 60, DAY, "trip.complete")
    return city_engine


def _columns(trip: Trip) -> dict[str, object]:
    keep = ("purpose", "priority", "categories", "pickup_lat", "pickup_lon", "pickup_address", "dropoff_lat",
            "dropoff_lon", "dropoff_address", "earliest_pickup", "latest_pickup", "dwell_min", "planned_km")
    return {name: getattr(trip, name) for name in keep}


def test_the_ledger_evening_rents_bills_and_reconciles(evening: Engine, tmp_path: Path) -> None:
    out = io.StringIO()
    path = ledger_day.run(evening, Console(file=out, width=200), day=DAY, out_dir=tmp_path)
    said = " ".join(out.getvalue().split())
    assert "公务租车" in said
    assert "sent to WH-ZL-01" in said
    assert "trip completed" in said
    assert "1 of them in another agency's car" in said
    assert "balanced to the fen" in said
    assert path == tmp_path / f"statement-{DAY:%Y-%m}.xlsx"
    assert load_workbook(path).sheetnames == ["费用明细", "单位汇总", "车辆对账"]
    with unit_of_work(evening, readonly=True) as session:
        rented = session.query(Trip).filter(Trip.passengers == 8).one()
        assert (rented.status, rented.rental_provider is not None) == (TripStatus.completed, True)


def test_a_day_with_nothing_unserved_says_so(city_engine: Engine, tmp_path: Path) -> None:
    out = io.StringIO()
    ledger_day.run(city_engine, Console(file=out, width=200), day=DAY + timedelta(days=1), out_dir=tmp_path)
    assert "nothing to rent" in out.getvalue()
