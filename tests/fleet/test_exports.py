"""Scenario exports: the fleet document holds exactly the vehicles in use with each agency's trips per working day,
booked trips round-trip through rows and CSV, and ``gongche fleet export`` / ``gongche trips export`` write them or
refuse bad input with exit 2."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from dispatch.synthetic import CENTRE
from fleet import bookings, vehicles
from fleet.clock import CHINA
from fleet.clock import today as china_today  # China's date: after 16:00 UTC it is already tomorrow
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category, Powertrain, TripStatus, VehicleStatus
from fleet.errors import InvalidInput, NotFound
from fleet.exports import TRIP_COLUMNS, csv_text, fleet_document, formulas_as_text, trip_rows, write_trips_csv
from fleet.migrate import upgrade
from fleet.models import Agency, Trip, Vehicle
from fleet.schemas import DisposalIn, TripIn
from fleet.settings import get_settings
from gongche.cli import app
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

HEADER = ("id,agency,priority,categories,passengers,pickup_lat,pickup_lon,dropoff_lat,dropoff_lon,"
          "earliest_pickup,latest_pickup,dwell_min,booked_at")
# Monday 4 March to Wednesday 13 March 2030: eight working days (4-8, 11-13 March).
WORKING_DAYS = 8


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA)


def book(session: Session, code: str, pickup: datetime, *, priority: str = "routine",
         categories: list[str] | None = None, decision: str | None = None, passengers: int = 1) -> int:
    body: dict[str, Any] = {
        "purpose": "公务出行", "priority": priority, "passengers": passengers,
        "priority_reason": "防汛抢险" if priority == "emergency" else None,
        "pickup": {"lat": 30.60, "lon": 114.30, "address": "甲"},
        "dropoff": {"lat": 30.65, "lon": 114.35, "address": "乙"},
        "earliest_pickup": pickup.isoformat(), "latest_pickup": (pickup + timedelta(minutes=45)).isoformat(),
        "dwell_min": 20,
    }
    if categories is not None:
        body["categories"] = categories
    trip, _ = bookings.book(session, ADMIN, agency=code, data=TripIn.parse(body), approved=decision is None)
    if decision is not None:
        bookings.decide(session, ADMIN, trip_id=trip.id, decision=decision)
    return trip.id


@dataclass
class Seeded:
    url: str
    sealed: str
    disposed: str
    in_workshop: str
    booked: list[int]
    dropped: list[int]  # rejected or cancelled
    weekend: int  # picked up Saturday 07:00 China time (Friday in UTC)
    monday_night: int  # picked up Monday 00:30 China time (Sunday in UTC)


def seed(session: Session) -> Seeded:
    """WH-GA holds 2 law-enforcement and 1 general vehicle in use (plus one sealed and one disposed, parked far
    away so that counting them would move its yard); WH-CG one general vehicle without a yard (plus one in the
    workshop); WH-TR books trips and holds nothing; WH-KONG neither."""
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.law_enforcement: 3, Category.general: 2, Category.emergency: 1})
    agency(session, "WH-CG", quotas={Category.general: 2})
    agency(session, "WH-TR")
    agency(session, "WH-KONG")
    registered(session, "WH-GA", category=Category.law_enforcement, home_lat=30.60, home_lon=114.30)
    registered(session, "WH-GA", category=Category.law_enforcement, home_lat=30.62, home_lon=114.32)
    registered(session, "WH-GA", category=Category.general, powertrain=Powertrain.bev)
    sealed = registered(session, "WH-GA", category=Category.general, home_lat=40.0, home_lon=120.0)
    vehicles.seal(session, ADMIN, vehicle_id=sealed.id, reason="surplus")
    disposed = registered(session, "WH-GA", category=Category.emergency, home_lat=10.0, home_lon=100.0)
    vehicles.dispose(session, ADMIN, vehicle_id=disposed.id,
                     data=DisposalIn.parse({"method": "scrap", "disposed_on": china_today().isoformat()}))
    registered(session, "WH-CG", category=Category.general)
    workshop = registered(session, "WH-CG", category=Category.general, home_lat=30.5, home_lon=114.2)
    vehicles.maintenance_in(session, ADMIN, vehicle_id=workshop.id, reason="brakes")
    # Read in UTC, the Saturday trip would count for WH-CG and the Monday-night one not for WH-GA.

    monday, saturday, next_monday = date(2030, 3, 4), date(2030, 3, 9), date(2030, 3, 11)
    booked = [
        book(session, "WH-GA", at(monday, 9), priority="law_enforcement", passengers=3),
        book(session, "WH-GA", at(monday, 14), priority="law_enforcement", categories=["law_enforcement", "general"]),
        book(session, "WH-GA", at(monday + timedelta(days=2), 10), priority="emergency"),
        book(session, "WH-TR", at(monday + timedelta(days=1), 8)),
        book(session, "WH-CG", at(next_monday + timedelta(days=1), 9)),
        book(session, "WH-CG", at(next_monday + timedelta(days=2), 16)),  # the newest trip
    ]
    weekend = book(session, "WH-CG", at(saturday, 7))
    monday_night = book(session, "WH-GA", at(next_monday, 0, 30))
    dropped = [
        book(session, "WH-GA", at(monday + timedelta(days=1), 9), decision="reject"),
        book(session, "WH-GA", at(monday + timedelta(days=3), 9), decision="cancel"),
    ]
    return Seeded("", sealed.plate, disposed.plate, workshop.plate, [*booked, weekend, monday_night], dropped,
                  weekend, monday_night)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A committed SQLite registry (trip_rows and the CLI open it by URL), seeded once: every test only reads."""
    url = f"sqlite:///{tmp_path_factory.mktemp('exports') / 'registry.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        made = seed(session)
    engine.dispose()
    made.url = url
    return made


@pytest.fixture
def reader(seeded: Seeded) -> Iterator[Session]:
    engine = make_engine(seeded.url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def by_code(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["code"]: a for a in document["agencies"]}


class TestFleetDocument:
    def test_vehicles_are_those_in_use_per_agency_and_category(self, reader: Session) -> None:
        document = fleet_document(reader)
        exported = Counter((a["code"], v["category"]) for a in document["agencies"] for v in a["vehicles"])
        in_use = Counter(reader.execute(
            sa.select(Agency.code, Vehicle.category).join(Agency).where(Vehicle.status == VehicleStatus.active)))
        assert exported == in_use
        assert exported == {("WH-GA", "law_enforcement"): 2, ("WH-GA", "general"): 1, ("WH-CG", "general"): 1}

    def test_disposed_sealed_and_workshop_vehicles_are_absent(self, reader: Session, seeded: Seeded) -> None:
        plates = {v["id"] for a in fleet_document(reader)["agencies"] for v in a["vehicles"]}
        assert seeded.disposed not in plates
        assert seeded.sealed not in plates
        assert seeded.in_workshop not in plates
        assert len(plates) == 4

    def test_vehicle_fields_are_the_registry_s(self, reader: Session) -> None:
        for entry in fleet_document(reader)["agencies"]:
            for row in entry["vehicles"]:
                vehicle = reader.scalars(sa.select(Vehicle).where(Vehicle.plate == row["id"])).one()
                yard = ({} if vehicle.home_lat is None or vehicle.home_lon is None
                        else {"lat": float(vehicle.home_lat), "lon": float(vehicle.home_lon)})
                assert row == {"id": vehicle.plate, "category": vehicle.category.value, "seats": vehicle.seats,
                               "powertrain": vehicle.powertrain.value,
                               "range_km": None if vehicle.range_km is None else float(vehicle.range_km), **yard}
                assert type(row["category"]) is str  # plain strings: yaml.safe_dump refuses enum members
        bev = next(v for v in by_code(fleet_document(reader))["WH-GA"]["vehicles"] if v["powertrain"] == "bev")
        assert bev["range_km"] == 400.0

    def test_a_vehicle_carries_its_own_yard_where_known(self, reader: Session) -> None:
        yards = {(v["lat"], v["lon"]) for v in by_code(fleet_document(reader))["WH-GA"]["vehicles"] if "lat" in v}
        known = set(reader.execute(sa.select(Vehicle.home_lat, Vehicle.home_lon).join(Agency).where(
            Agency.code == "WH-GA", Vehicle.status == VehicleStatus.active, Vehicle.home_lat.is_not(None))))
        assert yards == {(float(lat), float(lon)) for lat, lon in known}
        assert yards  # the seeded registry knows some yards: the check above compares something

    def test_agency_yards_are_the_mean_of_the_known_ones_or_the_centre(self, reader: Session) -> None:
        agencies = by_code(fleet_document(reader))
        assert (agencies["WH-GA"]["lat"], agencies["WH-GA"]["lon"]) == pytest.approx((30.61, 114.31))
        assert (agencies["WH-CG"]["lat"], agencies["WH-CG"]["lon"]) == CENTRE
        assert (agencies["WH-TR"]["lat"], agencies["WH-TR"]["lon"]) == CENTRE
        assert agencies["WH-GA"]["name"] == "单位 WH-GA"

    def test_agencies_without_vehicles_or_trips_are_left_out(self, reader: Session) -> None:
        agencies = fleet_document(reader)["agencies"]
        assert [a["code"] for a in agencies] == ["WH-CG", "WH-GA", "WH-TR"]
        assert by_code({"agencies": agencies})["WH-TR"]["vehicles"] == []

    def test_trips_per_working_day_count_weekdays_in_china_time_and_skip_refusals(self, reader: Session) -> None:
        """WH-GA: Mon 4 (2), Wed 6 and Mon 11 at 00:30 (a Sunday in UTC) count, its rejected and cancelled trips do
        not; WH-CG: Tue 12 and Wed 13 count, Sat 9 at 07:00 (a Friday in UTC) does not. Eight working days from
        the first trip to the newest."""
        agencies = by_code(fleet_document(reader))
        assert agencies["WH-GA"]["trips"] == 4 / WORKING_DAYS
        assert agencies["WH-CG"]["trips"] == 2 / WORKING_DAYS
        assert agencies["WH-TR"]["trips"] == 1 / WORKING_DAYS

    def test_the_rate_looks_back_90_days_from_the_newest_trip(self, session: Session) -> None:
        jurisdiction_tree(session)
        agency(session, "WH-GA")
        newest = date(2030, 3, 13)  # a Wednesday; the window opens on Friday 14 December 2029
        book(session, "WH-GA", at(date(2029, 11, 1), 9))  # months before
        book(session, "WH-GA", at(date(2029, 12, 13), 23, 30))  # the evening before the window
        book(session, "WH-GA", at(date(2029, 12, 14), 9))  # its first day
        book(session, "WH-GA", at(newest, 9))
        # Working days 14 Dec - 13 Mar: Fri 14 Dec, twelve full weeks (60), Mon-Wed 11-13 Mar (3).
        assert fleet_document(session)["agencies"][0]["trips"] == 2 / 64

    def test_no_trips_means_a_rate_of_zero(self, session: Session) -> None:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.general: 1})
        registered(session, "WH-GA", category=Category.general, home_lat=30.6, home_lon=114.3)
        document = fleet_document(session)
        assert document["agencies"][0]["trips"] == 0
        assert isinstance(document["agencies"][0]["trips"], float)


class TestTripRows:
    def test_rows_round_trip_the_booked_trips(self, seeded: Seeded, reader: Session) -> None:
        rows = trip_rows(seeded.url)
        assert sorted(int(r["id"]) for r in rows) == sorted(seeded.booked)
        for row in rows:
            assert tuple(row) == TRIP_COLUMNS
            trip = reader.get_one(Trip, int(row["id"]))
            assert trip.status not in (TripStatus.rejected, TripStatus.cancelled)
            assert row["agency"] == trip.agency.code
            assert row["priority"] == trip.priority.value
            assert row["categories"] == "|".join(trip.categories)
            assert row["passengers"] == trip.passengers
            assert (row["pickup_lat"], row["pickup_lon"]) == (trip.pickup_lat, trip.pickup_lon)
            assert (row["dropoff_lat"], row["dropoff_lon"]) == (trip.dropoff_lat, trip.dropoff_lon)
            for column, held in (("earliest_pickup", "earliest_pickup"), ("latest_pickup", "latest_pickup"),
                                 ("booked_at", "created_at")):
                moment = row[column]
                assert isinstance(moment, str)
                assert moment.endswith("+08:00")
                assert datetime.fromisoformat(moment) == getattr(trip, held)
            assert row["dwell_min"] == float(trip.dwell_min) == 20.0
            assert isinstance(row["dwell_min"], float)

    def test_types_and_categories_as_booked(self, seeded: Seeded) -> None:
        rows = {r["id"]: r for r in trip_rows(seeded.url)}
        first, second, emergency = (rows[str(i)] for i in seeded.booked[:3])
        assert (first["priority"], first["categories"], first["passengers"]) == ("law_enforcement",
                                                                                 "law_enforcement", 3)
        assert second["categories"] == "law_enforcement|general"
        assert (emergency["priority"], emergency["categories"]) == ("emergency", "emergency")
        assert rows[str(seeded.weekend)]["earliest_pickup"] == "2030-03-09T07:00:00+08:00"

    def test_rows_are_sorted_by_earliest_pickup_then_id(self, seeded: Seeded) -> None:
        rows = trip_rows(seeded.url)
        keys = [(datetime.fromisoformat(str(r["earliest_pickup"])), int(r["id"])) for r in rows]
        assert keys == sorted(keys)

    @pytest.mark.parametrize(("day", "which"), [(date(2030, 3, 11), "monday_night"), (date(2030, 3, 9), "weekend")])
    def test_the_date_filter_reads_china_dates(self, seeded: Seeded, day: date, which: str) -> None:
        rows = trip_rows(seeded.url, day, day)
        assert [int(r["id"]) for r in rows] == [getattr(seeded, which)]

    def test_open_ended_filters(self, seeded: Seeded) -> None:
        assert len(trip_rows(seeded.url, start=date(2030, 3, 12))) == 2
        assert len(trip_rows(seeded.url, end=date(2030, 3, 4))) == 2

    def test_end_before_start_is_refused(self, seeded: Seeded) -> None:
        with pytest.raises(InvalidInput, match="before start"):
            trip_rows(seeded.url, date(2030, 3, 5), date(2030, 3, 4))

    def test_a_missing_sqlite_file_is_refused_not_created(self, tmp_path: Path) -> None:
        with pytest.raises(NotFound, match="no database file"):
            trip_rows(f"sqlite:///{tmp_path / 'none.db'}")
        assert not (tmp_path / "none.db").exists()

    def test_csv_has_the_columns_in_order_and_the_rows(self, seeded: Seeded, tmp_path: Path) -> None:
        rows = trip_rows(seeded.url)
        path = tmp_path / "trips.csv"
        write_trips_csv(rows, path)
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0] == HEADER
        with path.open(encoding="utf-8", newline="") as f:
            read = list(csv.DictReader(f))
        assert read == [{k: str(v) for k, v in row.items()} for row in rows]


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def stderr(result: Result) -> str:
    return " ".join(result.stderr.split())  # rich wraps long messages at the console width


@pytest.fixture
def cli_db(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    monkeypatch.setenv("GONGCHE_DATABASE_URL", seeded.url)
    get_settings.cache_clear()
    yield seeded
    get_settings.cache_clear()


class TestCli:
    def test_fleet_export_writes_yaml_that_reads_back(self, cli_db: Seeded, reader: Session, tmp_path: Path) -> None:
        out = tmp_path / "nested" / "fleet.yaml"
        result = invoke("fleet", "export", "-o", str(out))
        assert result.exit_code == 0, result.output
        assert "3 agencies, 4 vehicles" in result.stdout
        text = out.read_text(encoding="utf-8")
        assert text.splitlines()[0] == f"# from `gongche fleet export` on {china_today().isoformat()}"
        assert "单位 WH-GA" in text  # allow_unicode: names stay readable
        loaded = yaml.safe_load(text)
        assert loaded == fleet_document(reader)
        assert [a["code"] for a in loaded["agencies"]] == ["WH-CG", "WH-GA", "WH-TR"]
        assert list(loaded["agencies"][0]) == ["code", "name", "lat", "lon", "trips", "vehicles"]  # sort_keys=False

    def test_fleet_export_without_a_file_prints_the_yaml(self, cli_db: Seeded) -> None:
        result = invoke("fleet", "export")
        assert result.exit_code == 0, result.output
        assert [a["code"] for a in yaml.safe_load(result.stdout)["agencies"]] == ["WH-CG", "WH-GA", "WH-TR"]

    def test_trips_export_writes_the_csv(self, cli_db: Seeded, tmp_path: Path) -> None:
        out = tmp_path / "trips.csv"
        result = invoke("trips", "export", "-o", str(out), "--start", "2030-03-04", "--end", "2030-03-08")
        assert result.exit_code == 0, result.output
        assert "(4 trips)" in result.stdout
        lines = out.read_text(encoding="utf-8").splitlines()
        assert lines[0] == HEADER
        assert len(lines) == 5

    def test_end_before_start_exits_2_with_a_message(self, cli_db: Seeded, tmp_path: Path) -> None:
        out = tmp_path / "trips.csv"
        result = invoke("trips", "export", "-o", str(out), "--start", "2030-03-08", "--end", "2030-03-04")
        assert result.exit_code == 2
        assert "--end 2030-03-04 is before --start 2030-03-08" in stderr(result)
        assert not out.exists()

    def test_a_malformed_date_exits_2_with_a_message(self, cli_db: Seeded, tmp_path: Path) -> None:
        result = invoke("trips", "export", "-o", str(tmp_path / "t.csv"), "--start", "2030-13-01")
        assert result.exit_code == 2
        assert "--start must be a date like" in stderr(result)

    @pytest.mark.parametrize("command", [["fleet", "export"], ["trips", "export"]])
    def test_an_unwritable_path_exits_2_with_a_message(self, cli_db: Seeded, tmp_path: Path,
                                                       command: list[str]) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("", encoding="utf-8")
        result = invoke(*command, "-o", str(blocker / "out"))
        assert result.exit_code == 2
        assert f"cannot write {blocker / 'out'}" in stderr(result)
        assert "Traceback" not in result.output


@given(st.text(max_size=12))
def test_csv_cells_never_start_like_a_formula_and_keep_their_text(text: str) -> None:
    cell = csv_text(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (text, "'" + text)
    assert csv_text(3) == 3  # numbers stay numbers


def test_a_workbooks_text_that_openpyxl_takes_for_a_formula_stays_text() -> None:
    from openpyxl import Workbook, load_workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["=1+1", "单位", 3])
    formulas_as_text(sheet)
    saved = io.BytesIO()
    book.save(saved)
    row = next(load_workbook(saved).active.iter_rows())
    assert [(c.value, c.data_type) for c in row] == [("=1+1", "s"), ("单位", "s"), (3, "n")]
