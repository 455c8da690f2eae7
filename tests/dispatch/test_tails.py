"""`exchange_tails`: two cars swap the ends of their routes (2-opt*) where that drives fewer empty km, across the
whole fleet; every route stays drivable and every trip served stays served."""

from __future__ import annotations

import math
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import improve, tails
from dispatch.network import Network, build
from dispatch.problem import Problem
from dispatch.routes import Routes, construct
from dispatch.solve import solve
from dispatch.stop import WorkBudget
from dispatch.synthetic import city_instance
from tests.dispatch.test_eject import north, window
from tests.dispatch.test_engine import problem, trip, vehicle
from tests.dispatch.test_warm_start import Referee, key


def crossed_day(y_categories: list[str] | None = None) -> tuple[Network, Routes]:
    """Both cars leave the yard at 9:00, A north and B south, and come back at 11:00 from the other's side: A
    drives P then X (20 km south to X's pickup), B drives Q then Y (20 km north). Swapped ends drive none."""
    home, both = north(0), ["general", "law_enforcement"]
    trips = [
        trip("P", 9, pickup=home, dropoff=north(10), categories=both, **window(9)),
        trip("X", 11, pickup=north(-10), dropoff=home, categories=both, **window(11)),
        trip("Q", 9, pickup=home, dropoff=north(-10), categories=both, **window(9)),
        trip("Y", 11, pickup=north(10), dropoff=home, categories=y_categories or both, **window(11)),
    ]
    cars = [vehicle("A"), vehicle("B", category="law_enforcement")]
    net = build(Problem.parse(problem(cars, trips)))
    routes = Routes(net)
    routes.set_route(0, [0, 1])  # A: P, X
    routes.set_route(1, [2, 3])  # B: Q, Y
    assert all(routes.feasible(v) for v in range(2))
    return net, routes


def test_crossed_routes_swap_their_ends() -> None:
    net, routes = crossed_day()
    before = routes.empty_km()
    assert before > 39  # 20 km each way between the morning and the 11:00 trip
    assert tails.exchange_tails(net, routes)
    assert routes.trips == [[0, 3], [2, 1]]  # A: P, Y; B: Q, X
    assert all(routes.feasible(v) for v in range(2))
    assert routes.empty_km() < before - 39


def test_an_end_is_not_handed_to_a_car_whose_kind_may_not_drive_it() -> None:
    net, routes = crossed_day(y_categories=["law_enforcement"])  # Y only in B's law car, A is general
    assert not tails.exchange_tails(net, routes)
    assert routes.trips == [[0, 1], [2, 3]]


def test_an_end_far_from_home_goes_to_the_idle_car_housed_there() -> None:
    """Car A drives P 28 km north at 9:00, then X from 30 km north at 11:00, and back. Car F is idle in a yard 30 km
    north (car N, idle at A's yard, would gain nothing): X goes to F, A drives home after P."""
    trips = [trip("P", 9, pickup=north(0), dropoff=north(28), **window(9)),
             trip("X", 11, pickup=north(30), dropoff=north(30.5), **window(11))]
    depots = [{"id": "H", **north(0)}, {"id": "F", **north(30)}]
    cars = [vehicle("A", depot="H"), vehicle("N", depot="H"), vehicle("F", depot="F")]
    net = build(Problem.parse(problem(cars, trips, depots=depots)))
    routes = Routes(net)
    routes.set_route(0, [0, 1])
    before = routes.empty_km()
    assert tails.exchange_tails(net, routes)
    assert routes.trips == [[0], [], [1]]
    assert routes.empty_km() < before - 3


def drive(net: Network, vehicle: int, trips: list[int]) -> float | None:
    """The oracle: empty km of ``vehicle`` driving ``trips`` by `Routes`' own timetable, None if it cannot."""
    routes = Routes(net)
    routes.set_route(vehicle, trips)
    return sum(routes.legs[vehicle]) if trips and routes.feasible(vehicle) else (0.0 if not trips else None)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), cars=st.integers(3, 14))
def test_each_cut_is_judged_as_the_route_s_own_timetable_judges_it(seed: int, cars: int) -> None:
    """The constant-time check of a car's kept trips followed by another's end agrees with driving that route:
    drivable or not (windows, shift, range, kind) and its empty km, wherever the network has the leg joining them
    (the exchange tries no other)."""
    net = build(Problem.parse(city_instance(cars, cars * 5, seed=seed)))
    routes = construct(net)
    fleet = tails.Fleet.of(net, routes)
    rng = random.Random(seed)
    drivable = 0
    for _ in range(300):
        x, y = rng.sample(range(net.vehicles), 2)
        cut, at = rng.randint(0, len(routes.trips[x])), rng.randint(0, len(routes.trips[y]))
        if cut > 0 and 0 < at < len(routes.trips[y]) - 1:
            # Most often the end fits or its first trip's window refuses it; a later trip's window matters only
            # where the end starts later than it does now: cut there.
            # Among the cuts the exchange tries: joined by one of the network's arcs.
            order = routes.trips[x]
            later = [
                (k, i) for k in range(1, len(order) + 1) for i in range(len(routes.trips[y]) - 1)
                if routes.trips[y][i] in net.succ[order[k - 1]]
                and routes.start[x][k - 1] + net.service[order[k - 1]] + net.leg(order[k - 1], routes.trips[y][i])[1]
                > routes.start[y][i]
            ]
            cut, at = rng.choice(later) if later else (cut, at)
        got = fleet.end_of(x, cut, y, at)
        joined = cut == 0 or at == len(routes.trips[y]) or routes.trips[y][at] in net.succ[routes.trips[x][cut - 1]]
        want = drive(net, x, routes.trips[x][:cut] + routes.trips[y][at:])
        assert (got is None) == (want is None or not joined), (x, cut, y, at)
        if got is not None and want is not None:
            assert abs(got - want) < 1e-6
            drivable += 1
    assert drivable > 0


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_exchange_keeps_every_trip_served_and_every_route_drivable_for_fewer_empty_km(seed: int) -> None:
    net = build(Problem.parse(city_instance(12, 60, seed=seed)))
    routes = construct(net)
    served, before = set((routes.where >= 0).nonzero()[0].tolist()), routes.empty_km()
    changed = tails.exchange_tails(net, routes)
    assert set((routes.where >= 0).nonzero()[0].tolist()) == served
    # The sweeps skip trips whose cars did not change since their last check: none was skipped that could swap, so
    # a fresh exchange over the result, every trip checked, finds nothing left.
    assert not tails.exchange_tails(net, routes)
    assert all(routes.feasible(v) for v in range(net.vehicles))
    assert routes.empty_km() < before - 1e-6 if changed else routes.empty_km() == before


def test_the_search_ends_with_the_exchange_in_the_share_of_the_clock_kept_for_it(
    monkeypatch: pytest.MonkeyPatch, referee: Referee
) -> None:
    """On a day larger than one routing model, the search stops `TAILS_SHARE` of the clock early and the last tail
    exchange gets the rest; with a work budget the search is the same until then, so the plan is never worse."""
    day = Problem.parse(city_instance(40, 200, seed=5))
    calls: list[float] = []
    real = improve.exchange_tails

    def spy(net: Network, routes: Routes, deadline: float = math.inf, arcs: tails.Arcs | None = None) -> bool:
        calls.append(deadline)
        return real(net, routes, deadline, arcs)

    searches: list[tuple[float, float]] = []  # each part's deadline, and when it was handed out
    part = improve.search_part

    def spy_part(net: Network, task: improve.Task) -> tuple[list[list[int]], bool]:
        searches.append((task.deadline, time.perf_counter()))
        return part(net, task)

    monkeypatch.setattr(improve, "exchange_tails", spy)
    monkeypatch.setattr(improve, "search_part", spy_part)
    monkeypatch.setattr(improve, "LNS_SHARE", 0.0)  # the epochs search to the deadline they are given
    net = build(day)
    end = time.perf_counter() + 2.0
    with monkeypatch.context() as moves:
        # Not the moves before the first epoch: on a loaded machine (CI, beside the demo's test) they took the whole
        # second, and no part was handed out.
        moves.setattr(improve, "OFFLOAD", False)
        moves.setattr(improve, "EJECT", False)
        improve.improve(net, construct(net), deadline=end, seed=0, target=(-1, -1, -1), work=100, workers=1)
    assert calls == [end]  # once, at the end, to the clock's end
    assert searches
    for part_deadline, handed in searches:  # the search's own deadline is the share of the clock left earlier
        assert part_deadline <= end - improve.TAILS_SHARE * (end - handed) + 1e-9
    on = solve(day, stop=WorkBudget(0.5), seed=1, workers=1)
    monkeypatch.setattr(improve, "TAILS", False)
    off = solve(day, stop=WorkBudget(0.5), seed=1, workers=1)
    referee(day, on)
    assert key(on) <= key(off)
    assert len(calls) == 2  # and once in the solve with it on, none with it off


def test_between_epochs_no_end_goes_to_an_idle_car() -> None:
    """Idle cars are the reserve for trips left out: the passes between a large fleet's epochs only swap ends
    between busy cars (`improve.TAILS_EPOCH_IDLE`), so the end far from home stays where it is."""
    trips = [trip("P", 9, pickup=north(0), dropoff=north(28), **window(9)),
             trip("X", 11, pickup=north(30), dropoff=north(30.5), **window(11))]
    depots = [{"id": "H", **north(0)}, {"id": "F", **north(30)}]
    net = build(Problem.parse(problem([vehicle("A", depot="H"), vehicle("F", depot="F")], trips, depots=depots)))
    routes = Routes(net)
    routes.set_route(0, [0, 1])
    assert not tails.exchange_tails(net, routes, idle=False)
    assert routes.trips == [[0, 1], []]


def test_a_fleet_too_large_to_price_runs_the_exchange_after_every_epoch_in_its_share(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above `LNS_MAX_VEHICLES`: after each epoch, busy cars only, each pass in `TAILS_EPOCH_SHARE` of the search's
    clock left; then the last pass, idle cars too, to the clock's end."""
    calls: list[tuple[float, float, bool]] = []  # deadline, when called, idle
    real = improve.exchange_tails

    def spy(net: Network, routes: Routes, deadline: float = math.inf, arcs: tails.Arcs | None = None, *,
            idle: bool = True) -> bool:
        calls.append((deadline, time.perf_counter(), idle))
        return real(net, routes, deadline, arcs, idle=idle)

    monkeypatch.setattr(improve, "exchange_tails", spy)
    net = build(Problem.parse(city_instance(improve.LNS_MAX_VEHICLES + 10, 400, seed=3)))
    end = time.perf_counter() + 3.0
    improve.improve(net, construct(net), deadline=end, seed=0, target=(-1, -1, -1), work=100, workers=1)
    *between, last = calls
    assert between
    assert last == (end, last[1], True)
    searched_by = end - improve.TAILS_SHARE * (end - between[0][1])  # the search's deadline, at most
    for deadline, called, idle in between:
        assert not idle
        assert deadline <= called + improve.TAILS_EPOCH_SHARE * (searched_by - called) + 1e-6
