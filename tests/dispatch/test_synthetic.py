"""The synthetic city generator: deterministic, valid exchange-format data, and the documented mix."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from datetime import date, datetime
from typing import Any

import pytest

from dispatch.synthetic import CENTRE, SIZES, city_instance

CATEGORIES = {"confidential_comms", "emergency", "law_enforcement", "special_technical", "general"}
POWERTRAINS = {"ice", "hev", "phev", "bev", "fcev"}


@pytest.fixture(scope="module")
def city() -> dict[str, Any]:
    return city_instance(100, 500, seed=7)


@pytest.fixture(scope="module")
def large() -> dict[str, Any]:
    return city_instance(300, 1500, seed=3)


def _t(text: str) -> datetime:
    stamp = datetime.fromisoformat(text)
    offset = stamp.utcoffset()
    assert offset is not None, text
    assert offset.total_seconds() == 8 * 3600, text
    return stamp


def _km(a: dict[str, float], b: tuple[float, float]) -> float:
    """Rough planar km, enough to tell whether a point is in the city."""
    north = (a["lat"] - b[0]) * 110.9
    east = (a["lon"] - b[1]) * 111.32 * math.cos(math.radians(b[0]))
    return math.hypot(north, east)


class TestDeterminism:
    def test_same_seed_same_instance(self) -> None:
        """Equal arguments give byte-identical JSON."""
        assert json.dumps(city_instance(20, 80, seed=5)) == json.dumps(city_instance(20, 80, seed=5))

    def test_other_seed_other_instance(self) -> None:
        assert city_instance(20, 80, seed=1)["trips"] != city_instance(20, 80, seed=2)["trips"]

    @pytest.mark.parametrize(
        ("vehicles", "trips", "seed", "digest"),
        [
            (20, 80, 0, "77c6691b30a47082d1c12623f2f966342b43fe93262f8f90a779502ac61ee420"),
            (20, 80, 5, "41517f7123767ca28c3b74a77ec67f17f9acb05ef4a093fb4576b1e797acc6f9"),
            (100, 500, 0, "7515a24105c66a40fd2a69b160f9e6ec024ece4d8c93981678ab1688a4848036"),
            (1, 12, 4, "f67a054fbccbdfc6c5cb1f4891003589a368e895717f260a67b3339110e16dbc"),
        ],
    )
    def test_wuhan_unchanged(self, vehicles: int, trips: int, seed: int, digest: str) -> None:
        """Wuhan's days are byte for byte what they were before there were other cities (pinned from that code):
        the scenarios, the demo and the historical benchmark figures build on them."""
        text = json.dumps(city_instance(vehicles, trips, seed=seed), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == digest
        assert json.dumps(city_instance(vehicles, trips, seed=seed, city="wuhan"), ensure_ascii=False) == text

    def test_name_and_day(self) -> None:
        instance = city_instance(5, 10, day=date(2027, 1, 4), name="x")
        assert instance["name"] == "x"
        assert all(t["earliest_pickup"].startswith("2027-01-04") for t in instance["trips"])
        assert city_instance(5, 10, seed=3)["name"] == "city-5x10-s3"

    @pytest.mark.parametrize(("vehicles", "trips"), [(0, 10), (3, -1)])
    def test_rejects_impossible_sizes(self, vehicles: int, trips: int) -> None:
        with pytest.raises(ValueError, match="vehicle"):
            city_instance(vehicles, trips)


class TestFormat:
    def test_header(self, city: dict[str, Any]) -> None:
        assert city["format"] == "dispatch/1"
        assert city["road_factor"] == 1.3
        assert city["speed_kmh"] == 30
        json.dumps(city)  # plain JSON-able

    def test_sizes(self, city: dict[str, Any]) -> None:
        assert len(city["vehicles"]) == 100
        assert len(city["trips"]) == 500
        assert SIZES == ((20, 80), (100, 500), (300, 1500), (1000, 5000), (3000, 10000))

    def test_ids_unique(self, city: dict[str, Any]) -> None:
        for key in ("depots", "vehicles", "trips"):
            ids = [item["id"] for item in city[key]]
            assert len(ids) == len(set(ids)), key

    def test_every_vehicle_depot_exists(self, city: dict[str, Any]) -> None:
        depots = {d["id"] for d in city["depots"]}
        assert {v["depot"] for v in city["vehicles"]} <= depots

    def test_vehicle_fields(self, city: dict[str, Any]) -> None:
        for vehicle in city["vehicles"]:
            assert vehicle["category"] in CATEGORIES
            assert vehicle["powertrain"] in POWERTRAINS
            assert vehicle["seats"] in {4, 5, 7, 12}
            assert _t(vehicle["shift_end"]) > _t(vehicle["shift_start"])
            if vehicle["powertrain"] == "bev":
                assert 200 <= vehicle["range_km"] <= 400
            else:
                assert vehicle["range_km"] is None

    def test_trip_fields(self, city: dict[str, Any]) -> None:
        for trip in city["trips"]:
            assert trip["priority"] in {"emergency", "law_enforcement", "routine"}
            assert trip["categories"]
            assert set(trip["categories"]) <= CATEGORIES
            assert 1 <= trip["passengers"] <= 6
            assert 0 <= trip["dwell_min"] <= 120
            assert trip["pickup"] != trip["dropoff"]
            width = (_t(trip["latest_pickup"]) - _t(trip["earliest_pickup"])).total_seconds() / 60
            if trip["priority"] == "emergency":
                assert 5 <= width <= 15
            else:
                assert 10 <= width <= 30

    def test_passengers_fit_an_allowed_vehicle(self, city: dict[str, Any]) -> None:
        most: dict[str, int] = {}
        for vehicle in city["vehicles"]:
            most[vehicle["category"]] = max(most.get(vehicle["category"], 0), vehicle["seats"])
        for trip in city["trips"]:
            assert trip["passengers"] <= max(most.get(c, 0) for c in trip["categories"]), trip["id"]

    def test_points_in_the_city(self, city: dict[str, Any]) -> None:
        for trip in city["trips"]:
            for end in ("pickup", "dropoff"):
                assert _km(trip[end], CENTRE) < 20.0
        assert all(_km(d, CENTRE) < 15.0 for d in city["depots"])

    def test_tiny_fleet_still_valid(self) -> None:
        instance = city_instance(1, 12, seed=4)
        assert len(instance["depots"]) == 1
        seats = instance["vehicles"][0]["seats"]
        category = instance["vehicles"][0]["category"]
        for trip in instance["trips"]:
            if category in trip["categories"]:
                assert trip["passengers"] <= seats


class TestMix:
    def test_depots_about_one_per_sixty_vehicles(self, large: dict[str, Any]) -> None:
        assert len(large["depots"]) == 5
        assert len(city_instance(20, 10)["depots"]) == 1

    def test_priorities(self, large: dict[str, Any]) -> None:
        share = Counter(t["priority"] for t in large["trips"])
        assert 0.03 < share["emergency"] / 1500 < 0.08
        assert 0.20 < share["law_enforcement"] / 1500 < 0.30

    def test_allowed_categories(self, large: dict[str, Any]) -> None:
        for trip in large["trips"]:
            if trip["priority"] == "emergency":
                assert trip["categories"] == ["emergency", "law_enforcement"]
            elif trip["priority"] == "law_enforcement":
                assert trip["categories"] == ["law_enforcement"]
            else:
                assert set(trip["categories"]) <= {"general", "confidential_comms", "special_technical"}

    def test_fleet(self, large: dict[str, Any]) -> None:
        fleet = large["vehicles"]
        assert set(Counter(v["category"] for v in fleet)) == CATEGORIES
        assert sum(v["powertrain"] == "bev" for v in fleet) == 100
        assert any(v["seats"] == 12 for v in fleet)
        assert 0.15 < sum(v["seats"] == 7 for v in fleet) / 300 < 0.35

    def test_passengers_mostly_small(self, large: dict[str, Any]) -> None:
        small = sum(t["passengers"] <= 2 for t in large["trips"])
        assert small / 1500 > 0.6

    def test_shifts(self, large: dict[str, Any]) -> None:
        hours = Counter(
            (_t(v["shift_start"]).strftime("%H:%M"), (_t(v["shift_end"]) - _t(v["shift_start"])).total_seconds() / 3600)
            for v in large["vehicles"]
        )
        assert hours[("07:30", 12.0)] > 0.35 * 300  # most: 07:30-19:30
        assert hours[("19:00", 12.0)] > 0  # night shifts into the next morning
        assert hours[("00:00", 24.0)] > 0  # 24-h duty

    def test_peaks_and_round_the_clock_emergencies(self, large: dict[str, Any]) -> None:
        def hour(trip: dict[str, Any]) -> int:
            return _t(trip["earliest_pickup"]).hour

        day = [hour(t) for t in large["trips"] if t["priority"] == "routine"]
        peaks = sum(8 <= h < 10 or 14 <= h < 17 for h in day)
        assert peaks / len(day) > 0.6
        assert all(8 <= h < 18 for h in day)
        emergency_hours = {hour(t) for t in large["trips"] if t["priority"] == "emergency"}
        assert len(emergency_hours) >= 20  # around the clock

    def test_dwell_mostly_short_some_none(self, large: dict[str, Any]) -> None:
        dwell = [t["dwell_min"] for t in large["trips"]]
        assert 0.2 < dwell.count(0) / len(dwell) < 0.45
        assert 10 < sum(dwell) / len(dwell) < 60
