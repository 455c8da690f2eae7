"""The parallel search: the plan depends on the problem, the seed and the work budget, not on the processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.plan import Plan
from dispatch.problem import Problem
from dispatch.solve import solve
from dispatch.stop import WorkBudget
from dispatch.synthetic import city_instance

Referee = Callable[[Problem, Plan], dict[str, Any]]


def routes(plan: Plan) -> dict[str, list[str]]:
    return {route.vehicle: route.trips for route in plan.routes}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    vehicles=st.integers(8, 30), trips=st.integers(40, 160), day=st.integers(0, 10_000), seed=st.integers(0, 1000)
)
def test_one_or_two_processes_give_the_same_plan(vehicles: int, trips: int, day: int, seed: int) -> None:
    """The parts (or, on small days, the portfolio) run in processes; the answer must not depend on how many."""
    city = Problem.parse(city_instance(vehicles, trips, seed=day))
    one = solve(city, stop=WorkBudget(0.15), seed=seed, workers=1)
    two = solve(city, stop=WorkBudget(0.15), seed=seed, workers=2)
    again = solve(city, stop=WorkBudget(0.15), seed=seed, workers=2)
    assert routes(one) == routes(two) == routes(again)
    assert one.objective == two.objective


def test_the_plan_says_how_many_processes_ran(referee: Referee) -> None:
    city = Problem.parse(city_instance(30, 150, seed=3))
    plan = solve(city, stop=WorkBudget(0.3), seed=0, workers=2)
    referee(city, plan)
    assert plan.workers == 2
    assert solve(city, stop=WorkBudget(0.3), seed=0, workers=1).workers == 1


def test_the_cli_takes_workers(tmp_path: Path) -> None:
    day = tmp_path / "day.json"
    day.write_text(json.dumps(city_instance(30, 150, seed=4)), encoding="utf-8")
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(app, ["solve", str(day), "-o", str(out), "--time-limit", "0.3", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "2 processes" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["workers"] == 2
    refused = CliRunner().invoke(app, ["solve", str(day), "-o", str(out), "--workers", "0"])
    assert refused.exit_code == 2
