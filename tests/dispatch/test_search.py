"""The parallel search: the plan depends on the problem, the seed and the work budget, not on the processes."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dispatch import improve, parallel
from dispatch.cli import app
from dispatch.network import build
from dispatch.plan import Plan
from dispatch.problem import Problem
from dispatch.routes import construct
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


def test_the_duty_neighbourhoods_give_the_same_plan_on_one_or_two_processes() -> None:
    """A budget large enough for the larger day's duty neighbourhoods (`improve.LNS_SHARE`): still one plan."""
    city = Problem.parse(city_instance(30, 150, seed=11))
    assert improve.LNS_SHARE * 4 >= improve.DUTIES_MIN_SECONDS
    assert improve.LNS_MAX_VEHICLES >= 30
    one = solve(city, stop=WorkBudget(4), seed=3, workers=1)
    two = solve(city, stop=WorkBudget(4), seed=3, workers=2)
    assert routes(one) == routes(two)


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


def _dies_in_a_child(net: Any, task: tuple[int, int]) -> int:
    parent, value = task
    if os.getpid() != parent:  # a worker killed (out of memory, say) while it searched its part
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def _plus_one(net: Any, task: int) -> int:
    return task + 1


def _parts_inside(_: int) -> list[int]:
    with parallel.runner(cast(Any, "the network"), 2) as run:
        return run(_plus_one, [1, 2])


def test_a_lost_worker_costs_time_not_the_answer() -> None:
    """A worker that dies mid-round does not hang the search: past the deadline and a grace the round runs here."""
    parent = os.getpid()
    started = time.perf_counter()
    with parallel.runner(cast(Any, "the network"), 2, deadline=started + 0.5) as run:
        assert run(_dies_in_a_child, [(parent, 1), (parent, 2)]) == [1, 2]
        assert run(_dies_in_a_child, [(parent, 3), (parent, 4)]) == [3, 4]  # and later rounds too, at once
    assert time.perf_counter() - started < 0.5 + parallel.GRACE_SECONDS + 5


def test_inside_a_daemonic_process_the_parts_run_in_it() -> None:
    """A multiprocessing pool's workers are daemonic and may not have children: there the parts run one by one."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_parts_inside, [0]) == [[2, 3]]


class TestAside:
    """Work set aside in a forked child: its answer comes back, and a child that fails or is late costs no hang."""

    def test_the_answer_comes_from_a_child(self) -> None:
        beside = parallel.Aside(lambda: (os.getpid(), sum(range(1000))))
        pid, total = cast(tuple[int, int], beside.result(30))
        assert (pid != os.getpid(), total) == (True, 499500)

    def test_a_failing_child_gives_none(self) -> None:
        def fails() -> int:
            raise ValueError("no answer")

        assert parallel.Aside(fails).result(30) is None

    def test_a_killed_child_gives_none_at_once(self) -> None:
        started = time.perf_counter()
        assert parallel.Aside(lambda: os.kill(os.getpid(), signal.SIGKILL)).result(30) is None
        assert time.perf_counter() - started < 10  # the pipe's end, not the timeout, ends the wait

    def test_a_late_child_is_stopped(self) -> None:
        beside = parallel.Aside(lambda: time.sleep(60))
        started = time.perf_counter()
        assert beside.result(0.2) is None
        assert time.perf_counter() - started < 10
        assert not beside._process.is_alive()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vehicles=st.integers(4, 40), trips=st.integers(30, 200), day=st.integers(0, 10_000), count=st.integers(2, 4))
def test_parts_by_kind_keep_the_cars_a_left_out_trip_may_use_together(vehicles: int, trips: int, day: int,
                                                                        count: int) -> None:
    """`improve._by_kind` shares the whole fleet and every left-out trip out among disjoint parts; the vehicles the
    most important left-out trips may use come first, so no later part holds a car more of them may use; and each
    left-out trip goes to a part holding as many of the cars it may use as any other part."""
    net = build(Problem.parse(city_instance(vehicles, trips, seed=day)))
    start = construct(net)
    unserved = np.flatnonzero((start.where < 0) & net.eligible.any(axis=1))
    assume(len(unserved) > 0)
    drawn = improve._by_kind(net, start, unserved, count)
    assert len(drawn) == count
    fleet = [v for part, _ in drawn for v in part]
    assert sorted(fleet) == list(range(net.vehicles))
    left = [t for _, extra in drawn for t in extra]
    assert sorted(left) == sorted(unserved.tolist())
    top = unserved[net.tier[unserved] == net.tier[unserved].min()]
    wanted = net.eligible[top].sum(axis=0)
    for (first, _), (later, _) in itertools.pairwise(drawn):
        if first and later:
            assert wanted[first].min() >= wanted[later].max()
    for _, extra in drawn:
        for trip in extra:
            usable = [int(net.eligible[trip, part].sum()) for part, _ in drawn]
            assert usable[next(p for p, (_, e) in enumerate(drawn) if trip in e)] == max(usable)
