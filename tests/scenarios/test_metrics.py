"""Metrics on hand-made days whose answers are known: the exact minimum fleet, a simulated day's service, delay,
kilometres and busy hours, and the annual cost and CO2 of given days."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dispatch.exact import min_fleet_at
from dispatch.travel import Geodesic
from scenarios.demand import COLUMNS
from scenarios.metrics import summarise
from scenarios.simulate import DayResult, DayTask, simulate_day
from tests.scenarios.conftest import CENTRE, agency, scenario

TRAVEL = Geodesic(1.3, 30.0)
HERE = np.array([CENTRE])
KM = 1 / 110.9  # one km north, in degrees


def _drive(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(TRAVEL.seconds(np.array([TRAVEL.pair_km(a, b)]))[0])


class TestMinFleet:
    def test_simultaneous_trips_need_one_vehicle_each_and_a_chain_needs_one(self) -> None:
        pick = np.repeat(HERE, 3, axis=0)
        drop = pick + np.array([KM, 0])
        assert min_fleet_at(np.array([0.0, 0, 0]), np.full(3, 600.0), pick, drop, np.zeros(3), TRAVEL) == 3
        assert min_fleet_at(np.array([0.0, 3600, 7200]), np.full(3, 600.0), pick, drop, np.zeros(3), TRAVEL) == 1

    def test_exact_to_the_second(self) -> None:
        pick = np.array([CENTRE, CENTRE])
        drop = pick + np.array([2 * KM, 0])
        back = _drive(tuple(drop[0]), tuple(pick[1]))
        busy = np.array([900.0, 900.0])
        on_time = np.array([0.0, 900 + back])
        assert min_fleet_at(on_time, busy, pick, drop, np.zeros(2), TRAVEL) == 1
        assert min_fleet_at(on_time - [0, 1], busy, pick, drop, np.zeros(2), TRAVEL) == 2

    def test_groups_cannot_share_a_vehicle(self) -> None:
        pick = np.repeat(HERE, 2, axis=0)
        drop = pick + np.array([KM, 0])
        times, busy = np.array([0.0, 7200]), np.full(2, 600.0)
        assert min_fleet_at(times, busy, pick, drop, np.array([0, 1]), TRAVEL) == 2
        assert min_fleet_at(times, busy, pick, drop, np.zeros(2), TRAVEL) == 1


def _replay(tmp_path: Path, rows: list[list[object]]) -> str:
    path = tmp_path / "trips.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return str(path)


def _trip(tid: str, priority: str, categories: str, pickup: tuple[float, float], dropoff: tuple[float, float],
          at: str, until: str, dwell: float) -> list[object]:
    return [tid, "A", priority, categories, 1, *pickup, *dropoff, f"2026-11-23T{at}:00+08:00",
            f"2026-11-23T{until}:00+08:00", dwell]


def test_a_hand_made_day(tmp_path: Path) -> None:
    """One general car on 24-hour duty and one emergency car; two routine trips in a row and one emergency."""
    depot = CENTRE
    north = (CENTRE[0] + 3 * KM, CENTRE[1])
    south = (CENTRE[0] - 2 * KM, CENTRE[1])
    rows = [
        _trip("r1", "routine", "general", depot, north, "09:00", "09:00", 30),
        _trip("r2", "routine", "general", north, south, "11:00", "11:00", 0),
        _trip("e1", "emergency", "emergency", south, depot, "14:00", "14:15", 0),
    ]
    city = scenario(
        [agency("A", trips=0, vehicles={"general": 1, "emergency": 1})],
        fleet={"initial_nev_share": 0, "seats": {5: 1.0},
               "shifts": {"general": [[[0, 1440], 1.0]], "emergency": [[[0, 1440], 1.0]]}},
        demand={"replay": {"csv": _replay(tmp_path, rows)}},
    )
    day = simulate_day(DayTask(city, 1.0, 0, 0))
    assert day.offered == {"routine": 2, "emergency": 1}
    assert day.served == {"emergency": 1, "law_enforcement": 0, "routine": 2}
    # The emergency car is idle at the depot when the call comes at 14:00: the delay is its drive there.
    assert day.emergency_delay_s == [_drive(depot, south)]
    loaded = TRAVEL.pair_km(depot, north) + TRAVEL.pair_km(north, south) + TRAVEL.pair_km(south, depot)
    empty = TRAVEL.pair_km(south, depot) + TRAVEL.pair_km(depot, south)  # the general car home, the emergency out
    assert day.empty_km == pytest.approx(empty, abs=1e-3)
    assert day.total_km == pytest.approx(loaded + empty, abs=1e-3)
    assert day.used_by_category == {"general": 1, "emergency": 1}
    assert day.min_fleet == day.min_fleet_pooled == {"general": 1, "emergency": 1}
    # Busy hours: 09:00 + drive + 30 min dwell, then 11:00 + drive + the drive home; 14:00 out, back, home.
    first = _drive(depot, north) + 1800
    second = _drive(north, south) + _drive(south, depot)
    third = _drive(depot, south) + _drive(south, depot)  # out to the call, and back to the depot it drops at
    assert sum(day.busy_hours) * 3600 == pytest.approx(first + second + third, abs=1)  # hours kept to 4 decimals
    assert day.busy_hours[9] * 3600 == pytest.approx(min(3600, first), abs=1)
    assert day.busy_hours[10] == 0
    assert day.busy_hours[12] == 0


def _result(day: int, working: bool, km: float, rented: int = 0, rental_km: float = 0.0,
            delays: tuple[float, ...] = ()) -> DayResult:
    return DayResult(
        scenario="test", scale=1.0, replication=0, day=day, date=f"2026-11-{23 + day}", working=working,
        surge=False, offered={"routine": 10}, served={"routine": 10 - rented, "emergency": 0, "law_enforcement": 0},
        rented=rented, rental_km=rental_km, emergency_delay_s=list(delays), empty_km=km / 4, total_km=km,
        km_by_powertrain={"ice": km / 2, "bev": km / 2}, held_by_powertrain={"ice": 2, "bev": 2},
        held_by_category={"general": 4}, used_by_category={"general": 3}, min_fleet={"general": 2},
        min_fleet_pooled={"general": 2}, busy_hours=[0.0] * 9 + [2.0] + [0.0] * 14, seconds=0.0,
    )


def test_annual_cost_and_co2_from_given_days() -> None:
    city = scenario([agency("A", trips=10, vehicles={"general": 4})], calendar={"working_days_per_year": 250},
                    rental={"price_per_km": 3.0, "price_per_trip": 20.0, "co2_g_per_km": 200.0})
    days = [_result(0, True, 100.0, rented=1, rental_km=10.0, delays=(60.0, 120.0, 600.0)),
            _result(1, True, 300.0, rented=3, rental_km=30.0),
            _result(2, False, 40.0)]
    summary = summarise(city, days)
    costs = city.costs.powertrains
    # A mean working day of 200 km for 250 days, a rest day of 40 km for 115.
    year_km = 200 * 250 + 40 * 115
    rental_km, rented = 20 * 250, 2 * 250
    assert summary.km_per_year == pytest.approx(year_km + rental_km)
    ice, bev = costs["ice"], costs["bev"]
    depreciation = 2 * ice.price / ice.life_years + 2 * bev.price / bev.life_years
    assert summary.cost["depreciation"] == pytest.approx(depreciation)
    assert summary.cost["fixed"] == pytest.approx(4 * city.costs.fixed_per_vehicle_year)
    assert summary.cost["energy"] == pytest.approx(year_km / 2 * (ice.energy_per_km + bev.energy_per_km))
    assert summary.cost["rental"] == pytest.approx(rental_km * 3.0 + rented * 20.0)
    co2 = year_km / 2 * (ice.co2_g_per_km + bev.co2_g_per_km) + rental_km * 200.0
    assert summary.co2_t == pytest.approx(co2 / 1e6, abs=1e-3)
    assert summary.share_served == 1.0  # what the fleet missed, rental took
    assert summary.served_share["routine"] == pytest.approx(26 / 30)
    assert summary.emergency_p50_min == 2.0
    assert summary.deadhead_share == pytest.approx(0.25)
    assert summary.utilisation_by_hour[9] == pytest.approx(0.5)  # 2 busy vehicle-hours of 4 held
    assert summary.min_fleet["general"] == 2
    assert summary.nev_share == 0.5
