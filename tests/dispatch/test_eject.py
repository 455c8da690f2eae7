"""`eject`: a left-out trip takes a served trip's place and that trip moves to another car, across the fleet; and
what both moves across the fleet (`eject`, `offload`) keep: a plan never worse, every route drivable."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import improve
from dispatch.improve import eject, offload
from dispatch.network import Network, build
from dispatch.problem import Problem
from dispatch.routes import Routes, better, construct, linked
from dispatch.synthetic import CENTRE, city_instance
from tests.dispatch.test_engine import at, problem, trip, vehicle

LAT, LON = CENTRE
DEG_KM = 111.2  # km per degree of latitude


def north(km: float) -> dict[str, float]:
    return {"lat": LAT + km / DEG_KM, "lon": LON}


def window(hour: float, minutes: float = 5) -> dict[str, Any]:
    return {"earliest_pickup": at(hour), "latest_pickup": at(hour + minutes / 60)}


def crossed_day(displaced: str = "routine") -> tuple[Network, Routes]:
    """Two law cars. Car A drives P (to Z, 6 km north) then X (at W, 5 km further) at 10:00; car B drives Q, which
    ends 1 km past W at 10:00. The law trip U waits at Z at 10:00: only car A is near, and only if X goes to B."""
    home, both = north(0), ["law_enforcement", "general"]
    trips = [
        trip("P", 9, pickup=home, dropoff=north(6), categories=both, **window(9, 1)),
        trip("X", 10, pickup=north(11), dropoff=home, priority=displaced, categories=both, **window(10)),
        trip("Q", 9.75, pickup=north(17), dropoff=north(12), categories=both, **window(9.75, 1)),
        trip("U", 10, pickup=north(6), dropoff=home, priority="law_enforcement", categories=["law_enforcement"],
             **window(10)),
    ]
    cars = [vehicle("A", category="law_enforcement"), vehicle("B", category="law_enforcement")]
    net = build(Problem.parse(problem(cars, trips)))
    routes = Routes(net)
    routes.set_route(0, [0, 1])  # A: P, X
    routes.set_route(1, [2])  # B: Q
    assert all(routes.feasible(v) for v in range(2))
    fits = [(v, i) for v in range(2) for i in range(len(routes.trips[v]) + 1) if routes.check(3, v, i) is not None]
    assert fits == []  # U fits nowhere as things stand
    return net, routes


def test_the_left_out_law_trip_takes_the_routine_trips_place_which_moves_to_the_other_car() -> None:
    net, routes = crossed_day()
    assert routes.objective()[:3] == (0, 1, 0)
    assert eject(net, routes)
    assert routes.trips == [[0, 3], [2, 1]]  # A: P, U; B: Q, X
    assert routes.objective()[:3] == (0, 0, 0)
    assert all(routes.feasible(v) for v in range(2))


def test_a_more_important_trip_is_never_displaced() -> None:
    net, routes = crossed_day(displaced="emergency")
    assert not eject(net, routes)
    assert routes.trips == [[0, 1], [2]]


def chained_day() -> tuple[Network, Routes]:
    """The crossed day with car B busy at 10:00 with the routine trip Y (12 km north): X fits on B only in Y's
    place, and Y fits nowhere else."""
    home, both = north(0), ["law_enforcement", "general"]
    law = {"priority": "law_enforcement", "categories": both}
    trips = [
        trip("P", 9, pickup=home, dropoff=north(6), categories=both, **window(9, 1)),
        trip("X", 10, pickup=north(11), dropoff=home, **law, **window(10)),
        trip("Q", 9.75, pickup=north(17), dropoff=north(12), categories=both, **window(9.75, 1)),
        trip("U", 10, pickup=north(6), dropoff=home, priority="law_enforcement", categories=["law_enforcement"],
             **window(10)),
        trip("Y", 10, pickup=north(12), dropoff=north(13), categories=both, **window(10)),
    ]
    cars = [vehicle("A", category="law_enforcement"), vehicle("B", category="law_enforcement")]
    net = build(Problem.parse(problem(cars, trips)))
    routes = Routes(net)
    routes.set_route(0, [0, 1])  # A: P, X
    routes.set_route(1, [2, 4])  # B: Q, Y
    assert all(routes.feasible(v) for v in range(2))
    assert routes.objective()[:3] == (0, 1, 0)  # U left out
    return net, routes


def test_a_chain_serves_the_law_trip_when_the_trip_it_puts_out_can_only_put_out_a_routine_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net, routes = chained_day()
    monkeypatch.setattr(improve, "CHAIN", False)
    eject(net, routes)  # one link: U in, X out, as many law trips served at best
    assert routes.objective()[1] == 1
    net, routes = chained_day()
    monkeypatch.setattr(improve, "CHAIN", True)
    assert eject(net, routes)
    assert routes.trips == [[0, 3], [2, 1]]  # A: P, U; B: Q, X; Y (routine) left out
    assert routes.objective()[:3] == (0, 0, 1)
    assert all(routes.feasible(v) for v in range(2))


def overlapped_day(displaced: str = "routine") -> tuple[Network, Routes]:
    """Car A (law) drives the routine trip X at 10:00; car B (general) drives Q at 8:00. The law trip U is at 10:00
    too, a kilometre from X: it shares no arc with any trip on A (it overlaps X), so only A, with X moved to B,
    serves it."""
    home = north(0)
    trips = [
        trip("X", 10, pickup=north(3), dropoff=north(4), priority=displaced,
             categories=["law_enforcement", "general"], **window(10)),
        trip("Q", 8, pickup=north(2), dropoff=north(1), **window(8)),
        trip("U", 10, pickup=north(2), dropoff=home, priority="law_enforcement", categories=["law_enforcement"],
             **window(10)),
    ]
    cars = [vehicle("A", category="law_enforcement"), vehicle("B")]
    net = build(Problem.parse(problem(cars, trips)))
    routes = Routes(net)
    routes.set_route(0, [0])  # A: X
    routes.set_route(1, [1])  # B: Q
    assert all(routes.feasible(v) for v in range(2))
    assert not any(routes.where[t] == 0 for t, _ in linked(net, 2))  # U has no arc to a trip on A
    assert routes.objective()[:3] == (0, 1, 0)  # U left out
    return net, routes


def test_a_wide_ejection_puts_the_left_out_trip_in_place_of_a_trip_it_overlaps_with_no_arc_between_them() -> None:
    net, routes = overlapped_day()
    assert not eject(net, routes)  # next to a linked trip only: no place for U
    assert eject(net, routes, wide=True)
    assert routes.trips == [[2], [1, 0]]  # A: U; B: Q, X
    assert routes.objective()[:3] == (0, 0, 0)
    assert all(routes.feasible(v) for v in range(2))


def test_a_wide_ejection_never_displaces_a_more_important_trip() -> None:
    net, routes = overlapped_day(displaced="emergency")
    assert not eject(net, routes, wide=True)
    assert routes.trips == [[0], [1]]


def test_a_wide_ejection_tries_the_nearest_overlapping_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    """The overlapped day with a third car, C (law), driving Y at 10:00 a hundred metres from U and then the
    emergency Z at 10:20: Y is nearer than X, but U in Y's place leaves C late for Z."""
    home = north(0)
    trips = [
        trip("X", 10, pickup=north(3), dropoff=north(4), categories=["law_enforcement", "general"], **window(10)),
        trip("Q", 8, pickup=north(2), dropoff=north(1), **window(8)),
        trip("U", 10, pickup=north(2), dropoff=home, priority="law_enforcement", categories=["law_enforcement"],
             **window(10)),
        trip("Y", 10, pickup=north(2.1), dropoff=north(8), categories=["law_enforcement"], **window(10)),
        trip("Z", 10 + 1 / 3, pickup=north(9), dropoff=north(9.5), priority="emergency",
             categories=["law_enforcement"], **window(10 + 1 / 3, 3)),
    ]
    cars = [vehicle("A", category="law_enforcement"), vehicle("B"), vehicle("C", category="law_enforcement")]
    net = build(Problem.parse(problem(cars, trips)))

    def day() -> Routes:
        routes = Routes(net)
        routes.set_route(0, [0])  # A: X
        routes.set_route(1, [1])  # B: Q
        routes.set_route(2, [3, 4])  # C: Y, Z
        assert all(routes.feasible(v) for v in range(3))
        assert routes.objective()[:3] == (0, 1, 0)  # U left out
        return routes

    routes = day()
    assert not eject(net, routes)  # no place next to a linked trip
    monkeypatch.setattr(improve, "WIDE_SPOTS", 1)
    assert not eject(net, routes, wide=True)  # Y only: U in its place makes C late for Z
    monkeypatch.setattr(improve, "WIDE_SPOTS", 2)
    assert eject(net, routes, wide=True)  # Y, then X
    assert routes.trips == [[2], [1, 0], [3, 4]]
    assert routes.objective()[:3] == (0, 0, 0)


@pytest.mark.parametrize(("most", "wide"), [(0, True), (150, False)], ids=["large fleet", "duty neighbourhoods"])
def test_the_search_ejects_wide_between_epochs_only_where_no_duty_neighbourhoods_run(
    monkeypatch: pytest.MonkeyPatch, most: int, wide: bool
) -> None:
    net = build(Problem.parse(city_instance(30, 120, seed=3)))
    calls: list[bool] = []
    real = improve.eject

    def spy(net: Network, routes: Routes, deadline: float = math.inf, *, wide: bool = False) -> bool:
        calls.append(wide)
        return real(net, routes, deadline, wide=wide)

    monkeypatch.setattr(improve, "eject", spy)
    monkeypatch.setattr(improve, "WHOLE", False)  # the epochs, not one routing model, at this size
    monkeypatch.setattr(improve, "LNS_MAX_VEHICLES", most)
    improve.improve(net, construct(net), deadline=math.inf, seed=0, target=(-1, -1, -1), work=0.5, workers=1)
    assert calls[0] is False  # before the epochs: narrow
    assert len(calls) > 1
    assert all(call is wide for call in calls[1:])


@pytest.mark.parametrize(
    "move", [offload, eject, partial(eject, wide=True)], ids=["offload", "eject", "wide eject"]
)
@settings(max_examples=6, deadline=None)
@given(
    vehicles=st.integers(min_value=6, max_value=30),
    trips=st.integers(min_value=30, max_value=160),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_a_move_across_the_fleet_never_makes_a_plan_worse_and_keeps_every_route_drivable(
    move: Callable[[Network, Routes], bool], vehicles: int, trips: int, seed: int
) -> None:
    net = build(Problem.parse(city_instance(vehicles, trips, seed=seed)))
    routes = construct(net)
    before = routes.objective()
    changed = move(net, routes)
    after = routes.objective()
    assert all(routes.feasible(v) for v in range(net.vehicles))
    on = [t for route in routes.trips for t in route]
    assert len(on) == len(set(on))  # no trip twice
    assert all(routes.where[t] == v and routes.position[t] == i
               for v, route in enumerate(routes.trips) for i, t in enumerate(route))
    assert sorted(on) == (routes.where >= 0).nonzero()[0].tolist()
    assert better(after, before) if changed else after == before
