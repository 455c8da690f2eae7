"""The fixed-time scheduling core against exhaustive search on small random graphs, and its refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dispatch.mdvsp import (
    InfeasibleScheduleError,
    Schedule,
    ScheduleGraph,
    lower_bound,
    read_inp,
    route_cost,
    solve,
)

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "mdvsp" / "data"


def make_graph(
    vehicles: list[int],
    pull_out: list[list[int]],
    pull_in: list[list[int]],
    arcs: list[tuple[int, int, int]],
) -> ScheduleGraph:
    """A graph from plain lists; arcs are (tail, head, cost)."""
    n = len(pull_in)
    return ScheduleGraph(
        depot_vehicles=np.array(vehicles, dtype=np.int64),
        pull_out=np.array(pull_out, dtype=np.int64).reshape(len(vehicles), n),
        pull_in=np.array(pull_in, dtype=np.int64).reshape(n, len(vehicles)),
        arc_tail=np.array([a for a, _, _ in arcs], dtype=np.int32),
        arc_head=np.array([b for _, b, _ in arcs], dtype=np.int32),
        arc_cost=np.array([c for _, _, c in arcs], dtype=np.int64),
    )


@st.composite
def graphs(draw: st.DrawFn) -> ScheduleGraph:
    """Small random graphs; arcs only go from lower to higher trip index, as fixed times make them."""
    n = draw(st.integers(0, 8))
    m = draw(st.integers(1, 3))
    # About one depot link in six is forbidden; depot costs differ a lot so that returning home matters.
    cost = st.integers(-8, 60).map(lambda c: max(c, -1))
    vehicles = [draw(st.integers(0, 4)) for _ in range(m)]
    pull_out = [[draw(cost) for _ in range(n)] for _ in range(m)]
    pull_in = [[draw(cost) for _ in range(m)] for _ in range(n)]
    arcs = [(i, j, draw(st.integers(0, 20))) for i in range(n) for j in range(i + 1, n) if draw(st.integers(0, 4))]
    return make_graph(vehicles, pull_out, pull_in, arcs)


def exhaustive(graph: ScheduleGraph) -> int | None:
    """Optimum by trying every way to extend open vehicles trip by trip (trips are in time order)."""
    n, m = graph.n_trips, graph.n_depots
    arc = {(int(a), int(b)): int(c) for a, b, c in zip(graph.arc_tail, graph.arc_head, graph.arc_cost, strict=True)}
    best: list[int | None] = [None]

    def extend(t: int, vehicles: list[tuple[int, int]], used: list[int], cost: int) -> None:
        if t == n:
            if all(graph.pull_in[last, k] >= 0 for k, last in vehicles):
                total = cost + sum(int(graph.pull_in[last, k]) for k, last in vehicles)
                if best[0] is None or total < best[0]:
                    best[0] = total
            return
        for k in range(m):
            if graph.pull_out[k, t] >= 0 and used[k] < graph.depot_vehicles[k]:
                used[k] += 1
                extend(t + 1, [*vehicles, (k, t)], used, cost + int(graph.pull_out[k, t]))
                used[k] -= 1
        for i, (k, last) in enumerate(vehicles):
            if (last, t) in arc:
                extend(t + 1, [*vehicles[:i], (k, t), *vehicles[i + 1 :]], used, cost + arc[last, t])

    extend(0, [], [0] * m, 0)
    return best[0]


def assert_valid(graph: ScheduleGraph, schedule: Schedule) -> None:
    """Every trip once, each depot within its vehicles, and the stated cost is the sum of the routes."""
    trips = sorted(t for _, route in schedule.vehicles for t in route)
    assert trips == list(range(graph.n_trips))
    per_depot = np.bincount([k for k, _ in schedule.vehicles], minlength=graph.n_depots)
    assert (per_depot <= graph.depot_vehicles).all()
    assert all(route for _, route in schedule.vehicles)
    assert sum(route_cost(graph, k, route) for k, route in schedule.vehicles) == schedule.cost
    assert schedule.lower_bound <= schedule.cost


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_solve_matches_exhaustive_optimum(graph: ScheduleGraph) -> None:
    best = exhaustive(graph)
    if best is None:
        event("infeasible")
        with pytest.raises(InfeasibleScheduleError):
            solve(graph, time_limit=10)
        return
    flow_bound = lower_bound(graph)
    assert flow_bound <= best
    event("the flow bound is exact" if flow_bound == best else "needs the multi-depot LP")
    schedule = solve(graph, time_limit=10)
    assert_valid(graph, schedule)
    assert schedule.cost == best
    assert schedule.optimal
    assert schedule.lower_bound == best


def test_single_depot_is_one_min_cost_flow() -> None:
    # Trips 0 -> 1 -> 2 can chain; using one vehicle (fixed cost 100 each way) beats three.
    graph = make_graph([3], [[100, 100, 100]], [[100], [100], [100]], [(0, 1, 5), (1, 2, 5), (0, 2, 50)])
    schedule = solve(graph, time_limit=5)
    assert schedule.vehicles == [(0, [0, 1, 2])]
    assert schedule.cost == 210
    assert schedule.optimal
    assert lower_bound(graph) == 210


def test_vehicle_must_return_to_its_own_depot() -> None:
    # The relaxation may end trip 0's vehicle at depot 1; the real problem has no way home from it.
    graph = make_graph([1, 1], [[5], [-1]], [[-1, 5]], [])
    assert lower_bound(graph) == 10
    with pytest.raises(InfeasibleScheduleError):
        solve(graph, time_limit=5)


def test_too_few_vehicles_is_refused() -> None:
    graph = make_graph([1], [[1, 1]], [[1], [1]], [])
    with pytest.raises(InfeasibleScheduleError):
        lower_bound(graph)
    with pytest.raises(InfeasibleScheduleError):
        solve(graph, time_limit=5)


def test_no_trips() -> None:
    graph = make_graph([2, 0], [[], []], [], [])
    schedule = solve(graph, time_limit=1)
    assert (schedule.cost, schedule.lower_bound, schedule.vehicles, schedule.optimal) == (0, 0, [], True)


def test_published_instance_within_time_and_deterministic() -> None:
    _, graph = read_inp(DATA / "n100m4s1.inp.gz")
    first = solve(graph, time_limit=20, seed=3)
    again = solve(graph, time_limit=20, seed=3)
    assert_valid(graph, first)
    assert first.cost == 294752  # published optimum (bounds.txt)
    assert first.optimal
    assert (first.cost, first.vehicles) == (again.cost, again.vehicles)


def test_zero_time_limit_still_returns_a_schedule() -> None:
    _, graph = read_inp(DATA / "n150m4s3.inp.gz")
    schedule = solve(graph, time_limit=0.0)
    assert_valid(graph, schedule)
    assert schedule.seconds < 0.5
    assert schedule.lower_bound == lower_bound(graph)
    assert not schedule.optimal


def test_route_cost_refuses_missing_arc() -> None:
    graph = make_graph([1], [[1, 1]], [[1], [1]], [(0, 1, 3)])
    assert route_cost(graph, 0, [0, 1]) == 5
    assert route_cost(graph, 0, []) == 0
    with pytest.raises(ValueError, match="cannot follow"):
        route_cost(graph, 0, [1, 0])


def _fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "depot_vehicles": np.array([1, 1]),
        "pull_out": np.array([[1, 1, 1], [1, 1, 1]]),
        "pull_in": np.array([[1, 1], [1, 1], [1, 1]]),
        "arc_tail": np.array([0, 1], dtype=np.int32),
        "arc_head": np.array([1, 2], dtype=np.int32),
        "arc_cost": np.array([2, 2]),
    }
    return fields | changes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depot_vehicles": np.array([[1, 1]])}, "depot_vehicles: expected a 1-d"),
        ({"depot_vehicles": np.array([1, -1])}, "depot_vehicles: negative"),
        ({"pull_out": np.ones((3, 3), dtype=np.int64)}, "pull_out: shape"),
        ({"pull_in": np.ones((2, 3), dtype=np.int64)}, "pull_in: shape"),
        ({"pull_in": np.array([[1, 1], [1, -2], [1, 1]])}, "pull_in: costs must be"),
        ({"pull_out": np.full((2, 3), 1.5)}, "pull_out: expected integers"),
        ({"arc_cost": np.array([2])}, "lengths"),
        ({"arc_cost": np.array([2, -1])}, "arc_cost: costs must be"),
        ({"arc_head": np.array([1, 3], dtype=np.int32)}, "arc_head: trip index"),
        ({"arc_head": np.array([1, 1], dtype=np.int32)}, "itself"),
        ({"arc_tail": np.array([0, 0], dtype=np.int32), "arc_head": np.array([1, 1], dtype=np.int32)}, "duplicate"),
        ({"arc_tail": np.array([0, 1], dtype=np.int32), "arc_head": np.array([1, 0], dtype=np.int32)}, "cycle"),
    ],
)
def test_graph_refuses_bad_fields(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduleGraph(**_fields(**changes))


def test_graph_is_frozen_copy() -> None:
    fields = _fields()
    graph = ScheduleGraph(**fields)
    fields["arc_cost"][0] = 99
    assert graph.arc_cost[0] == 2
    assert graph.arc_tail.dtype == np.int32
    assert graph.pull_out.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        graph.arc_cost[0] = 5
