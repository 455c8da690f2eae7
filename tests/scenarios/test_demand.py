"""The demand generator: reproducible from its seed, independent of the fleet, shaped by the calendar and surges;
and a replay of booked trips from CSV gives those trips back."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from scenarios import demand
from scenarios.demand import COLUMNS
from tests.scenarios.conftest import agency, scenario

AGENCIES = [agency("A", trips=60, vehicles={"general": 10, "law_enforcement": 5}),
            agency("B", trips=40, vehicles={"emergency": 4}, north_km=3,
                   priorities={"emergency": 0.5, "law_enforcement": 0, "routine": 0.5})]


def _dump(day: demand.Day) -> list[dict[str, object]]:
    return [t.model_dump(mode="json") for t in day.trips]


def test_same_seed_same_trips_and_the_fleet_does_not_matter() -> None:
    one = scenario(AGENCIES)
    again = scenario(AGENCIES, fleet={"scale": 0.4, "nev_share": 1.0})
    assert _dump(demand.day(one, 0, 0)) == _dump(demand.day(one, 0, 0))
    assert _dump(demand.day(one, 0, 0)) == _dump(demand.day(again, 0, 0))
    assert _dump(demand.day(one, 1, 0)) != _dump(demand.day(one, 0, 0))  # another replication
    assert _dump(demand.day(scenario(AGENCIES, seed=8), 0, 0)) != _dump(demand.day(one, 0, 0))


def test_rates_priorities_and_categories_follow_the_agencies() -> None:
    city = scenario(AGENCIES, calendar={"start": "2026-11-23", "days": 5})
    days = [demand.day(city, r, d) for r in range(4) for d in range(5)]
    per_agency = {code: np.mean([sum(1 for t in day.trips if day.agency[t.id] == code) for day in days])
                  for code in ("A", "B")}
    # Poisson means of 60 and 40 over 20 days: the standard error is under 2.
    assert abs(per_agency["A"] - 60) < 6
    assert abs(per_agency["B"] - 40) < 6
    b_trips = [t for day in days for t in day.trips if day.agency[t.id] == "B"]
    assert {t.priority.value for t in b_trips} == {"emergency", "routine"}
    for trip in b_trips:
        expected = ("emergency", "law_enforcement") if trip.priority.value == "emergency" else ("general",)
        assert tuple(c.value for c in trip.categories) == expected
        width = (trip.latest_pickup - trip.earliest_pickup).total_seconds() / 60
        assert width == (15 if trip.priority.value == "emergency" else 30)


def test_weekends_holidays_and_surges() -> None:
    # 2026-11-28 is a Saturday; 2026-11-25 (Wednesday) is declared a holiday and 2026-11-29 (Sunday) a workday.
    city = scenario(AGENCIES, calendar={"start": "2026-11-23", "days": 7, "holidays": ["2026-11-25"],
                                        "workdays": ["2026-11-29"]})
    working = [demand.day(city, 0, d).working for d in range(7)]
    assert working == [True, True, False, True, True, False, True]
    routine = [sum(1 for t in demand.day(city, r, 5).trips if t.priority.value == "routine") for r in range(5)]
    routine_weekday = [sum(1 for t in demand.day(city, r, 0).trips if t.priority.value == "routine") for r in range(5)]
    assert np.mean(routine) < 0.25 * np.mean(routine_weekday)  # 8 % of a working day's routine trips by default

    surge = scenario(AGENCIES, surge={"first_day": 0, "days": 1, "factor": 3.0, "emergency_factor": 5.0},
                     calendar={"start": "2026-11-23", "days": 2})
    emergencies = [sum(1 for t in demand.day(surge, r, 0).trips if t.priority.value == "emergency") for r in range(5)]
    normal = [sum(1 for t in demand.day(surge, r, 1).trips if t.priority.value == "emergency") for r in range(5)]
    assert demand.day(surge, 0, 0).surge
    assert not demand.day(surge, 0, 1).surge
    assert np.mean(emergencies) > 3 * np.mean(normal)  # expected 100 against 20


def test_replay_from_csv_gives_the_trips_back(tmp_path: Path) -> None:
    city = scenario(AGENCIES, calendar={"start": "2026-11-23", "days": 2})
    generated = [demand.day(city, 0, d) for d in range(2)]
    path = tmp_path / "trips.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for day in generated:
            for t in day.trips:
                writer.writerow([t.id, day.agency[t.id], t.priority.value, "|".join(c.value for c in t.categories),
                                 t.passengers, t.pickup.lat, t.pickup.lon, t.dropoff.lat, t.dropoff.lon,
                                 t.earliest_pickup.isoformat(), t.latest_pickup.isoformat(), t.dwell_min])
    replay = scenario(AGENCIES, calendar={"start": "2026-11-23", "days": 2}, demand={"replay": {"csv": str(path)}})
    for index, day in enumerate(generated):
        again = demand.day(replay, 0, index)
        assert sorted(_dump(again), key=str) == sorted(_dump(day), key=str)
        assert again.agency == day.agency
