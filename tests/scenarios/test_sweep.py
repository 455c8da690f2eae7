"""The fleet-size sweep is a frontier: the sizes are nested, each size starts from the plan of the size below, and
a larger fleet never serves less than a smaller one (issue 16: it dipped by up to 0.03 point before)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.problem import PRIORITIES
from scenarios import runner
from scenarios.simulate import DayTask, simulate_day, simulate_days
from scenarios.spec import Scenario, load
from scenarios.vehicles import held
from tests.scenarios.conftest import agency, scenario

SHIPPED = Path(__file__).parents[2] / "scenarios"
SCALES = [0.4, 0.6, 0.8, 1.0]


def _city(seed: int, **overrides: Any) -> Scenario:
    """Three agencies, 18 vehicles and about 90 trips: small enough for a sweep in a second or two."""
    return scenario(
        [agency("A", trips=40, vehicles={"general": 4, "law_enforcement": 4}),
         agency("B", trips=30, vehicles={"general": 3, "emergency": 3}, north_km=4,
                priorities={"emergency": 0.15, "law_enforcement": 0, "routine": 0.85}),
         agency("C", trips=20, vehicles={"general": 2, "law_enforcement": 2}, north_km=-3)],
        seed=seed, sweep={"scales": SCALES, "replications": 1}, **overrides,
    )


@settings(max_examples=25, deadline=None, derandomize=True)
@given(small=st.floats(0.0, 1.5), extra=st.floats(0.0, 1.5), nev=st.sampled_from([None, 0.0]))
def test_the_sizes_are_nested(small: float, extra: float, nev: float | None) -> None:
    """Every vehicle of a smaller sweep point is in the larger one as it was (id, seats, shift, powertrain, yard),
    so the smaller fleet's plan is one the larger fleet can drive."""
    baseline = load(SHIPPED / "baseline.yaml")
    if nev is not None:
        baseline = baseline.model_copy(update={"fleet": baseline.fleet.model_copy(update={"nev_share": nev})})
    smaller = {v.id: v for v in held(baseline, small)}
    larger = {v.id: v for v in held(baseline, small + extra)}
    assert all(larger.get(vid) == vehicle for vid, vehicle in smaller.items())


@pytest.mark.parametrize("seed", [54, 57, 63])
def test_a_larger_fleet_serves_no_fewer_of_any_priority(seed: int) -> None:
    """Days on which the sizes, each searched afresh, served fewer emergencies (54, 57) or routine trips (63) with
    more vehicles before the sweep started each size from the one below."""
    [outcome] = runner.run([_city(seed)], workers=1)
    served = [point.served_share for point in outcome.frontier]
    assert [point.scale for point in outcome.frontier] == SCALES
    for smaller, larger in itertools.pairwise(served):
        for priority in PRIORITIES:
            assert larger[priority.value] >= smaller[priority.value], (priority, served)


@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["pool", "separate"]))
def test_a_chain_never_serves_less_in_the_engine_s_order(seed: int, mode: str) -> None:
    """By construction, whatever the search finds: a size keeps the best of its own search, that search started
    from the size below's plan, and the size below's day (which its fleet can drive), by served counts in the
    engine's order (most emergencies first, then law enforcement, then routine)."""
    city = _city(seed, dispatch={"mode": mode, "time_limit_s": 0.1})
    days = simulate_days([DayTask(city, scale, 0, 0, sweep=True) for scale in reversed(SCALES)])
    assert [d.scale for d in days] == SCALES  # run smallest first, whatever order they were given in
    ranks = [tuple(d.served[p.value] for p in PRIORITIES) for d in days]
    assert ranks == sorted(ranks)
    for smaller, larger in itertools.pairwise(days):
        assert smaller.held < larger.held
        assert larger.source in ("own", "start", "smaller")
        if larger.source == "smaller":
            assert larger.served == smaller.served
            assert larger.empty_km == smaller.empty_km
    assert days[0].source == "own"
    # Never below the size's own search alone, which is what the size would serve outside the sweep.
    alone = [simulate_day(DayTask(city, scale, 0, 0, sweep=True)) for scale in SCALES]
    for chained, own in zip(days, alone, strict=True):
        assert tuple(chained.served[p.value] for p in PRIORITIES) >= tuple(own.served[p.value] for p in PRIORITIES)


def test_the_sweep_runs_as_chains_and_own_days_alone() -> None:
    city = _city(1).model_copy(update={"replications": 2})
    chains = runner.chains_of(runner.tasks_of(city))
    alone = [c for c in chains if not c[0].sweep]
    swept = [c for c in chains if c[0].sweep]
    assert sorted((c[0].replication, c[0].day, c[0].scale) for c in alone) == [(0, 0, 1.0), (1, 0, 1.0)]
    assert [[t.scale for t in c] for c in swept] == [SCALES]  # one day, one sweep replication: one chain


def test_a_chain_is_one_day_of_one_scenario() -> None:
    city = _city(1)
    with pytest.raises(ValueError, match="differ only in the fleet's scale"):
        simulate_days([DayTask(city, 0.4, 0, 0, sweep=True), DayTask(city, 1.0, 1, 0, sweep=True)])
