"""The numbers make sense together, as properties over random cities and days:

* a cut fleet never serves more trips than the fleet it was cut from;
* pooling never needs more vehicles than separate agency fleets for the same trips;
* the minimum fleet is never above the fleet that served the trips.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.exact import min_fleet_at
from dispatch.travel import Geodesic
from scenarios.simulate import DayTask, simulate_day
from tests.scenarios.conftest import CENTRE, agency, scenario

FAST = settings(max_examples=12, deadline=None, derandomize=True)


def _exact_city(seed: int, vehicles: int) -> object:
    """One depot, one kind of car on one shift, fixed pickup times, no range limit and no emergencies: the engine
    solves this exactly (min-cost flow), so service can be compared across fleet sizes without solver noise."""
    return scenario(
        [agency("A", trips=40, vehicles={"general": vehicles},
                priorities={"emergency": 0, "law_enforcement": 0, "routine": 1})],
        seed=seed,
        fleet={"initial_nev_share": 0, "seats": {7: 1.0}, "shifts": {"general": [[[420, 1200], 1.0]]}},
        demand={"window_min": {"emergency": 0, "law_enforcement": 0, "routine": 0}},
    )


@FAST
@given(seed=st.integers(0, 10_000), small=st.floats(0.1, 1.0), extra=st.floats(0.0, 1.0))
def test_a_cut_fleet_never_serves_more(seed: int, small: float, extra: float) -> None:
    city = _exact_city(seed, 12)
    cut = simulate_day(DayTask(city, small, 0, 0))
    full = simulate_day(DayTask(city, min(1.0, small + extra), 0, 0))
    assert cut.held <= full.held
    assert sum(cut.served.values()) <= sum(full.served.values())


def _mixed_city(seed: int, mode: str) -> object:
    return scenario(
        [agency("A", trips=25, vehicles={"general": 3, "law_enforcement": 3}),
         agency("B", trips=20, vehicles={"general": 2, "emergency": 2}, north_km=4),
         agency("C", trips=15, vehicles={"general": 2, "law_enforcement": 1}, north_km=-3)],
        seed=seed,
        dispatch={"mode": mode, "time_limit_s": 0.2},
    )


@FAST
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["pool", "separate"]))
def test_minimum_fleet_is_never_above_the_fleet_that_served(seed: int, mode: str) -> None:
    day = simulate_day(DayTask(_mixed_city(seed, mode), 1.0, 0, 0))
    for category, used in day.used_by_category.items():
        assert day.min_fleet[category] <= used
        assert day.min_fleet_pooled[category] <= day.min_fleet[category]
    assert set(day.min_fleet) == set(day.used_by_category)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data(), n=st.integers(1, 25), groups=st.integers(1, 4))
def test_pooling_never_needs_more_vehicles_for_the_same_trips(data: st.DataObject, n: int, groups: int) -> None:
    times = np.array(data.draw(st.lists(st.integers(0, 12 * 3600), min_size=n, max_size=n)), dtype=float)
    busy = np.array(data.draw(st.lists(st.integers(60, 7200), min_size=n, max_size=n)), dtype=float)
    offsets = np.array(data.draw(st.lists(st.tuples(st.floats(-0.05, 0.05), st.floats(-0.05, 0.05)),
                                          min_size=2 * n, max_size=2 * n)))
    group = np.array(data.draw(st.lists(st.integers(0, groups - 1), min_size=n, max_size=n)))
    pick, drop = np.array(CENTRE) + offsets[:n], np.array(CENTRE) + offsets[n:]
    travel = Geodesic()
    separate = min_fleet_at(times, busy, pick, drop, group, travel)
    pooled = min_fleet_at(times, busy, pick, drop, np.zeros(n), travel)
    assert pooled <= separate
    # and each group alone needs no more than it does inside the separate answer
    assert separate == sum(
        min_fleet_at(times[group == g], busy[group == g], pick[group == g], drop[group == g],
                     np.zeros(int((group == g).sum())), travel)
        for g in np.unique(group)
    )
