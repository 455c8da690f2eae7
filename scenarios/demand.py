"""Trip requests for one simulated day: generated from the agencies' rates, or replayed from a CSV or the database.

Generation is reproducible: a day's trips depend only on the scenario's demand, its seed, the replication and the
day, never on the fleet. Two scenarios that differ only in their fleet therefore see exactly the same trips
(common random numbers), and their difference is the policy's, not the dice's.

A replayed trip keeps when it was booked (`Day.booked_at`): an emergency the registry knew the evening before is
dispatched with the day's booked trips, not as a call at its pickup time (see `scenarios.simulate`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.problem import Category, Point, Priority, Trip
from dispatch.synthetic.city import CST, HOT_SPOTS, KM_PER_DEG_LAT, KM_PER_DEG_LON_EQUATOR, PASSENGERS
from fleet.exports import TRIP_COLUMNS
from scenarios.spec import AgencySpec, HotSpot, ReplaySpec, Scenario

BOOKED_AT = "booked_at"  # an optional column of a replay CSV: when the trip was booked (ISO 8601, with offset)
# The columns a replay CSV must have, as ``gongche trips export`` writes them; an older export without booking
# times still replays, its emergencies as calls.
COLUMNS = tuple(c for c in TRIP_COLUMNS if c != BOOKED_AT)
DEFAULT_HOT_SPOTS = tuple(HotSpot(name=n, lat=lat, lon=lon, weight=w) for n, lat, lon, w, _ in HOT_SPOTS)
SPREAD_KM = 0.8  # how far around a hot spot or compound trips start and end
MIN_TRIP_KM = 1.0
DROP_OFF_ONLY = 1 / 3  # share of trips where the vehicle does not wait


@dataclass(frozen=True)
class Day:
    index: int
    date: date
    working: bool
    surge: bool
    trips: list[Trip]
    agency: dict[str, str]  # trip id -> agency code
    # trip id -> when the request was booked (replays that know it); a generated trip is known at its pickup
    booked_at: dict[str, datetime] = field(default_factory=dict)


def day(scenario: Scenario, replication: int, index: int) -> Day:
    """The trips requested on the ``index``-th day of the scenario's calendar, in replication ``replication``."""
    when = scenario.calendar.dates()[index]
    working = scenario.calendar.working(when)
    surge = scenario.surge is not None and scenario.surge.on(index)
    if scenario.demand.replay is not None:
        rows = [r for r in _replay(scenario.demand.replay) if r.pickup.date() == when]
        return Day(index, when, working, surge, [r.trip for r in rows], {r.trip.id: r.agency for r in rows},
                   {r.trip.id: r.booked_at for r in rows if r.booked_at is not None})
    gen = np.random.default_rng(np.random.SeedSequence((scenario.seed, replication, index)))
    trips: list[Trip] = []
    agency_of: dict[str, str] = {}
    for agency in scenario.fleet.agencies:
        for trip in _agency_trips(scenario, agency, when, working, surge, gen):
            trips.append(trip)
            agency_of[trip.id] = agency.code
    trips.sort(key=lambda t: (t.earliest_pickup, t.id))
    return Day(index, when, working, surge, trips, agency_of)


def _agency_trips(
    scenario: Scenario, agency: AgencySpec, when: date, working: bool, surge: bool, gen: np.random.Generator
) -> list[Trip]:
    demand = scenario.demand
    mix = agency.priorities or demand.priorities
    total = sum(mix.values()) or 1.0
    midnight = datetime.combine(when, time(), tzinfo=CST)
    trips: list[Trip] = []
    for priority in Priority:
        rate = agency.trips * mix.get(priority, 0.0) / total
        if not working:
            rate *= demand.non_working_factor.get(priority, 1.0)
        if surge and scenario.surge is not None:
            rate *= scenario.surge.emergency_factor if priority == Priority.emergency else scenario.surge.factor
        profile = np.asarray(demand.profiles[priority], dtype=float)
        for _ in range(int(gen.poisson(rate))):
            hour = int(gen.choice(24, p=profile / profile.sum()))
            earliest = midnight + timedelta(minutes=hour * 60 + int(gen.integers(60)))
            pickup = _start(scenario, agency, priority, gen)
            trips.append(Trip(
                id=f"{when:%m%d}-{agency.code}-{len(trips) + 1}",
                priority=priority,
                categories=_categories(agency, priority),
                passengers=int(gen.choice([p for p, _ in PASSENGERS], p=_weights([w for _, w in PASSENGERS]))),
                pickup=pickup,
                dropoff=_end(scenario, pickup, gen),
                earliest_pickup=earliest,
                latest_pickup=earliest + timedelta(minutes=demand.window_min[priority]),
                dwell_min=_dwell(demand.dwell_min[priority], gen),
            ))
    return trips


def _categories(agency: AgencySpec, priority: Priority) -> tuple[Category, ...]:
    if priority == Priority.emergency:
        return (Category.emergency, Category.law_enforcement)
    if priority == Priority.law_enforcement:
        return (Category.law_enforcement,)
    return agency.routine_categories


def _weights(values: list[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    normalised: np.ndarray = array / array.sum()
    return normalised


def _spots(scenario: Scenario) -> tuple[HotSpot, ...]:
    return tuple(scenario.demand.hot_spots) if scenario.demand.hot_spots else DEFAULT_HOT_SPOTS


def _near(lat: float, lon: float, sigma_km: float, gen: np.random.Generator) -> Point:
    north, east = gen.normal(0.0, sigma_km, size=2)
    return _moved(lat, lon, float(north), float(east))


def _moved(lat: float, lon: float, north_km: float, east_km: float) -> Point:
    lat2 = lat + north_km / KM_PER_DEG_LAT
    lon2 = lon + east_km / (KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat)))
    return Point(lat=round(lat2, 6), lon=round(lon2, 6))


def _start(scenario: Scenario, agency: AgencySpec, priority: Priority, gen: np.random.Generator) -> Point:
    """Non-emergency trips mostly start at the agency's compound; emergencies where they happen."""
    if priority != Priority.emergency and gen.random() < scenario.demand.from_agency:
        return _near(agency.lat, agency.lon, 0.2, gen)
    spots = _spots(scenario)
    spot = spots[int(gen.choice(len(spots), p=_weights([s.weight for s in spots])))]
    return _near(spot.lat, spot.lon, 2 * SPREAD_KM, gen)


def _end(scenario: Scenario, pickup: Point, gen: np.random.Generator) -> Point:
    demand = scenario.demand
    if gen.random() < demand.to_hot_spot:
        spots = _spots(scenario)
        spot = spots[int(gen.choice(len(spots), p=_weights([s.weight for s in spots])))]
        end = _near(spot.lat, spot.lon, SPREAD_KM, gen)
        if _km(pickup, end) >= MIN_TRIP_KM:
            return end
    km = float(np.clip(demand.trip_km_median * math.exp(demand.trip_km_sigma * gen.normal()), MIN_TRIP_KM,
                       demand.max_trip_km))
    angle = float(gen.uniform(0, 2 * math.pi))
    return _moved(pickup.lat, pickup.lon, km * math.sin(angle), km * math.cos(angle))


def _km(a: Point, b: Point) -> float:
    north = (a.lat - b.lat) * KM_PER_DEG_LAT
    east = (a.lon - b.lon) * KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(a.lat))
    return math.hypot(north, east)


def _dwell(mean_min: float, gen: np.random.Generator) -> float:
    if mean_min <= 0 or gen.random() < DROP_OFF_ONLY:
        return 0.0
    return float(min(240, 5 * math.ceil(gen.exponential(mean_min) / 5)))


# -- replay ------------------------------------------------------------------------------------------------------


def check(scenario: Scenario) -> None:
    """Read the replay source once, so that a bad CSV is refused before any process starts."""
    if scenario.demand.replay is not None:
        _replay(scenario.demand.replay)


@dataclass(frozen=True)
class Replayed:
    agency: str
    trip: Trip
    booked_at: datetime | None  # None: the source does not say

    @property
    def pickup(self) -> datetime:
        return self.trip.earliest_pickup.astimezone(CST)


def _replay(spec: ReplaySpec) -> list[Replayed]:
    return _rows_from_csv(spec.csv) if spec.csv is not None else _rows_from_database(str(spec.database))


@lru_cache(maxsize=4)
def _rows_from_csv(path: Path) -> list[Replayed]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: replay CSV lacks column {missing[0]!r} (columns: {', '.join(COLUMNS)})")
        return [_trip_of(row, f"{path}:{number}") for number, row in enumerate(reader, start=2)]


@lru_cache(maxsize=4)
def _rows_from_database(url: str) -> list[Replayed]:
    from fleet.exports import trip_rows

    rows = [{k: str(v) for k, v in row.items()} for row in trip_rows(url)]
    return [_trip_of(row, f"{url} trip {row['id']}") for row in rows]


def _trip_of(row: dict[str, Any], where: str) -> Replayed:
    try:
        trip = Trip(
            id=row["id"],
            priority=Priority(row["priority"]),
            categories=tuple(Category(c) for c in row["categories"].split("|")),
            passengers=int(row["passengers"]),
            pickup=Point(lat=float(row["pickup_lat"]), lon=float(row["pickup_lon"])),
            dropoff=Point(lat=float(row["dropoff_lat"]), lon=float(row["dropoff_lon"])),
            earliest_pickup=datetime.fromisoformat(row["earliest_pickup"]),
            latest_pickup=datetime.fromisoformat(row["latest_pickup"]),
            dwell_min=float(row["dwell_min"] or 0),
        )
        booked = row.get(BOOKED_AT) or None
        booked_at = datetime.fromisoformat(booked) if booked is not None else None
        if booked_at is not None and booked_at.tzinfo is None:
            raise ValueError(f"{BOOKED_AT} {booked!r} has no UTC offset")
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{where}: bad trip: {exc}") from None
    return Replayed(row["agency"], trip, booked_at)
