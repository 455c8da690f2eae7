"""A live network (kept by the server for urgent placement) updated step by step equals the network built afresh.

`Network.without_trips`, `with_vehicles` and `with_trips` update a network built without arcs as trips leave and join
and vehicles change; `dispatch.insert.carry` moves the routes onto it, timing again only the vehicles that changed.
After any series of such updates, every array, every leg and every timetable must be what `build` and `set_route`
give for the final problem, and an insertion must land where it lands on the rebuilt network.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import Depot, Plan, Priority, Problem, Trip, Vehicle, insert
from dispatch.insert import carry
from dispatch.network import Network, build
from dispatch.routes import Routes, construct
from dispatch.synthetic import city_instance

_FLOATS = ("loaded_km", "pick", "drop", "out_km", "in_km", "range_km")
_EXACT = ("early", "late", "service", "tier", "eligible", "by_kind", "kind", "kind_category", "kind_seats", "depot",
          "shift_start", "shift_end", "out_s", "in_s")


@dataclass
class Day:
    """What a live day holds: the problem, its network, and each vehicle's route by ids."""

    problem: Problem
    net: Network
    state: Routes
    routes: dict[str, list[str]]


def start(seed: int, vehicles: int = 8, trips: int = 40, held: int = 24) -> tuple[Day, list[Trip]]:
    """A solved day of ``held`` trips on a network without arcs, and the trips left over to join it later."""
    full = Problem.parse(city_instance(vehicles, trips, seed=seed))
    problem = full.model_copy(update={"trips": full.trips[:held]})
    epoch = math.floor(min([v.shift_start.timestamp() for v in full.vehicles]
                           + [t.earliest_pickup.timestamp() for t in full.trips])) - 3600
    solved = construct(build(problem, epoch=epoch))
    net = build(problem, epoch=epoch, arcs=False)
    state = Routes(net)
    routes: dict[str, list[str]] = {}
    for vehicle, route in enumerate(solved.trips):
        state.set_route(vehicle, list(route))
        routes[problem.vehicles[vehicle].id] = [problem.trips[t].id for t in route]
    return Day(problem, net, state, routes), list(full.trips[held:])


def update(day: Day, problem: Problem, routes: dict[str, list[str]], redo: set[str]) -> Day:
    """Move ``day`` to ``problem`` (its trips: the old ones kept in order, then the new), as `fleet.live_day` does."""
    old = day.problem
    now = {t.id: t for t in problem.trips}
    keep = np.array([now.get(t.id) == t for t in old.trips], dtype=bool)  # a changed trip leaves and joins again
    kept = tuple(t for t, k in zip(old.trips, keep, strict=True) if k)
    added = problem.trips[len(kept):]
    assert tuple(problem.trips[: len(kept)]) == kept
    net = day.net
    if not keep.all():
        net = net.without_trips(old.model_copy(update={"trips": kept}), keep)
    middle = problem.model_copy(update={"trips": kept})
    if middle.vehicles != old.vehicles or middle.depots != old.depots:
        net = net.with_vehicles(middle)
    net = net.with_trips(problem, added)
    number = np.full(len(old.trips), -1, dtype=np.int64)
    number[keep] = np.arange(len(kept))
    index = problem.trip_index()
    before = old.vehicle_index()
    source = [before.get(v.id, -1) for v in problem.vehicles]
    again = {i: [index[t] for t in routes.get(v.id, [])] for i, v in enumerate(problem.vehicles)
             if v.id in redo or v.id not in before}
    return Day(problem, net, carry(day.state, net, number, source, again), routes)


def step(day: Day, kind: str, spare: list[Trip], rng: random.Random) -> Day:
    """One change of the day: trips leave, trips join, the fleet changes, a held trip's window moves."""
    problem, routes = day.problem, {v: list(r) for v, r in day.routes.items()}
    redo: set[str] = set()
    if kind == "leave" and problem.trips:
        gone = set(rng.sample([t.id for t in problem.trips], k=min(len(problem.trips), rng.randint(1, 5))))
        for vehicle, route in routes.items():
            if gone & set(route):
                routes[vehicle] = [t for t in route if t not in gone]
                redo.add(vehicle)
        problem = problem.model_copy(update={"trips": tuple(t for t in problem.trips if t.id not in gone)})
    elif kind == "join" and spare:
        joining = [spare.pop() for _ in range(min(len(spare), rng.randint(1, 4)))]
        problem = problem.model_copy(update={"trips": (*problem.trips, *joining)})
        vehicle = rng.choice(problem.vehicles).id  # one of them at the end of a route (feasible or not: timed alike)
        routes[vehicle] = [*routes.get(vehicle, []), joining[0].id]
        redo.add(vehicle)
    elif kind == "fleet":
        vehicles = list(problem.vehicles)
        dropped = vehicles.pop(rng.randrange(len(vehicles)))
        routes.pop(dropped.id, None)
        shorter = rng.randrange(len(vehicles))
        vehicles[shorter] = vehicles[shorter].model_copy(
            update={"shift_end": vehicles[shorter].shift_end - timedelta(hours=1)})
        redo.add(vehicles[shorter].id)
        depot = Depot(id=f"yard-new-{len(problem.depots)}", lat=problem.depots[0].lat + 0.05,
                      lon=problem.depots[0].lon - 0.04)
        vehicles.insert(rng.randrange(len(vehicles) + 1), Vehicle(
            id=f"NEW-{len(problem.depots)}", depot=depot.id, category="emergency", seats=9, range_km=None,
            shift_start=vehicles[0].shift_start, shift_end=vehicles[0].shift_end))
        problem = problem.model_copy(update={"vehicles": tuple(vehicles), "depots": (*problem.depots, depot)})
    elif kind == "window" and problem.trips:
        moved = rng.choice(problem.trips)
        wider = moved.model_copy(update={"latest_pickup": moved.latest_pickup + timedelta(minutes=25)})
        problem = problem.model_copy(update={"trips": (*(t for t in problem.trips if t.id != moved.id), wider)})
        redo |= {v for v, r in routes.items() if moved.id in r}
    return update(day, problem, routes, redo)


def assert_as_rebuilt(day: Day) -> Network:
    rebuilt = build(day.problem, epoch=day.net.epoch, arcs=False)
    for name in _EXACT:
        assert np.array_equal(getattr(day.net, name), getattr(rebuilt, name)), name
    for name in _FLOATS:  # Vincenty iterates until a whole batch converges: batches differ below a millimetre
        assert np.allclose(getattr(day.net, name), getattr(rebuilt, name), rtol=1e-9, atol=1e-6), name
    assert len(day.net.succ) == len(day.net.pred) == day.net.n
    for key, (km, seconds) in list(day.net.arcs.items()):  # every leg cached through the updates is still its own
        assert (km, seconds) == rebuilt.leg(key // (1 << 24), key % (1 << 24)), key
    fresh = Routes(rebuilt)
    index = day.problem.trip_index()
    for vehicle, spec in enumerate(day.problem.vehicles):
        fresh.set_route(vehicle, [index[t] for t in day.routes.get(spec.id, [])])
    for name in ("trips", "start", "latest", "legs_s"):
        assert getattr(day.state, name) == getattr(fresh, name), name
    assert np.allclose(day.state.km, fresh.km)
    assert all(np.allclose(a, b) for a, b in zip(day.state.legs, fresh.legs, strict=True))
    assert np.array_equal(day.state.where, fresh.where)
    assert np.array_equal(day.state.position, fresh.position)
    return rebuilt


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 50), changes=st.lists(st.sampled_from(["leave", "join", "fleet", "window"]), min_size=1,
                                                 max_size=6), draw=st.randoms(use_true_random=False))
def test_a_series_of_updates_equals_a_rebuild(seed: int, changes: list[str], draw: random.Random) -> None:
    day, spare = start(seed)
    for kind in changes:
        day = step(day, kind, spare, draw)
    assert_as_rebuilt(day)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 50), changes=st.lists(st.sampled_from(["leave", "window"]), min_size=1, max_size=4),
       draw=st.randoms(use_true_random=False))
def test_an_insertion_lands_where_it_lands_on_the_rebuilt_day(seed: int, changes: list[str], draw: random.Random,
                                                              referee: Callable[[Problem, Plan], Any]) -> None:
    """Trips leaving and windows widening keep every route drivable, so the referee can judge the answer."""
    from dispatch.solve import assemble

    day, spare = start(seed)
    for kind in changes:
        day = step(day, kind, spare, draw)
    rebuilt = assert_as_rebuilt(day)
    fresh = Routes(rebuilt)
    index = day.problem.trip_index()
    for vehicle, spec in enumerate(day.problem.vehicles):
        fresh.set_route(vehicle, [index[t] for t in day.routes.get(spec.id, [])])
    base = day.problem.trips[0]
    urgent = base.model_copy(update={"id": "URGENT", "priority": Priority.emergency,
                                     "latest_pickup": base.earliest_pickup + timedelta(minutes=20)})
    answers = []
    for net, state in ((day.net, day.state), (rebuilt, fresh)):
        plan = assemble(net, state, stopped="work budget", seed=0, time_limit=0.0, build_seconds=0.0,
                        solve_seconds=0.0, bounded=False)
        placed = insert(plan, day.problem, urgent)
        referee(placed.problem, placed.plan)
        answers.append((placed.vehicle, placed.displaced, placed.unplaced,
                        [(r.vehicle, r.trips, r.pickups) for r in placed.plan.routes]))
    assert answers[0] == answers[1]


def test_the_old_network_is_left_as_it_was() -> None:
    """A placement may still be using the network an update started from: nothing of it changes."""
    day, spare = start(3)
    arrays = {name: getattr(day.net, name).copy() for name in (*_EXACT, *_FLOATS)}
    arcs = dict(day.net.arcs)
    problem = day.problem.model_copy(update={"trips": (*day.problem.trips[2:], *spare[:3])})
    update(day, problem, {v: [t for t in r if t not in {x.id for x in day.problem.trips[:2]}]
                          for v, r in day.routes.items()}, set(day.routes))
    for name, value in arrays.items():
        assert np.array_equal(getattr(day.net, name), value), name
    assert dict(day.net.arcs) == arcs


def test_an_inserted_trip_s_legs_are_its_own() -> None:
    """`Network.with_trip` keeps the new trip's legs as arrays: `leg` reads them there, for every other trip."""
    day, spare = start(5)
    problem = day.problem.model_copy(update={"trips": (*day.problem.trips, spare[0])})
    grown = day.net.with_trip(problem, spare[0])
    rebuilt = build(problem, epoch=day.net.epoch, arcs=False)
    new = grown.n - 1
    for other in range(new):
        for tail, head in ((other, new), (new, other)):
            km, seconds = grown.leg(tail, head)
            assert np.isclose(km, rebuilt.leg(tail, head)[0], rtol=1e-9, atol=1e-6)
            assert abs(seconds - rebuilt.leg(tail, head)[1]) <= 1  # a rounding up either side of a whole second
    assert all(key // (1 << 24) < new and key % (1 << 24) < new for key in day.net.arcs)  # the old net: none of it


def test_networks_grown_from_one_network_keep_their_own_trips() -> None:
    """Grown in the spare rows after its arrays: the next trip in place, the same trip again shared, another trip
    from the same network copied; each network equals its rebuild, and the one grown from is left as it was."""
    day, spare = start(7)

    def grown(net: Network, trips: list[Trip]) -> tuple[Network, Problem]:
        problem = net.problem.model_copy(update={"trips": (*net.problem.trips, *trips)})
        return net.with_trips(problem, trips), problem

    base = day.net  # built live: its arrays have spare rows
    before = {name: getattr(base, name).copy() for name in (*_EXACT, *_FLOATS)}
    first, first_problem = grown(base, [spare[0]])
    again = base.with_trip(first_problem, spare[0])  # a placement adding the trip the day then adds too
    other, other_problem = grown(base, [spare[1]])
    later, later_problem = grown(first, spare[2:4])
    for net, problem in ((first, first_problem), (again, first_problem), (other, other_problem),
                         (later, later_problem)):
        assert_as_rebuilt(Day(problem, net, Routes(net), {}))
    for name, value in before.items():
        assert np.array_equal(getattr(base, name), value), name
    assert first.out_km.base is base.out_km.base  # in place, not copied
    assert later.out_km.base is first.out_km.base
    assert again.in_km.base is first.in_km.base
    assert other.in_km.base is not first.in_km.base
