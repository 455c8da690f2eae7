"""A replayed day keeps when each trip was booked: an emergency the registry booked the evening before is dispatched
with the day's bookings (the live day placed it then), not treated as a call at its pickup time that only a car
already within its few minutes' window can answer. That was why the demo's registry day served about half its
emergencies whatever the fleet (issue 16)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

import scenarios.simulate as simulate
from dispatch.plan import Plan
from dispatch.problem import Problem
from dispatch.synthetic.city import CENTRE, KM_PER_DEG_LAT
from fleet import bookings
from fleet.clock import CHINA, travel
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category
from fleet.exports import fleet_document
from fleet.migrate import upgrade
from fleet.schemas import TripIn
from scenarios import demand
from scenarios.demand import BOOKED_AT, COLUMNS
from scenarios.simulate import DayResult, DayTask, simulate_day
from scenarios.spec import ScenarioError, load
from scenarios.vehicles import held
from tests.factories import ADMIN, agency, jurisdiction_tree, registered
from tests.scenarios.conftest import scenario

DAY = date(2026, 11, 23)
FAR = (CENTRE[0] + 12 / KM_PER_DEG_LAT, CENTRE[1])  # 12 km north of the yard: 31 min at 30 km/h and 1.3 road factor
NEAR = (CENTRE[0] + 1 / KM_PER_DEG_LAT, CENTRE[1])
ONE_CAR = {"initial_nev_share": 0, "seats": {5: 1.0}, "shifts": {"emergency": [[[0, 1440], 1.0]]}}


def _moment(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA)


def _row(tid: str, at: datetime, booked: datetime | None, pickup: tuple[float, float] = FAR) -> dict[str, object]:
    return {"id": tid, "agency": "A", "priority": "emergency", "categories": "emergency", "passengers": 1,
            "pickup_lat": pickup[0], "pickup_lon": pickup[1], "dropoff_lat": NEAR[0], "dropoff_lon": NEAR[1],
            "earliest_pickup": at.isoformat(), "latest_pickup": (at + timedelta(minutes=10)).isoformat(),
            "dwell_min": 0, BOOKED_AT: "" if booked is None else booked.isoformat()}


def _csv(tmp_path: Path, rows: list[dict[str, object]]) -> str:
    path = tmp_path / "trips.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, BOOKED_AT])
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch, referee: Callable[[Problem, Plan], object]) -> list[Plan]:
    """Every plan a simulated day reports on, each checked by the referee."""
    seen: list[Plan] = []
    real = simulate._result

    def checked(task: DayTask, today: demand.Day, vehicles: Any, day_plans: list[tuple[Plan, Problem]],
                *rest: Any) -> DayResult:
        for plan, problem in day_plans:
            referee(problem, plan)
            seen.append(plan)
        return real(task, today, vehicles, day_plans, *rest)

    monkeypatch.setattr(simulate, "_result", checked)
    return seen


def _one_car_city(trips_csv: str) -> Any:
    return scenario([{"code": "A", "name": "A", "lat": CENTRE[0], "lon": CENTRE[1], "trips": 0,
                      "vehicles": {"emergency": 1}}],
                    fleet=ONE_CAR, demand={"replay": {"csv": trips_csv}})


def test_when_an_emergency_was_booked_decides_whether_a_distant_car_can_serve_it(
        tmp_path: Path, plans: list[Plan]) -> None:
    """Three emergencies 31 min from the only car's yard, each with a 10-minute window: the one booked the evening
    before and the one booked at 07:00 for 10:00 are served; the one the source knows nothing about is a call at
    its pickup time, which no car in the yard can reach in its window."""
    evening = _moment(DAY - timedelta(days=1), 21)
    rows = [_row("before", _moment(DAY, 8), evening), _row("morning", _moment(DAY, 10), _moment(DAY, 7)),
            _row("call", _moment(DAY, 14), None)]
    city = _one_car_city(_csv(tmp_path, rows))
    today = demand.day(city, 0, 0)
    assert today.booked_at == {"before": evening, "morning": _moment(DAY, 7)}

    day = simulate_day(DayTask(city, 1.0, 0, 0))

    assert day.offered == {"emergency": 3}
    assert day.served["emergency"] == 2
    (plan,) = plans
    assert {u.trip for u in plan.unserved} == {"call"}
    assert len(day.insert_ms) == 2  # the morning booking and the call came in during the day; the evening's did not
    # The car left in time: both served emergencies were picked up at the start of their window.
    assert day.emergency_delay_s == [0.0, 0.0]


def test_a_booking_time_without_an_offset_is_refused(tmp_path: Path) -> None:
    row = _row("x", _moment(DAY, 8), None) | {BOOKED_AT: "2026-11-22T21:00:00"}
    city = _one_car_city(_csv(tmp_path, [row]))
    with pytest.raises(ValueError, match=r"trips\.csv:2: bad trip: booked_at '2026-11-22T21:00:00' has no UTC"):
        demand.check(city)


def test_the_registry_s_booking_times_come_with_its_trips(tmp_path: Path, plans: list[Plan]) -> None:
    """Replayed from the database, as the demo does: the emergency booked the evening before is served, the one
    booked at its pickup time is a call (both 31 min from the yard, with a 10-minute window)."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = make_engine(url)
    upgrade(engine)
    evening, morning = _moment(DAY - timedelta(days=1), 21), _moment(DAY, 9)
    with unit_of_work(engine) as session:
        jurisdiction_tree(session)
        agency(session, "WH-YJ", quotas={Category.emergency: 1})
        registered(session, "WH-YJ", category=Category.emergency, home_lat=CENTRE[0], home_lon=CENTRE[1])
        ids = {}
        for name, booked, pickup in (("ahead", evening, _moment(DAY, 8)), ("call", morning, morning)):
            with travel(booked, tick=False):
                trip, _ = bookings.book(session, ADMIN, agency="WH-YJ", approved=True, data=TripIn.parse({
                    "purpose": "抢险", "priority": "emergency", "priority_reason": "防汛抢险", "passengers": 1,
                    "categories": ["emergency"],
                    "pickup": {"lat": FAR[0], "lon": FAR[1], "address": "甲"},
                    "dropoff": {"lat": NEAR[0], "lon": NEAR[1], "address": "乙"},
                    "earliest_pickup": pickup.isoformat(),
                    "latest_pickup": (pickup + timedelta(minutes=10)).isoformat(), "dwell_min": 0}))
            ids[name] = str(trip.id)
        fleet = fleet_document(session)
    engine.dispose()
    (car,) = fleet["agencies"][0]["vehicles"]
    assert (car["lat"], car["lon"]) == CENTRE
    city = scenario([], fleet={**ONE_CAR, "agencies": fleet["agencies"]}, demand={"replay": {"database": url}})

    assert demand.day(city, 0, 0).booked_at == {ids["ahead"]: evening, ids["call"]: morning}
    day = simulate_day(DayTask(city, 1.0, 0, 0))

    assert day.served["emergency"] == 1
    (plan,) = plans
    assert [u.trip for u in plan.unserved] == [ids["call"]]


def test_each_car_starts_from_its_own_yard(tmp_path: Path, plans: list[Plan]) -> None:
    """An agency keeping one emergency car 12 km west and one 12 km east of its compound: a call 1 km from the
    east yard is served from there, though the compound (where the cars would be without their own yards) is
    31 min away and the window 10 min."""
    west, east = (CENTRE[0], CENTRE[1] - 0.125), (CENTRE[0], CENTRE[1] + 0.125)
    cars = [{"id": name, "category": "emergency", "lat": lat, "lon": lon} for name, (lat, lon) in
            (("west", west), ("east", east))]
    call = _row("call", _moment(DAY, 14), None, pickup=(east[0] + 1 / KM_PER_DEG_LAT, east[1]))
    city = scenario([{"code": "A", "name": "A", "lat": CENTRE[0], "lon": CENTRE[1], "trips": 0, "vehicles": cars}],
                    fleet=ONE_CAR, demand={"replay": {"csv": _csv(tmp_path, [call])}})
    assert {v.id: v.depot for v in held(city)} == {"west": west, "east": east}

    day = simulate_day(DayTask(city, 1.0, 0, 0))

    assert day.served["emergency"] == 1
    (plan,) = plans
    assert [route.vehicle for route in plan.routes if route.trips] == ["east"]


def test_a_yard_needs_both_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nfleet:\n  agencies:\n    - {code: A, name: A, lat: 30.6, lon: 114.3, trips: 1,\n"
                    "       vehicles: [{id: x, category: general, lat: 30.5}]}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="give both 'lat' and 'lon' of the vehicle's yard") as caught:
        load(path)
    assert caught.value.field == "fleet.agencies.0.vehicles.0"
    assert str(caught.value).startswith(f"{path}:5: field 'fleet.agencies.0.vehicles.0': give both")


@pytest.mark.parametrize(("where", "field"), [
    ("lat: 3.06, lon: 114.3", "fleet.agencies.0.lat"),
    ("lat: 30.6, lon: 11.43", "fleet.agencies.0.lon"),
])
def test_a_place_outside_china_is_refused_naming_its_field(tmp_path: Path, where: str, field: str) -> None:
    """A lost digit puts an agency's yard abroad, and every trip of its cars hundreds of km long: refused, as the
    API refuses such a typed place."""
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nfleet:\n  agencies:\n    - {{code: A, name: A, {where}, trips: 1,\n"
                    "       vehicles: {general: 1}}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="outside China") as caught:
        load(path)
    assert caught.value.field == field
