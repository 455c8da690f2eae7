"""The registry as the engine sees it: each vehicle's free stretches, booked trips as exchange rows, and the
exchange-format problem built from them (``../shared/spec/dispatch-format.md``).

A run sees each vehicle as its free stretches: its hours on duty minus what it already holds and the drives to
and from it, each stretch starting and ending at the yard. So the engine needs no notion of pinned trips, and
nothing it plans can collide with an assignment already made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np

from dispatch.problem import Problem
from fleet.assignments import TRAVEL
from fleet.clock import CHINA, local_date, local_moment
from fleet.enums import Category
from fleet.models import Assignment, Trip, Vehicle

ROUND_THE_CLOCK = frozenset({Category.emergency})  # 应急保障 vehicles are on call day and night
WORKDAY = (time(7, 30), time(19, 30))  # non-emergency vehicles' service hours, local time
MIN_SEGMENT = timedelta(minutes=10)


@dataclass(frozen=True)
class Segment:
    """A stretch of one vehicle's day free of existing assignments: one engine vehicle."""

    vehicle: Vehicle
    start: datetime
    end: datetime
    range_km: float | None


def service_hours(vehicle: Vehicle, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The vehicle's hours on duty within [start, end): round the clock for emergency vehicles."""
    if vehicle.category in ROUND_THE_CLOCK:
        return [(start, end)]
    hours = []
    day = local_date(start) - timedelta(days=1)
    while local_moment(day, WORKDAY[0]) < end:
        opens = max(start, local_moment(day, WORKDAY[0]))
        closes = min(end, local_moment(day, WORKDAY[1]))
        if opens < closes:
            hours.append((opens, closes))
        day += timedelta(days=1)
    return hours


def home(vehicle: Vehicle) -> tuple[float, float]:
    """The vehicle's yard; only dispatchable vehicles (`queries.dispatchable_vehicles`) come here."""
    assert vehicle.home_lat is not None
    assert vehicle.home_lon is not None
    return vehicle.home_lat, vehicle.home_lon


def _drive(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, timedelta]:
    km = TRAVEL.pair_km(a, b)
    return km, timedelta(seconds=float(TRAVEL.seconds(np.asarray(km))))


def segments(vehicle: Vehicle, start: datetime, end: datetime, held: Sequence[Assignment]) -> list[Segment]:
    """The vehicle's free stretches: its hours minus each held assignment and the drives to and from it.

    A stretch begins and ends at the yard, so a plan inside it can never collide with what is already held; the
    battery range left after the held trips' round drives is shared evenly between the stretches.
    """
    yard = home(vehicle)
    busy: list[tuple[datetime, datetime]] = []
    used_km = 0.0
    for holding in held:
        booked = holding.trip
        km_in, drive_in = _drive(yard, (booked.pickup_lat, booked.pickup_lon))
        km_out, drive_out = _drive((booked.dropoff_lat, booked.dropoff_lon), yard)
        busy.append((holding.starts_at - drive_in, holding.ends_at + drive_out))
        used_km += km_in + booked.planned_km + km_out
    free: list[tuple[datetime, datetime]] = []
    for opens, closes in service_hours(vehicle, start, end):
        cursor = opens
        for taken_from, taken_to in sorted(busy):
            if taken_to <= cursor or taken_from >= closes:
                continue
            if taken_from - cursor >= MIN_SEGMENT:
                free.append((cursor, taken_from))
            cursor = max(cursor, taken_to)
        if closes - cursor >= MIN_SEGMENT:
            free.append((cursor, closes))
    if vehicle.range_km is None:
        return [Segment(vehicle, s, e, None) for s, e in free]
    left = (vehicle.range_km - used_km) / max(1, len(free))
    return [Segment(vehicle, s, e, left) for s, e in free if left > 1.0]


def trip_row(booked: Trip) -> dict[str, Any]:
    """A booked trip in the exchange format; its id is the trip's id."""
    return {
        "id": str(booked.id), "priority": booked.priority.value, "categories": booked.categories,
        "passengers": booked.passengers,
        "pickup": {"lat": booked.pickup_lat, "lon": booked.pickup_lon},
        "dropoff": {"lat": booked.dropoff_lat, "lon": booked.dropoff_lon},
        # In China time: the engine words its reasons ("busy 09:42-10:51") in the offset the times come in.
        "earliest_pickup": booked.earliest_pickup.astimezone(CHINA).isoformat(),
        "latest_pickup": booked.latest_pickup.astimezone(CHINA).isoformat(),
        "dwell_min": booked.dwell_min,
    }


def keyed(stretches: Sequence[Segment]) -> dict[str, Segment]:
    """Each stretch under its engine vehicle id, ``PLATE#k`` for the vehicle's k-th stretch in the order given.

    The ids are fixed once here, so a caller that drops some stretches later keeps the others' ids.
    """
    by_id: dict[str, Segment] = {}
    count: dict[int, int] = {}
    for stretch in stretches:
        count[stretch.vehicle.id] = count.get(stretch.vehicle.id, 0) + 1
        by_id[f"{stretch.vehicle.plate}#{count[stretch.vehicle.id]}"] = stretch
    return by_id


def problem_of(name: str, stretches: Mapping[str, Segment], trips: Sequence[Trip]) -> Problem:
    """The exchange-format problem of free stretches (by engine vehicle id, see `keyed`) and trips; each yard is
    a depot."""
    depots: dict[tuple[float, float], str] = {}
    rows = []
    for key, stretch in stretches.items():
        depot = depots.setdefault(home(stretch.vehicle), f"yard-{len(depots) + 1}")
        rows.append({
            "id": key, "depot": depot, "category": stretch.vehicle.category.value, "seats": stretch.vehicle.seats,
            "powertrain": stretch.vehicle.powertrain.value, "range_km": stretch.range_km,
            "shift_start": stretch.start.astimezone(CHINA).isoformat(),
            "shift_end": stretch.end.astimezone(CHINA).isoformat(),
        })
    data = {
        "format": "dispatch/1", "name": name, "road_factor": TRAVEL.road_factor, "speed_kmh": TRAVEL.speed_kmh,
        "depots": [{"id": d, "lat": lat, "lon": lon} for (lat, lon), d in depots.items()] or
                  [{"id": "none", "lat": 0.0, "lon": 0.0}],
        "vehicles": rows, "trips": [trip_row(t) for t in trips],
    }
    return Problem.parse(data)


def drive(a: tuple[float, float], b: tuple[float, float]) -> timedelta:
    """The time to drive from ``a`` to ``b`` in the exchange format's travel model."""
    return _drive(a, b)[1]
