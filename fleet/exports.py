"""The registry as scenario input: the fleet it holds (``gongche fleet export``) and the trips it booked
(``gongche trips export``), so that a simulation can start from the real city rather than a made-up one.

Both read only. Trips keep the dispatch engine's own reading of a booking (`fleet.exchange.trip_row`), so a
replayed trip asks for the same vehicles a batch run would have offered it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from dispatch.synthetic import CENTRE
from fleet.clock import CHINA, local_date, local_moment
from fleet.db import make_engine, unit_of_work
from fleet.enums import TripStatus, VehicleStatus
from fleet.errors import InvalidInput, NotFound
from fleet.exchange import trip_row
from fleet.models import Agency, Trip, Vehicle

# Bookings that never became demand: refused by the approver, or withdrawn.
NOT_BOOKED = (TripStatus.rejected, TripStatus.cancelled)
# How far back the trip rate looks from the newest trip: a quarter, long enough to smooth out a busy week.
RATE_DAYS = 90
TRIP_COLUMNS = (
    "id", "agency", "priority", "categories", "passengers", "pickup_lat", "pickup_lon", "dropoff_lat",
    "dropoff_lon", "earliest_pickup", "latest_pickup", "dwell_min",
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
    return {
        "id": vehicle.plate,
        "category": vehicle.category.value,
        "seats": vehicle.seats,
        "powertrain": vehicle.powertrain.value,
        "range_km": None if vehicle.range_km is None else float(vehicle.range_km),
    }


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
    }


def trip_rows(url: str, start: date | None = None, end: date | None = None) -> list[TripRow]:
    """The booked (not rejected or cancelled) trips of the database at ``url`` whose earliest pickup falls on a
    China date in [start, end], by earliest pickup then id.

    Takes a URL rather than a session so a scenario can replay another registry than the configured one; a
    missing SQLite file is refused rather than created empty, which would read as a city without trips.
    """
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"end {end} is before start {start}", field="end")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not Path(parsed.database).is_file():
        raise NotFound(f"no database file at {parsed.database}", field="url")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(Trip.__tablename__):
                raise NotFound(f"{parsed.render_as_string(hide_password=True)} holds no Gongche registry "
                               f"(no trips table)", field="url")
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
