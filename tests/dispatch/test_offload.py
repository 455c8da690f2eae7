"""`offload`: trips move off the vehicles an unserved trip needs onto vehicles of another kind, so that it fits (its
property test, with `eject`'s, is in test_eject.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dispatch.improve import offload
from dispatch.network import build
from dispatch.plan import Plan
from dispatch.problem import Problem
from dispatch.routes import construct
from dispatch.solve import solve
from dispatch.stop import WorkBudget
from tests.dispatch.test_engine import problem, trip, vehicle

Referee = Callable[[Problem, Plan], dict[str, Any]]


def blocked_day() -> Problem:
    """A law car near the trips and an emergency car at the far depot; an emergency and a law trip at 09:00.

    Cheapest insertion puts the emergency on the law car (nearer), which leaves the law trip nobody to drive it.
    """
    return Problem.parse(
        problem(
            [vehicle("L1", category="law_enforcement"), vehicle("E1", category="emergency", depot="D2")],
            [
                trip("EM", 9, priority="emergency", categories=["emergency", "law_enforcement"]),
                trip("LAW", 9, priority="law_enforcement", categories=["law_enforcement"]),
            ],
        )
    )


def test_an_emergency_moves_to_the_emergency_car_and_frees_the_law_car_for_the_law_trip() -> None:
    net = build(blocked_day())
    routes = construct(net)
    assert routes.trips == [[0], []]  # the emergency on the law car, the law trip left out
    assert routes.objective()[:3] == (0, 1, 0)
    assert offload(net, routes)
    assert routes.trips == [[1], [0]]
    assert routes.objective()[:3] == (0, 0, 0)
    assert all(routes.feasible(v) for v in range(net.vehicles))


def test_a_clock_already_run_out_moves_nothing() -> None:
    net = build(blocked_day())
    routes = construct(net)
    assert not offload(net, routes, deadline=time.perf_counter())
    assert routes.trips == [[0], []]


def test_nothing_moves_when_no_vehicle_of_another_kind_can_take_the_blocking_trip() -> None:
    day = problem(
        [vehicle("L1", category="law_enforcement"), vehicle("G1", depot="D2")],
        [
            trip("EM", 9, priority="emergency", categories=["emergency", "law_enforcement"]),
            trip("LAW", 9, priority="law_enforcement", categories=["law_enforcement"]),
        ],
    )
    net = build(Problem.parse(day))
    routes = construct(net)
    assert not offload(net, routes)
    assert routes.trips == [[0], []]


def test_the_engine_serves_both_trips_and_the_referee_accepts(referee: Referee) -> None:
    day = blocked_day()
    plan = solve(day, stop=WorkBudget(0), workers=1)
    referee(day, plan)
    assert plan.objective.served == plan.objective.offered
    assert plan.route_of("E1").trips == ["EM"]  # type: ignore[union-attr]
