"""Warm start: `solve(problem, start=...)` begins from given routes or a plan and never ends worse than them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dispatch import improve
from dispatch.plan import Plan
from dispatch.problem import Problem, ProblemError
from dispatch.solve import solve
from dispatch.stop import WorkBudget
from dispatch.synthetic import city_instance
from tests.dispatch.test_engine import problem, trip, vehicle

Referee = Callable[[Problem, Plan], dict[str, Any]]


def key(plan: Plan) -> tuple[int, int, int, float]:
    """Lexicographic objective, smaller is better: unserved per priority, then empty km."""
    served, offered = plan.objective.served, plan.objective.offered
    return (*(offered[p] - served[p] for p in served), plan.objective.deadhead_km)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def day() -> Problem:
    return Problem.parse(city_instance(30, 140, seed=7))


def test_a_start_plan_comes_back_at_least_as_good(day: Problem, referee: Referee) -> None:
    rough = solve(day, stop=WorkBudget(0.05), seed=1, workers=1)
    again = solve(day, stop=WorkBudget(0.3), seed=2, start=rough, workers=1)
    referee(day, again)
    assert key(again)[:3] <= key(rough)[:3]
    assert key(again) <= (*key(rough)[:3], key(rough)[3] + 1e-3)


def test_rerunning_a_day_from_its_own_plan_with_a_tiny_budget_keeps_it(
    day: Problem, referee: Referee, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = solve(day, stop=WorkBudget(0.5), seed=0, workers=1)
    # The moves that run even on no budget (offload, eject, the tail exchange) may trade a trip for a better one or
    # swap route ends between cars; held off, the start's routes must come back as they were, only added to.
    monkeypatch.setattr(improve, "OFFLOAD", False)
    monkeypatch.setattr(improve, "EJECT", False)
    monkeypatch.setattr(improve, "TAILS", False)
    kept = solve(day, stop=WorkBudget(0), seed=9, start=plan, workers=1)
    referee(day, kept)
    served = {t for r in plan.routes for t in r.trips}
    assert served <= {t for r in kept.routes for t in r.trips}
    assert key(kept) <= (*key(plan)[:3], key(plan)[3] + 1e-3)
    # Routes are kept as they were, trips only added to them.
    for route in plan.routes:
        again = kept.route_of(route.vehicle)
        assert again is not None
        assert [t for t in again.trips if t in served] == route.trips


def test_routes_as_a_mapping_are_kept_and_the_rest_inserted(referee: Referee) -> None:
    trips = [trip("T1", 9), trip("T2", 12), trip("T3", 15, priority="emergency")]
    data = problem([vehicle("V1"), vehicle("V2")], trips)
    given = Problem.parse(data)
    plan = solve(given, stop=WorkBudget(0), start={"V2": ["T1", "T2"]}, workers=1)
    referee(given, plan)
    assert plan.objective.served == plan.objective.offered  # T3 went in by construction
    assert set(plan.route_of("V2").trips) >= {"T1", "T2"}  # type: ignore[union-attr]


def test_a_route_its_vehicle_cannot_drive_starts_empty_and_its_trips_go_back_in(referee: Referee) -> None:
    # Out of order: T2 at 12:00 before T1 at 09:00 cannot be driven; both trips must still be served.
    data = problem([vehicle("V1"), vehicle("V2")], [trip("T1", 9), trip("T2", 12)])
    given = Problem.parse(data)
    plan = solve(given, stop=WorkBudget(0), start={"V1": ["T2", "T1"]}, workers=1)
    referee(given, plan)
    assert plan.objective.served == plan.objective.offered


@pytest.mark.parametrize(
    ("start", "field", "reason"),
    [
        ({"V9": ["T1"]}, "start.V9", "unknown vehicle"),
        ({"V1": ["T1", "T7"]}, "start.V1", "unknown trip 'T7'"),
        ({"V1": ["T1"], "V2": ["T1"]}, "start.V2", "on two routes"),
        ({"V1": "T1"}, "start.V1", "list of trip ids"),
    ],
)
def test_a_bad_start_names_the_vehicle(start: dict[str, Any], field: str, reason: str) -> None:
    given = Problem.parse(problem([vehicle("V1"), vehicle("V2")], [trip("T1", 9), trip("T2", 12)]))
    with pytest.raises(ProblemError) as caught:
        solve(given, stop=WorkBudget(0), start=start)
    assert caught.value.field == field
    assert reason in caught.value.reason
