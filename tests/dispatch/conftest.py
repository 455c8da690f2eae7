"""Shared fixtures for the dispatch tests: the referee, small instances, and a brute-force optimum."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dispatch.network import Network, build
from dispatch.plan import Plan
from dispatch.problem import Problem


def _shared() -> Path:
    """The shared spec and tools: $GONGCHE_SHARED, else beside the checkout (../shared), else /work/shared."""
    candidates = [os.environ.get("GONGCHE_SHARED"), Path(__file__).resolve().parents[3] / "shared", "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "tools").is_dir():
            return Path(candidate)
    return Path(__file__).resolve().parents[3] / "shared"


SHARED = _shared()
EXAMPLE = SHARED / "spec" / "example-small.json"


def load_tool(path: Path, name: str) -> ModuleType:
    """A script of ../shared/tools (the referees) imported as a module."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def referee() -> Callable[[Problem, Plan], dict[str, Any]]:
    """Check a plan with ../shared/tools/check_dispatch.py; fails the test on any referee error."""
    path = SHARED / "tools" / "check_dispatch.py"
    if not path.exists():
        pytest.skip(f"the referee is not at {path}")
    module = load_tool(path, "check_dispatch")

    def check(problem: Problem, plan: Plan) -> dict[str, Any]:
        instance = json.loads(problem.model_dump_json())
        errors, objective = module.check(instance, plan.exchange())
        assert errors == [], errors
        return dict(objective)

    return check


@pytest.fixture(scope="session")
def example() -> Problem:
    if not EXAMPLE.exists():
        pytest.skip(f"the example instance is not at {EXAMPLE}")
    return Problem.read(EXAMPLE)


def brute_force(problem: Problem) -> tuple[int, int, int, float]:
    """The lexicographic optimum (unserved per priority, empty km) by enumerating every route of every vehicle.

    Only for a handful of trips and vehicles; it shares the engine's network (times and km) but none of its search.
    """
    net = build(problem)
    best_route: list[dict[frozenset[int], float]] = [_all_routes(net, v) for v in range(net.vehicles)]
    best: tuple[int, int, int, float] | None = None

    def descend(vehicle: int, left: frozenset[int], empty: float) -> None:
        nonlocal best
        if vehicle == net.vehicles:
            missing = [0, 0, 0]
            for trip in left:
                missing[int(net.tier[trip])] += 1
            key = (missing[0], missing[1], missing[2], round(empty, 6))
            if best is None or key < best:
                best = key
            return
        for subset, km in best_route[vehicle].items():
            if subset <= left:
                descend(vehicle + 1, left - subset, empty + km)

    descend(0, frozenset(range(net.n)), 0.0)
    assert best is not None
    return best


def _all_routes(net: Network, vehicle: int) -> dict[frozenset[int], float]:
    """Least empty km of every trip set the vehicle can serve in some order (the empty set costs nothing)."""
    found: dict[frozenset[int], float] = {frozenset(): 0.0}
    depot = int(net.depot[vehicle])

    def extend(order: list[int], clock: int, km: float, empty: float) -> None:
        last = order[-1]
        home_s = int(net.in_s[last, depot])
        home_km = float(net.in_km[last, depot])
        if clock + home_s <= net.shift_end[vehicle] and km + home_km <= net.range_km[vehicle]:
            key = frozenset(order)
            total = empty + home_km
            if total < found.get(key, float("inf")):
                found[key] = total
        for trip in range(net.n):
            if trip in order or not net.eligible[trip, vehicle]:
                continue
            leg_km, leg_s = net.leg(last, trip)
            pickup = max(int(net.early[trip]), clock + leg_s)
            if pickup > net.late[trip]:
                continue
            loaded = float(net.loaded_km[trip])
            extend([*order, trip], pickup + int(net.service[trip]), km + leg_km + loaded, empty + leg_km)

    for trip in range(net.n):
        if not net.eligible[trip, vehicle]:
            continue
        pickup = max(int(net.early[trip]), int(net.shift_start[vehicle]) + int(net.out_s[depot, trip]))
        if pickup > net.late[trip]:
            continue
        out_km = float(net.out_km[depot, trip])
        extend([trip], pickup + int(net.service[trip]), out_km + float(net.loaded_km[trip]), out_km)
    return found
