"""The bounds: valid against exhaustive optima on small days, tighter than the cheap bounds, held to a deadline."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time
from itertools import product
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from dispatch import bounds, improve, relaxation
from dispatch.network import Network, build
from dispatch.problem import PRIORITIES, Problem
from dispatch.routes import Routes
from dispatch.solve import solve
from dispatch.stop import MaxRuntime, WorkBudget
from dispatch.synthetic import city_instance
from tests.dispatch.conftest import _all_routes, brute_force
from tests.dispatch.test_engine import CENTRE, at, problem, small_problems, trip, vehicle


def _least_km(net: Network, trips: frozenset[int]) -> float:
    """Least empty km of any plan serving exactly ``trips``, by enumerating every vehicle's routes."""
    routes = [{s: km for s, km in _all_routes(net, v).items() if s <= trips} for v in range(net.vehicles)]
    best = np.inf
    for choice in product(*(list(r.items()) for r in routes)):
        sets = [s for s, _ in choice]
        if sum(len(s) for s in sets) == len(trips) and frozenset().union(*sets) == trips:
            best = min(best, sum(km for _, km in choice))
    return float(best)


def _routes(net: Network, data: dict[str, Any]) -> Routes:
    plan = solve(Problem.parse(data), time_limit=0.5, seed=0)
    state: Routes = plan._state
    return state


class TestValidity:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems())
    def test_served_bound_is_at_least_the_exhaustive_optimum(self, data: dict[str, Any]) -> None:
        """Per priority, lexicographically, no plan serves more than the LP says; never above the cheap bound."""
        given_problem = Problem.parse(data)
        net = build(given_problem)
        missing = brute_force(given_problem)[:3]
        offered = np.bincount(net.tier, minlength=3)
        best = (int(offered[0]) - missing[0], int(offered[1]) - missing[1], int(offered[2]) - missing[2])
        able = bounds.servable(net)
        found, _ = relaxation.served_bounds(net, able, best, time.perf_counter() + 30)
        old = bounds.served_upper(net, able)
        assert len(found) == 3
        for k, priority in enumerate(PRIORITIES):
            assert best[k] <= found[k] <= old[priority] or best[k] <= old[priority] <= found[k]

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems())
    def test_empty_km_bound_is_at_most_the_exhaustive_least(self, data: dict[str, Any]) -> None:
        """For the trips a plan serves, the LP's empty km is at most that of every plan serving exactly them."""
        given_problem = Problem.parse(data)
        net = build(given_problem)
        routes = _routes(net, data)
        served = routes.where >= 0
        least = _least_km(net, frozenset(np.flatnonzero(served).tolist()))
        model = relaxation.build(net, time.perf_counter() + 30)
        lp = model.deadhead(served, time.perf_counter() + 30)
        assert lp <= least + 1e-6
        lagrangian, rounds = relaxation.lagrangian_deadhead(model, served, time.perf_counter() + 30,
                                                            upper_km=routes.empty_km(), iterations=30)
        assert rounds >= 1 or not served.any()
        assert lagrangian <= least + 1e-6
        assert lagrangian <= lp + 1e-3  # the LP's optimum bounds every Lagrangian value (up to rounding)
        computed = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30)
        assert computed.deadhead_lower_km <= least + 1e-3
        for priority in PRIORITIES:
            assert computed.served_upper[priority] >= int(np.sum(net.tier[served] == PRIORITIES.index(priority)))

    def test_a_pickup_a_rounding_away_from_its_depot_leaves_the_lp_solvable(self) -> None:
        """A leg of 1.8e-12 km (the pickup's longitude 114.30550000000001, the depot's 114.3055) once made GLOP's
        scaling call this feasible LP infeasible (found by the test above in CI)."""
        law = {"categories": ["law_enforcement"], "priority": "emergency"}
        data = problem(
            [vehicle("V0", category="law_enforcement", range_km=60.0, shift_end=at(13))],
            [
                trip("T0", 9, **law, latest_pickup=at(9), pickup={"lat": CENTRE[0], "lon": CENTRE[1] + 1e-14},
                     dropoff={"lat": 30.6162375, "lon": CENTRE[1]}),
                trip("T2", 10, **law, latest_pickup=at(10), pickup={"lat": CENTRE[0], "lon": 114.368},
                     dropoff={"lat": CENTRE[0], "lon": CENTRE[1]}),
                trip("T3", 8, **law, pickup={"lat": CENTRE[0], "lon": CENTRE[1]},
                     dropoff={"lat": 30.62405, "lon": CENTRE[1]}),
            ],
        )
        net = build(Problem.parse(data))
        assert 0 < net.out_km[0, 0] < 1e-9  # the rounding is still there for the LP to meet
        served = np.ones(net.n, dtype=bool)
        lp = relaxation.build(net, time.perf_counter() + 30).deadhead(served, time.perf_counter() + 30)
        assert lp == pytest.approx(_least_km(net, frozenset(range(net.n))), rel=1e-4)


class TestTightness:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(small_problems())
    def test_the_lagrangian_starts_at_the_assignment_bound(self, data: dict[str, Any]) -> None:
        """The assignment relaxation's dual prices add up to its bound, and from them the Lagrangian's first round
        of min-cost flows is already at least that bound (every successor explicit, so no vehicle's chain of trips
        costs less than its trips' prices)."""
        net = build(Problem.parse(data))
        routes = _routes(net, data)
        served = routes.where >= 0
        km, prices = bounds.assignment(net, np.flatnonzero(served))
        assert prices is not None
        assert prices.sum() / 1000 == pytest.approx(km, abs=1e-6)
        model = relaxation.build(net, time.perf_counter() + 30)
        first, _ = relaxation.lagrangian_deadhead(model, served, time.perf_counter() + 30,
                                                  upper_km=routes.empty_km(), iterations=1, start=prices)
        assert km - 1e-6 <= first <= routes.empty_km() + 1e-6

    def test_the_dual_start_gets_further_on_a_city_day(self) -> None:
        """A few rounds from the dual prices end higher than as many from each trip's cheapest way in and out, and
        higher than the assignment relaxation they start from."""
        plan = solve(Problem.parse(city_instance(100, 500, seed=4)), stop=WorkBudget(1), bound_seconds=0)
        routes: Routes = plan._state
        served = routes.where >= 0
        km, prices = bounds.assignment(routes.net, np.flatnonzero(served))
        assert prices is not None
        model = relaxation.build(routes.net, time.perf_counter() + 60, trips=served)
        found = {}
        for name, start in (("dual", prices), ("cheapest", None)):
            found[name], rounds = relaxation.lagrangian_deadhead(model, served, time.perf_counter() + 60,
                                                                 upper_km=routes.empty_km(), iterations=3,
                                                                 start=start)
            assert rounds == 3
        assert found["dual"] > max(found["cheapest"], km)

    def test_trips_compete_for_one_vehicle(self) -> None:
        """Two emergencies at the same minute far apart and one vehicle: the cheap bound says 2, the LP 1."""
        data = problem(
            [vehicle("V1")],
            [
                trip("A", 9, priority="emergency", latest_pickup=at(9)),
                trip("B", 9, priority="emergency", latest_pickup=at(9),
                     pickup={"lat": 30.55, "lon": 114.25}, dropoff={"lat": 30.56, "lon": 114.26}),
            ],
        )
        plan = solve(Problem.parse(data), time_limit=0.5)
        assert plan.objective.served[PRIORITIES[0]] == 1
        routes: Routes = plan._state
        assert bounds.served_upper(routes.net, bounds.servable(routes.net))[PRIORITIES[0]] == 2
        computed = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30)
        assert computed.served_upper[PRIORITIES[0]] == 1
        assert "lexicographic" in computed.method

    def test_duties_tighten_a_law_bound_the_arc_lp_leaves_loose(self) -> None:
        """A, B and C each follow the one before from its earliest pickup, but B taken after A ends past C's window
        (test_duties' clock example): the arc LP covers all three with one car, the duties' stage only two, as
        the best plan does."""
        here = {"lat": CENTRE[0] + 0.01, "lon": CENTRE[1]}
        near = {"lat": CENTRE[0] + 0.0101, "lon": CENTRE[1]}
        law = {"priority": "law_enforcement", "pickup": here, "dropoff": near, "dwell_min": 30}
        data = problem([vehicle("V1")], [trip("A", 9, **law, latest_pickup=at(9)),
                                         trip("B", 9 + 10 / 60, **law, latest_pickup=at(9 + 40 / 60)),
                                         trip("C", 9 + 45 / 60, **law, latest_pickup=at(9 + 50 / 60))])
        plan = solve(Problem.parse(data), time_limit=0.5)
        routes: Routes = plan._state
        assert plan.objective.served[PRIORITIES[1]] == 2
        computed = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30)
        assert computed.served_upper[PRIORITIES[1]] == 2
        assert "column generation over duties with exact clocks: law enforcement 2" in computed.method
        without = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30, duty_stages=False)
        assert without.served_upper[PRIORITIES[1]] == 3
        # In a solve, only in time the caller set aside for the bounds.
        assert "over duties" not in solve(Problem.parse(data), time_limit=0.5).bounds.method
        asked = solve(Problem.parse(data), stop=MaxRuntime(2), bound_seconds=1)
        assert asked.bounds.served_upper[PRIORITIES[1]] == 2
        assert "over duties" in asked.bounds.method

    def test_law_bound_counts_only_plans_as_good_at_emergencies(self) -> None:
        """One vehicle: an emergency or a law-enforcement trip at the same time. Serving the emergency, no plan
        also serves the law-enforcement trip, so its bound is 0 though some plan (a worse one) serves it."""
        data = problem(
            [vehicle("V1", category="law_enforcement")],
            [
                trip("E", 9, priority="emergency", latest_pickup=at(9), categories=["law_enforcement"]),
                trip("L", 9, priority="law_enforcement", latest_pickup=at(9), categories=["law_enforcement"],
                     pickup={"lat": 30.55, "lon": 114.25}, dropoff={"lat": 30.56, "lon": 114.26}),
            ],
        )
        plan = solve(Problem.parse(data), time_limit=0.5)
        routes: Routes = plan._state
        computed = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30)
        assert computed.served_upper == {PRIORITIES[0]: 1, PRIORITIES[1]: 0, PRIORITIES[2]: 0}

    def test_empty_km_bound_pays_depot_legs_and_shifts(self) -> None:
        """On a small city day the LP's empty-km bound is higher than the assignment relaxation's."""
        given_problem = Problem.parse(city_instance(20, 80, seed=3))
        plan = solve(given_problem, time_limit=1, seed=0)
        routes: Routes = plan._state
        old = bounds.deadhead_lower(routes.net, np.flatnonzero(routes.where >= 0))
        computed = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30)
        assert computed.deadhead_lower_km > old * 1.05
        assert computed.deadhead_lower_km <= plan.objective.deadhead_km
        assert computed.seconds > 0


class TestSideBySide:
    def test_two_workers_give_the_same_bounds_as_one(self) -> None:
        """With two workers the empty-km bound runs in a child beside the served stages: given time enough for
        both to finish, the bounds are the ones a single process finds."""
        given_problem = Problem.parse(city_instance(20, 80, seed=3))
        plan = solve(given_problem, time_limit=1, seed=0)
        routes: Routes = plan._state
        one = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30, workers=1)
        two = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30, workers=2)
        assert "beside the served stages" in two.method
        assert "beside" not in one.method
        assert (two.served_upper, two.deadhead_lower_km) == (one.served_upper, one.deadhead_lower_km)
        assert two.deadhead_lower_km > bounds.deadhead_lower(routes.net, np.flatnonzero(routes.where >= 0))

    def test_a_child_that_gives_no_answer_leaves_the_cheap_empty_km_bound(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        given_problem = Problem.parse(city_instance(20, 80, seed=3))
        plan = solve(given_problem, time_limit=1, seed=0)
        routes: Routes = plan._state
        monkeypatch.setattr(bounds, "_empty_km", lambda *args: os.kill(os.getpid(), signal.SIGKILL))
        computed = bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30, workers=2)
        assert "its process gave no answer" in computed.method
        assert "lexicographic" in computed.method  # the served stages, here, are untouched
        old = bounds.deadhead_lower(routes.net, np.flatnonzero(routes.where >= 0))
        assert computed.deadhead_lower_km == pytest.approx(min(old, plan.objective.deadhead_km), abs=1e-3)

    def test_the_child_is_stopped_when_the_served_stages_fail(self, monkeypatch: pytest.MonkeyPatch) -> None:
        given_problem = Problem.parse(city_instance(20, 80, seed=3))
        routes: Routes = solve(given_problem, time_limit=1, seed=0)._state

        def fails(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a served stage failed")

        monkeypatch.setattr(relaxation, "served_bounds", fails)
        before = set(multiprocessing.active_children())  # another test's pool may live on in this process
        with pytest.raises(RuntimeError):
            bounds.compute(routes.net, routes, deadline=time.perf_counter() + 30, workers=2)
        assert set(multiprocessing.active_children()) - before == set()


class TestDeadline:
    def test_a_passed_deadline_falls_back_to_the_cheap_bounds(self) -> None:
        given_problem = Problem.parse(city_instance(20, 80, seed=3))
        plan = solve(given_problem, time_limit=1, seed=0)
        routes: Routes = plan._state
        started = time.perf_counter()
        computed = bounds.compute(routes.net, routes, deadline=started)
        assert time.perf_counter() - started < 1.0
        assert "skipped" in computed.method
        assert computed.served_upper == bounds.served_upper(routes.net, bounds.servable(routes.net))
        old = bounds.deadhead_lower(routes.net, np.flatnonzero(routes.where >= 0))
        assert computed.deadhead_lower_km == pytest.approx(min(old, plan.objective.deadhead_km), abs=1e-3)


@pytest.fixture(scope="module")
def day() -> Problem:
    return Problem.parse(city_instance(30, 120, seed=5))


class TestInsideTheSolve:
    """`solve` gives the LP the seconds asked for out of its time limit, and none it was not given."""

    def test_bound_seconds_come_out_of_the_limit(self, day: Problem, monkeypatch: pytest.MonkeyPatch) -> None:
        # The deadlines handed down are checked, not the seconds spent: a loaded machine overruns either.
        deadlines: dict[str, tuple[float, float]] = {}

        def spy(name: str, real: Any) -> Any:
            def call(*args: Any, deadline: float, **kwargs: Any) -> Any:
                deadlines[name] = (time.perf_counter(), deadline)
                return real(*args, deadline=deadline, **kwargs)

            return call

        monkeypatch.setattr(improve, "improve", spy("search", improve.improve))
        monkeypatch.setattr(bounds, "compute", spy("bound", bounds.compute))
        before = time.perf_counter()
        plan = solve(day, stop=MaxRuntime(4), bound_seconds=1.5, workers=1)
        bound_called, bound_deadline = deadlines["bound"]
        if bound_deadline - bound_called >= 1.4:  # the bounds got (nearly) their whole window
            assert "LP relaxation of vehicle duties" in plan.bounds.method
        elif "LP skipped" in plan.bounds.method:
            # A loaded machine (CI once) ran the search 2 s past its deadline; what the LP was left may still have
            # been enough for it, and if not, it says it lacked time.
            assert re.search(r"LP skipped: [^)]*(time left|in time)", plan.bounds.method), plan.bounds.method
        called, search = deadlines["search"]
        assert before + 2.5 <= search <= called + 2.5  # the search stops 1.5 s before the limit ...
        assert deadlines["bound"][1] == pytest.approx(search + 1.5)  # ... which the bound then has to itself

    def test_a_work_budget_alone_gets_the_cheap_bounds(self, day: Problem) -> None:
        plan = solve(day, stop=WorkBudget(0.2), workers=1)
        assert "LP skipped" in plan.bounds.method
        assert plan.bounds.seconds < 1.0
        asked = solve(day, stop=WorkBudget(0.2), workers=1, bound_seconds=2)
        assert "LP relaxation of vehicle duties" in asked.bounds.method
        assert [r.trips for r in asked.routes] == [r.trips for r in plan.routes]  # the bound never changes the plan
        assert asked.bounds.served_upper["law_enforcement"] <= plan.bounds.served_upper["law_enforcement"]
