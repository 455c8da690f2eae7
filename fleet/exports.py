"""The registry read out: as scenario input, the fleet it holds (``gongche fleet export``) and the trips it booked
(``gongche trips export``), so that a simulation can start from the real city rather than a made-up one; and for
people, a trip list as a spreadsheet (``GET /trips/export``, CSV or XLSX with Chinese headings).

All read only. Scenario trips keep the dispatch engine's own reading of a booking (`fleet.exchange.trip_row`), so
a replayed trip asks for the same vehicles a batch run would have offered it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import IO, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from dispatch.synthetic import CENTRE
from fleet import queries
from fleet.clock import CHINA, local_date, local_moment, local_text
from fleet.db import make_engine, unit_of_work
from fleet.enums import TripStatus, VehicleStatus
from fleet.errors import InvalidInput, NotFound
from fleet.exchange import trip_row
from fleet.i18n import msg
from fleet.models import Agency, Trip, Vehicle

# Bookings that never became demand: refused by the approver, or withdrawn.
NOT_BOOKED = (TripStatus.rejected, TripStatus.cancelled)
# How far back the trip rate looks from the newest trip: a quarter, long enough to smooth out a busy week.
RATE_DAYS = 90
TRIP_COLUMNS = (
    "id", "agency", "priority", "categories", "passengers", "pickup_lat", "pickup_lon", "dropoff_lat",
    "dropoff_lon", "earliest_pickup", "latest_pickup", "dwell_min", "booked_at",
)

TripRow = dict[str, str | int | float]


def _working(day: date) -> bool:
    return day.weekday() < 5  # the registry has no holiday calendar: Monday to Friday


def trips_per_working_day(session: Session) -> dict[int, float]:
    """Each agency's booked trips per working day, by China date of the earliest pickup.

    The window is the `RATE_DAYS` ending on the newest trip's day, but never starts before the first trip: a
    registry only weeks old would otherwise have its rate diluted by the months it did not exist. Trips picked up
    at weekends count towards neither the trips nor the days, since a scenario applies its own weekend factor.
    """
    booked = Trip.status.not_in(NOT_BOOKED)
    newest, oldest = session.execute(
        sa.select(sa.func.max(Trip.earliest_pickup), sa.func.min(Trip.earliest_pickup)).where(booked)
    ).one()
    if newest is None or oldest is None:
        return {}
    last = local_date(newest)
    first = max(last - timedelta(days=RATE_DAYS - 1), local_date(oldest))
    working_days = sum(_working(first + timedelta(days=n)) for n in range((last - first).days + 1))
    if working_days == 0:  # every trip so far fell on one weekend
        return {}
    counts: dict[int, int] = {}
    rows = session.execute(
        sa.select(Trip.agency_id, Trip.earliest_pickup).where(
            booked, Trip.earliest_pickup >= local_moment(first),
            Trip.earliest_pickup < local_moment(last + timedelta(days=1)),
        )
    )
    for agency_id, pickup in rows:
        if _working(local_date(pickup)):
            counts[agency_id] = counts.get(agency_id, 0) + 1
    return {agency_id: n / working_days for agency_id, n in counts.items()}


def _vehicle(vehicle: Vehicle) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": vehicle.plate,
        "category": vehicle.category.value,
        "seats": vehicle.seats,
        "powertrain": vehicle.powertrain.value,
        "range_km": None if vehicle.range_km is None else float(vehicle.range_km),
    }
    # Its own yard where known: an agency's cars park at several, and a car sets off from its own (issue 16).
    if vehicle.home_lat is not None and vehicle.home_lon is not None:
        document["lat"], document["lon"] = float(vehicle.home_lat), float(vehicle.home_lon)
    return document


def _yard(held: list[Vehicle]) -> tuple[float, float]:
    """Where the agency's vehicles park: the mean of the yards known, else the city centre, so that every agency
    has a place for the simulation to start its trips from."""
    known = [(v.home_lat, v.home_lon) for v in held if v.home_lat is not None and v.home_lon is not None]
    if not known:
        return CENTRE
    return round(fmean(lat for lat, _ in known), 6), round(fmean(lon for _, lon in known), 6)


def fleet_document(session: Session) -> dict[str, Any]:
    """The scenario ``fleet`` document of the registry: every agency holding vehicles in use, or booking trips.

    Only vehicles in use (``active``) are listed: sealed ones are out of use, those in the workshop are coming
    back but cannot be planned on, and disposed ones are gone. Agencies are in code order, vehicles in plate order.
    """
    held: dict[int, list[Vehicle]] = {}
    for vehicle in session.scalars(
        sa.select(Vehicle).where(Vehicle.status == VehicleStatus.active).order_by(Vehicle.plate)
    ):
        held.setdefault(vehicle.agency_id, []).append(vehicle)
    rates = trips_per_working_day(session)
    agencies = session.scalars(
        sa.select(Agency).where(Agency.id.in_(set(held) | set(rates))).order_by(Agency.code)
    )
    document: list[dict[str, Any]] = []
    for agency in agencies:
        vehicles = held.get(agency.id, [])
        lat, lon = _yard(vehicles)
        document.append({
            "code": agency.code,
            "name": agency.name,
            "lat": float(lat),
            "lon": float(lon),
            "trips": rates.get(agency.id, 0.0),
            "vehicles": [_vehicle(v) for v in vehicles],
        })
    return {"agencies": document}


def _row(booked: Trip, agency: str) -> TripRow:
    """One trip as a flat CSV row, read through the dispatch engine's ``trip_row``; times in China time."""
    engine_row = trip_row(booked)
    return {
        "id": str(engine_row["id"]),
        "agency": agency,
        "priority": str(engine_row["priority"]),
        "categories": "|".join(str(c) for c in engine_row["categories"]),
        "passengers": int(engine_row["passengers"]),
        "pickup_lat": float(booked.pickup_lat),
        "pickup_lon": float(booked.pickup_lon),
        "dropoff_lat": float(booked.dropoff_lat),
        "dropoff_lon": float(booked.dropoff_lon),
        "earliest_pickup": booked.earliest_pickup.astimezone(CHINA).isoformat(),
        "latest_pickup": booked.latest_pickup.astimezone(CHINA).isoformat(),
        "dwell_min": float(engine_row["dwell_min"]),
        # When it was booked: an emergency known the evening before is not a call at its pickup time (issue 16).
        "booked_at": booked.created_at.astimezone(CHINA).isoformat(),
    }


def trip_rows(url: str, start: date | None = None, end: date | None = None) -> list[TripRow]:
    """The booked (not rejected or cancelled) trips of the database at ``url`` whose earliest pickup falls on a
    China date in [start, end], by earliest pickup then id.

    Takes a URL rather than a session so a scenario can replay another registry than the configured one; a
    missing SQLite file is refused rather than created empty, which would read as a city without trips.
    """
    if start is not None and end is not None and end < start:
        raise InvalidInput(msg("end {end} is before start {start}", end=end, start=start), field="end")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not Path(parsed.database).is_file():
        raise NotFound(msg("no database file at {path}", path=parsed.database), field="url")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(Trip.__tablename__):
                raise NotFound(msg("{url} holds no Gongche registry (no trips table)",
                                   url=parsed.render_as_string(hide_password=True)), field="url")
        query = (
            sa.select(Trip, Agency.code).join(Agency, Agency.id == Trip.agency_id)
            .where(Trip.status.not_in(NOT_BOOKED)).order_by(Trip.earliest_pickup, Trip.id)
        )
        if start is not None:
            query = query.where(Trip.earliest_pickup >= local_moment(start))
        if end is not None:
            query = query.where(Trip.earliest_pickup < local_moment(end + timedelta(days=1)))
        with unit_of_work(engine, readonly=True) as session:
            return [_row(booked, code) for booked, code in session.execute(query)]
    finally:
        engine.dispose()


def write_trips_csv(rows: Iterable[Mapping[str, str | int | float]], path: Path) -> None:
    """Write rows as UTF-8 CSV in `TRIP_COLUMNS` order; a row with another key is refused, not silently cut."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=TRIP_COLUMNS, extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)


# --- spreadsheets for people --------------------------------------------------------------------------------------

SheetFormat = Literal["csv", "xlsx"]
SHEET_MEDIA_TYPES: dict[SheetFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
Cell = str | int | float | datetime | None
# Text a spreadsheet program would run as a formula (CSV injection): one agency's purpose or address must never
# become a live formula, or a link out, in another role's sheet.
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> Any:
    """A CSV cell as text a spreadsheet will not evaluate: a string starting like a formula gets an apostrophe in
    front (OWASP's advice; numbers stay numbers)."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_LEAD) else value


def formulas_as_text(sheet: Any) -> None:
    """Every cell of an openpyxl worksheet that openpyxl took for a formula (text starting with "=") kept as text:
    we write values, never formulas."""
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"


def write_sheet(out: IO[bytes], fmt: SheetFormat, headings: Sequence[str], rows: Iterable[Sequence[Cell]],
                *, title: str = "sheet") -> int:
    """Write a table to ``out`` as CSV (UTF-8 with a byte-order mark, which spreadsheet programs need to read
    Chinese; instants as China-time ``YYYY-MM-DD HH:MM``) or XLSX (instants as China-time date cells), row by
    row; returns the number of rows written."""
    written = 0
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(headings)
        for row in rows:
            writer.writerow([local_text(v) if isinstance(v, datetime) else csv_text(v) for v in row])
            written += 1
        text.flush()
        text.detach()  # ``out`` stays open for the caller
        return written
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)  # rows go straight to the file: memory stays flat however many there are
    sheet = book.create_sheet(title[:31])
    bold = Font(bold=True)
    header = []
    for heading in headings:
        cell = WriteOnlyCell(sheet, value=heading)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, datetime):
                cell = WriteOnlyCell(sheet, value=value.astimezone(CHINA).replace(tzinfo=None))
                cell.number_format = "yyyy-mm-dd hh:mm"
                cells.append(cell)
            elif isinstance(value, str) and value.startswith("="):  # openpyxl's mark of a formula: kept as text
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
        written += 1
    book.save(out)
    return written


def _plate(booked: Trip) -> str | None:
    return booked.assignment.vehicle.plate if booked.assignment else None


def _driver(booked: Trip) -> str | None:
    held = booked.assignment
    return held.driver.name if held and held.driver else None


# The columns of a trip export: heading, and how a trip fills it. Enums by their Chinese labels.
TRIP_SHEET: tuple[tuple[str, Callable[[Trip], Cell]], ...] = (
    ("单号", lambda t: t.id),
    ("用车单位", lambda t: t.agency.name),
    ("单位代码", lambda t: t.agency.code),
    ("事由", lambda t: t.purpose),
    ("优先级", lambda t: t.priority.zh),
    ("状态", lambda t: t.status.zh),
    ("人数", lambda t: t.passengers),
    ("上车地点", lambda t: t.pickup_address),
    ("目的地", lambda t: t.dropoff_address),
    ("最早上车", lambda t: t.earliest_pickup),
    ("最晚上车", lambda t: t.latest_pickup),
    ("停留(分钟)", lambda t: t.dwell_min),
    ("计划里程(km)", lambda t: round(t.planned_km, 1)),
    ("车牌", _plate),
    ("驾驶员", _driver),
    ("计划出车", lambda t: t.assignment.starts_at if t.assignment else None),
    ("出车时间", lambda t: t.started_at),
    ("收车时间", lambda t: t.completed_at),
    ("出车里程", lambda t: t.odometer_start_km),
    ("收车里程", lambda t: t.odometer_end_km),
    ("申请人", lambda t: t.requested_by.name if t.requested_by else None),
    ("申请时间", lambda t: t.created_at),
    ("审批意见", lambda t: t.decision_note),
    ("调度说明", lambda t: t.dispatch_note),
    # 定点租赁 (fleet.rentals): who served it instead of the fleet, and the cost (estimate, or the bill once closed)
    ("租赁企业", lambda t: t.rental_provider.name if t.rental_provider else None),
    ("租赁费用(元)", lambda t: float(t.rental_cost_cny) if t.rental_cost_cny is not None else None),
)


def write_trips_sheet(session: Session, out: IO[bytes], fmt: SheetFormat, where: queries.TripFilter, *,
                      sort: queries.TripSort = "pickup") -> int:
    """Every trip ``where`` selects, in ``sort`` order, as a spreadsheet with Chinese headings; read from the
    database a batch at a time. Returns the number of trips written."""
    rows = ([fill(t) for _, fill in TRIP_SHEET] for t in queries.all_trips(session, where, sort=sort))
    return write_sheet(out, fmt, [heading for heading, _ in TRIP_SHEET], rows, title="用车记录")
