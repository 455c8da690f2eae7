"""Column generation over vehicle duties: its served bounds hold against exhaustive optima, its pricing finds the
best duty, and a duty keeps its clock where the arc LP does not."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import time
from itertools import permutations
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.linear_solver import pywraplp

from dispatch import bounds, duties, parallel, relaxation
from dispatch.network import build
from dispatch.problem import Problem
from dispatch.routes import Routes, better, construct
from dispatch.synthetic import city_instance
from tests.dispatch.conftest import _all_routes, brute_force
from tests.dispatch.test_engine import CENTRE, at, problem, small_problems, trip, vehicle


def _stage(net: Any, tier: int, best: tuple[int, int, int], deadline: float) -> float:
    able = bounds.servable(net)
    mask = able & (net.tier <= tier)
    floors = [(mask & (net.tier == above), best[above]) for above in range(tier)]
    value, rounds = duties.served_bound(net, mask, (net.tier == tier).astype(float), floors, deadline)
    assert rounds >= 1
    return value


class TestValidity:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems())
    def test_no_plan_serves_more_than_the_duties_bound(self, data: dict[str, Any]) -> None:
        """Per priority, lexicographically: the exhaustive optimum never exceeds the bound."""
        given_problem = Problem.parse(data)
        net = build(given_problem)
        missing = brute_force(given_problem)[:3]
        offered = np.bincount(net.tier, minlength=3)
        best = (int(offered[0]) - missing[0], int(offered[1]) - missing[1], int(offered[2]) - missing[2])
        for tier in range(3):
            assert best[tier] <= _stage(net, tier, best, time.perf_counter() + 30) + 1e-6

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems(), st.randoms(use_true_random=False))
    def test_pricing_finds_the_best_duty_of_every_vehicle(self, data: dict[str, Any], rng: Any) -> None:
        """At any values per trip no route a vehicle of the class can drive is worth more than the pricing's
        best; the best duty is worth what it says, and a class of one vehicle without a range can drive it."""
        net = build(Problem.parse(data))
        value = np.array([rng.uniform(-1, 2) for _ in range(net.n)])
        everything = np.ones(net.n, dtype=bool)
        legs = duties._legs(net, everything)
        for cls in duties._classes(net, everything):
            most, found = duties.price(net, cls, value, legs)
            for v in np.flatnonzero(cls.members).tolist():
                for trips in _all_routes(net, v):
                    assert float(np.sum(value[list(trips)])) <= most + 1e-9
            if not found:  # none is worth adding to the master
                assert most <= 1e-6
                continue
            assert float(np.sum(value[found[0]])) == pytest.approx(most)
            if cls.units == 1 and len(set(found[0])) == len(found[0]):
                v = int(np.flatnonzero(cls.members)[0])
                if np.isinf(net.range_km[v]):
                    routes = Routes(net)
                    routes.set_route(v, found[0])
                    assert routes.feasible(v)


class TestTheClock:
    def test_a_chain_late_by_its_middle_trip_is_not_a_duty(self) -> None:
        """A, B and C each follow the one before from its earliest pickup, but B taken after A ends past C's
        window. The arc LP covers all three with one vehicle; no plan and no duty does."""
        here = {"lat": CENTRE[0] + 0.01, "lon": CENTRE[1]}
        near = {"lat": CENTRE[0] + 0.0101, "lon": CENTRE[1]}
        law = {"priority": "law_enforcement", "pickup": here, "dropoff": near, "dwell_min": 30}
        data = problem(
            [vehicle("V1")],
            [trip("A", 9, **law, latest_pickup=at(9)),
             trip("B", 9 + 10 / 60, **law, latest_pickup=at(9 + 40 / 60)),
             trip("C", 9 + 45 / 60, **law, latest_pickup=at(9 + 50 / 60))],
        )
        given_problem = Problem.parse(data)
        net = build(given_problem)
        missing = brute_force(given_problem)
        assert missing[1] == 1  # two of the three at most
        arc_lp, _ = relaxation.served_bounds(net, bounds.servable(net), (0, 2, 0), time.perf_counter() + 30)
        assert arc_lp[1] == 3
        assert _stage(net, 1, (0, 2, 0), time.perf_counter() + 30) == pytest.approx(2)


class TestTheCompiledSearch:
    @pytest.mark.parametrize("seed", [3, 8])
    def test_growing_its_room_changes_no_duty(self, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
        """On a city day, where a pricing makes thousands of labels, the search begun with room for one label
        (growing at every step) finds the very duties of the one begun with room for all: for classes and for
        vehicles (a range and a price per km kept), at prices of both signs."""
        net = build(Problem.parse(city_instance(30, 120, seed=seed)))
        everything = np.ones(net.n, dtype=bool)
        legs = duties._legs(net, everything)
        value = np.random.default_rng(seed).uniform(-0.5, 2.0, net.n)

        def priced() -> list[Any]:
            classes = [duties.price(net, cls, value, legs, keep=30) for cls in duties._classes(net, everything)]
            return classes + [duties.price_vehicle(net, v, value, legs, keep=30) for v in range(0, net.vehicles, 3)]

        roomy = priced()
        assert sum(len(duty) for _, found in roomy[:1] for duty in found) > 10  # long duties: many labels made
        monkeypatch.setattr(duties, "LABELS_AT_FIRST", 1)
        assert priced() == roomy


    def test_only_a_process_that_prices_loads_the_compiler(self) -> None:
        """Numba and LLVM add about 130 MB to a process: the API server, which imports the engine to place urgent
        trips, goes without them; a solve loads them."""
        probe = ("import sys, api.app, dispatch, dispatch.synthetic as s; before = 'numba' in sys.modules; "
                 "dispatch.solve(dispatch.Problem.parse(s.city_instance(2, 4, seed=1)), time_limit=0.1); "
                 "print(before, 'numba' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
        assert out.stdout.split() == ["False", "True"]

    @pytest.mark.parametrize(("bound_seconds", "loaded"), [(None, "False"), (0.2, "True")])
    def test_a_fleet_too_large_to_price_loads_it_only_for_its_bound(self, bound_seconds: float | None,
                                                                     loaded: str) -> None:
        """Above `LNS_MAX_VEHICLES` the search never prices; only the duties' bound stages, in time set aside. Its
        tail exchange (`dispatch.tail_swaps`) is compiled too, and loaded before the clock either way."""
        probe = ("import sys, dispatch, dispatch.synthetic as s; from dispatch.improve import LNS_MAX_VEHICLES as m; "
                 "day = dispatch.Problem.parse(s.city_instance(m + 1, 2 * m, seed=1)); "
                 f"dispatch.solve(day, time_limit=1.0, workers=1, bound_seconds={bound_seconds}); "
                 "print('dispatch.labels' in sys.modules, 'dispatch.tail_swaps' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
        assert out.stdout.split() == [loaded, "True"]


class TestPriceAndBranch:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems(), st.randoms(use_true_random=False), st.sampled_from([duties._LP_KM, 0.05, 1.0]))
    def test_a_vehicles_pricing_is_its_best_route(self, data: dict[str, Any], rng: Any, km_price: float) -> None:
        """Against every route the vehicle can drive (its depot, shift and range), whatever its trips' values: the
        best duty priced is worth exactly the best of them, values less ``km_price`` a km of empty legs. With km
        priced as in the km stage of price-and-branch, a trip of no value (or less) may be worth driving for the
        empty km it saves on the way to the next, and the best route may hold it."""
        net = build(Problem.parse(data))
        value = np.array([rng.choice([-1.0, -0.01, 0.0, rng.uniform(0.01, 2)]) for _ in range(net.n)])
        legs = duties._legs(net, np.ones(net.n, dtype=bool))
        for v in range(net.vehicles):
            found = duties.price_vehicle(net, v, value, legs, keep=5, km_price=km_price)
            best = max((float(value[list(trips)].sum()) - km_price * km
                        for trips, km in _all_routes(net, v).items() if trips), default=None)
            if best is None or best <= 1e-6:  # no duty worth adding to the master
                assert found == []
                continue
            assert found[0][0] == pytest.approx(best, abs=1e-9)
            for gain, duty in found:
                assert gain == pytest.approx(float(value[duty].sum()) - km_price * duties.duty_km(net, v, duty))
                routes = Routes(net)
                routes.set_route(v, duty)
                assert routes.feasible(v)

    def test_a_trip_of_no_value_is_driven_for_the_empty_km_it_saves(self) -> None:
        """P leaves the depot for a spot 11 km out, where Q waits later: at a km's price of 1, Q alone is not worth
        its empty drive out and back, P then Q is (P carries the car out), though P itself is worth nothing."""
        depot = {"lat": CENTRE[0], "lon": CENTRE[1]}
        out = {"lat": CENTRE[0] + 0.1, "lon": CENTRE[1]}
        data = problem([vehicle("V1")], [trip("P", 9, pickup=depot, dropoff=out),
                                         trip("Q", 11, pickup=out, dropoff=out)])
        net = build(Problem.parse(data))
        alone, via = duties.duty_km(net, 0, [1]), duties.duty_km(net, 0, [0, 1])
        assert via < alone - 10  # P's 11 km are loaded, not empty
        value = np.array([0.0, (alone + via) / 2])  # Q is worth more than P then Q's empty km, less than its own
        legs = duties._legs(net, np.ones(net.n, dtype=bool))
        found = duties.price_vehicle(net, 0, value, legs, keep=5, km_price=1.0)
        assert [duty for _, duty in found] == [[0, 1]]
        assert found[0][0] == pytest.approx(value[1] - via)

    def test_a_trip_met_early_does_not_hide_the_duty_that_meets_it_late(self) -> None:
        """K's window holds two of its services. E and K both end when J begins, so E then J and K then J reach J
        at the same instant, and K then J is worth more. Only E, J, K serves all three: K then J must not dominate
        E then J (its way on to K is a repeat), as CI's property test once found it did."""
        spot = {"lat": CENTRE[0] + 0.01, "lon": CENTRE[1]}
        half_hour = {"pickup": spot, "dropoff": spot, "dwell_min": 30}
        data = problem([vehicle("V1")], [trip("E", 9, **half_hour, latest_pickup=at(9)),
                                         trip("J", 9.5, **half_hour, latest_pickup=at(9.5)),
                                         trip("K", 9, **half_hour, latest_pickup=at(11))])
        net = build(Problem.parse(data))
        value = np.array([1.0, 1.0, 1.5])
        everything = np.ones(net.n, dtype=bool)
        legs = duties._legs(net, everything)
        found = duties.price_vehicle(net, 0, value, legs, keep=5)
        assert found[0][1] == [0, 1, 2]
        assert found[0][0] == pytest.approx(3.5 - duties._LP_KM * duties.duty_km(net, 0, [0, 1, 2]))
        [cls] = duties._classes(net, everything)
        most, best = duties.price(net, cls, value, legs)
        assert (most, best[0]) == (pytest.approx(3.5), [0, 1, 2])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 9), st.sampled_from([0, 10, 30])), min_size=2,
                    max_size=6), st.randoms(use_true_random=False))
    def test_at_one_spot_with_wide_windows_the_best_duty_is_found(self, windows: list[tuple[int, int, int]],
                                                                  rng: Any) -> None:
        """Trips at one spot whose windows may hold their service twice over, so that a chain could come back to
        one: the pricing's best is the best route without a repeat, by enumeration."""
        spot = {"lat": CENTRE[0] + 0.01, "lon": CENTRE[1]}
        data = problem([vehicle("V1")], [
            trip(f"T{k}", 9 + start / 6, pickup=spot, dropoff=spot, dwell_min=dwell,
                 latest_pickup=at(9 + (start + width) / 6))
            for k, (start, width, dwell) in enumerate(windows)])
        net = build(Problem.parse(data))
        value = np.array([rng.choice([-1.0, rng.uniform(0.01, 2)]) for _ in range(net.n)])
        legs = duties._legs(net, np.ones(net.n, dtype=bool))
        found = duties.price_vehicle(net, 0, value, legs, keep=3)
        best = max((float(value[list(trips)].sum()) - duties._LP_KM * km
                    for trips, km in _all_routes(net, 0).items() if trips and (value[list(trips)] > 0).all()),
                   default=0.0)
        assert (found[0][0] if found else 0.0) == pytest.approx(best, abs=1e-9)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems())
    def test_it_returns_only_better_plans(self, data: dict[str, Any]) -> None:
        """Whatever it returns beats the routes it was given, every route feasible. (It is a heuristic: the duties
        column generation finds need not hold an optimum, and hypothesis found a day where they missed one.)"""
        net = build(Problem.parse(data))
        start = construct(net)
        found = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0)
        if found is not None:
            assert better(found.objective(), start.objective())
            assert all(found.feasible(v) for v in range(net.vehicles))
            assert sorted(np.flatnonzero(found.where >= 0)) == sorted(t for r in found.trips for t in r)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems(), st.data())
    def test_a_neighbourhood_changes_only_its_vehicles_and_trips(self, data: dict[str, Any], draw: Any) -> None:
        """Over some vehicles and the trips on them or unserved: the other vehicles keep their routes, no trip of
        theirs moves, and what comes back is better and feasible."""
        net = build(Problem.parse(data))
        start = construct(net)
        vehicles = draw.draw(st.lists(st.sampled_from(range(net.vehicles)), min_size=1, unique=True))
        inside = start.where < 0
        for v in vehicles:
            inside[start.trips[v]] = True
        found = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30,
                                 vehicles=vehicles, trips=inside)
        if found is None:
            return
        assert better(found.objective(), start.objective())
        assert all(found.feasible(v) for v in range(net.vehicles))
        for v in set(range(net.vehicles)) - set(vehicles):
            assert found.trips[v] == start.trips[v]
        assert not (found.where[~inside] != start.where[~inside]).any()

    def test_a_city_neighbourhood_betters_the_cheapest_insertions(self) -> None:
        net = build(Problem.parse(city_instance(40, 200, seed=3)))
        start = construct(net)
        vehicles = list(range(0, net.vehicles, 3))
        inside = start.where < 0
        for v in vehicles:
            inside[start.trips[v]] = True
        found = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30,
                                 vehicles=vehicles, trips=inside)
        assert found is not None
        assert better(found.objective(), start.objective())
        others = range(1, net.vehicles, 3)
        assert [found.trips[v] for v in others] == [start.trips[v] for v in others]

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems())
    def test_dives_never_make_the_plan_worse(self, data: dict[str, Any]) -> None:
        """Dives only add duties and the last pick is hinted with the best plan so far: never worse than the pick
        without them, every route feasible."""
        net = build(Problem.parse(data))
        start = construct(net)
        plain = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30) or start
        dived = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30, dives=3) or start
        assert not better(plain.objective(), dived.objective())
        assert all(dived.feasible(v) for v in range(net.vehicles))

    def test_dives_find_the_duties_the_pick_lacked(self) -> None:
        """On this day the km stage's pick stays above its LP: fixing the LP's surest duties and pricing again
        finds a plan of the same counts with fewer empty km (689.2 km against 689.4)."""
        net = build(Problem.parse(city_instance(20, 80, seed=11)))
        start = construct(net)
        plain = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30)
        dived = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30, dives=3)
        assert plain is not None
        assert dived is not None
        assert dived.objective()[:3] == plain.objective()[:3]
        assert dived.objective()[3] < plain.objective()[3] - 0.1
        assert all(dived.feasible(v) for v in range(net.vehicles))

    def test_a_dive_step_fixes_the_whole_duties_and_the_surest_fractional_one(self) -> None:
        master = pywraplp.Solver.CreateSolver("GLOP")
        variables = [master.NumVar(0.0, 1.0, "") for _ in range(5)]
        columns: list[tuple[int, list[int], float]] = [(0, [0, 1], 1.0), (1, [2], 1.0), (2, [3], 1.0),
                                                      (2, [4], 1.0), (3, [5], 1.0)]
        priced, blocked = [0, 1, 2, 3], np.zeros(6, dtype=bool)
        step = duties._fix(np.array([1.0, 0.4, 0.6, 0.4, 0.6]), variables, columns, priced, blocked)
        assert step == [0, 2]  # the whole duty, then the first of the two at 0.6
        assert [v.lb() for v in variables] == [1.0, 0.0, 1.0, 0.0, 0.0]
        assert priced == [1, 3]
        assert blocked.tolist() == [True, True, False, True, False, False]
        assert duties._fix(np.array([1.0, 1.0, 0.0, 0.0, 1.0]), variables, columns, [1, 3], blocked) == []
        # A fractional duty meeting a fixed duty's trip or vehicle is passed over for the next.
        priced, blocked = [0, 1, 2, 3], np.zeros(6, dtype=bool)
        meets: list[tuple[int, list[int], float]] = [(0, [0, 1], 1.0), (1, [1, 2], 1.0), (0, [3], 1.0),
                                                    (3, [5], 1.0), (2, [4], 1.0)]
        fresh = [master.NumVar(0.0, 1.0, "") for _ in range(5)]
        assert duties._fix(np.array([1.0, 0.7, 0.6, 0.5, 0.3]), fresh, meets, priced, blocked) == [0, 3]
        assert priced == [1, 2]
        # Drawn: a fractional duty, in proportion to its value, the same for the same seed.
        values = np.array([0.0, 0.5, 0.25, 0.25, 0.0])
        drawn = []
        for seed in range(40):
            variables = [master.NumVar(0.0, 1.0, "") for _ in range(5)]
            step = duties._fix(values, variables, columns, [0, 1, 2, 3], np.zeros(6, dtype=bool), random.Random(seed))
            again = duties._fix(values, [master.NumVar(0.0, 1.0, "") for _ in range(5)], columns, [0, 1, 2, 3],
                                np.zeros(6, dtype=bool), random.Random(seed))
            assert step == again
            drawn.extend(step)
        assert set(drawn) == {1, 2, 3}

    @pytest.mark.parametrize("share", ["whole", "neighbourhood"])
    def test_pricing_in_worker_processes_finds_the_same_plan(self, share: str) -> None:
        """Two processes pricing a share of the vehicles each: the same duties, so the same plan, as one."""
        net = build(Problem.parse(city_instance(20, 80, seed=5)))
        start = construct(net)
        vehicles = list(range(net.vehicles)) if share == "whole" else list(range(0, net.vehicles, 2))
        inside = start.where < 0
        for v in vehicles:
            inside[start.trips[v]] = True
        alone = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30,
                                 vehicles=vehicles, trips=inside)
        with parallel.runner(net, 2) as run:
            shared = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, km_rounds=30,
                                      vehicles=vehicles, trips=inside, run=run)
        assert alone is not None
        assert shared is not None
        assert shared.trips == alone.trips

    def test_pricing_shares_run_here_read_each_day_s_own_legs(self) -> None:
        """A runner without worker processes prices its shares in this process; a second day of as many trips,
        priced here after the first, gets the plan it gets alone."""
        plans = []
        for seed in (5, 6):
            net = build(Problem.parse(city_instance(10, 40, seed=seed)))
            start = construct(net)
            with parallel.runner(net, 1) as run:
                shared = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0, run=run)
            alone = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0)
            assert shared is not None
            assert alone is not None
            plans.append((shared.trips, alone.trips))
        assert all(shared == alone for shared, alone in plans)

    def test_it_betters_the_cheapest_insertions_on_a_city_day(self) -> None:
        net = build(Problem.parse(city_instance(20, 80, seed=7)))
        start = construct(net)
        found = duties.recombine(net, start, rounds=60, deadline=math.inf, seed=0)
        assert found is not None
        assert better(found.objective(), start.objective())
        assert all(found.feasible(v) for v in range(net.vehicles))

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems())
    def test_the_pick_among_every_duty_is_the_exhaustive_optimum(self, data: dict[str, Any]) -> None:
        """Given every duty of every vehicle as columns, the pick is the plan the exhaustive search finds: the most
        trips by priority, then the fewest empty km."""
        given_problem = Problem.parse(data)
        net = build(given_problem)
        columns = [(v, duty, duties.duty_km(net, v, duty)) for v in range(net.vehicles) for duty in _every_duty(net, v)]
        empty = Routes(net)
        found = duties._pack(net, empty, list(range(net.vehicles)), columns, deadline=math.inf, seed=0)
        got = (found if found is not None else empty).objective()
        best = brute_force(given_problem)
        assert got[:3] == best[:3]
        assert got[3] == pytest.approx(best[3], abs=1e-6)

    def test_the_pick_serves_an_emergency_before_two_routine_trips(self) -> None:
        """One car: a long emergency overlaps each of two routine trips that fit together. More trips is not better."""
        given_problem = Problem.parse(problem([vehicle("V1")], [
            trip("R1", 9.5, dwell_min=60), trip("E", 10, priority="emergency", dwell_min=240), trip("R2", 12)]))
        net = build(given_problem)
        columns = [(0, duty, duties.duty_km(net, 0, duty)) for duty in _every_duty(net, 0)]
        assert sorted(len(duty) for _, duty, _ in columns) == [1, 1, 1, 2]  # E alone, or R1 then R2
        found = duties._pack(net, Routes(net), [0], columns, deadline=math.inf, seed=0)
        assert found is not None
        assert [given_problem.trips[t].id for t in found.trips[0]] == ["E"]

    def test_a_vehicles_pricing_keeps_its_range(self) -> None:
        """Two trips in time for one car whose range covers either alone, not both: each duty has one trip."""
        trips = [trip("A", 9), trip("B", 11)]
        free = build(Problem.parse(problem([vehicle("V1")], trips)))
        one = max(float(free.out_km[0, t] + free.loaded_km[t] + free.in_km[t, 0]) for t in range(2))
        both = Routes(free)
        both.set_route(0, [0, 1])
        assert both.feasible(0)  # the pair fits in time ...
        assert both.km[0] > one + 1  # ... and needs more than one trip's km
        net = build(Problem.parse(problem([vehicle("V1", range_km=one + 0.5)], trips)))
        found = duties.price_vehicle(net, 0, np.ones(net.n), duties._legs(net, np.ones(net.n, dtype=bool)), keep=5)
        assert found
        assert all(len(duty) == 1 for _, duty in found)


def _every_duty(net: Any, vehicle: int) -> list[list[int]]:
    """Each set of trips the vehicle can drive, in its order of fewest empty km."""
    best: dict[frozenset[int], tuple[float, list[int]]] = {}
    routes = Routes(net)
    eligible = np.flatnonzero(net.eligible[:, vehicle]).tolist()
    for size in range(1, len(eligible) + 1):
        for order in permutations(eligible, size):
            routes.set_route(vehicle, list(order))
            if routes.feasible(vehicle):
                km = duties.duty_km(net, vehicle, list(order))
                key = frozenset(order)
                if key not in best or km < best[key][0]:
                    best[key] = (km, list(order))
    return [duty for _, duty in best.values()]
