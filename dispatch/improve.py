"""Improvement: large-neighbourhood search whose neighbourhoods OR-Tools routing re-optimises, on every core.

Each step frees a handful of related vehicles (sharing arcs with a seed trip, often an unserved one) together with
their trips and the unserved trips linked to them, hands that small vehicle-routing problem to OR-Tools (time
windows, shifts, range, allowed vehicles, and drop penalties that make the objective lexicographic) warm-started
from the current routes, and keeps the answer if it is better. The steps run in epochs: each epoch splits the
fleet into disjoint parts that search side by side in worker processes (`dispatch.parallel`) and merge exactly.
A small problem is one routing model instead, searched by guided local search from two starts at once, then
recombined by price-and-branch over its vehicles' duties (`dispatch.duties.recombine`); on a fleet of up to
`LNS_MAX_VEHICLES`, the last epochs run that price-and-branch over a dozen vehicles at a time instead. Before and
between epochs (and after the small problem's search) two moves reach across the whole fleet: `offload` moves trips
off the vehicles that unserved trips need onto vehicles of another kind that may take them (an emergency from a
law-enforcement car to an emergency car), and `eject` puts an unserved trip in a served trip's place, that trip
placed elsewhere, left out, or (`CHAIN`) in a third trip's place in turn; between a large fleet's epochs
(`WIDE_EJECT`) a trip with no such place may take the place of any trip it overlaps in time. A larger day's search
ends with a tail exchange across the fleet (`dispatch.tails`) in the last `TAILS_SHARE` of the clock; a fleet too
large to price runs it after every epoch too.

The search runs on a work budget (routing nodes handed to OR-Tools) in seconds of the reference machine, so that the
same seed and budget give the same plan, with any number of processes; the wall-clock deadline, if any, stops it
early on a slower machine (and says so).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from dispatch import duties, parallel
from dispatch.network import Network
from dispatch.plan import StoppedBy
from dispatch.routes import Insertion, Routes, better, construct, linked
from dispatch.tails import arcs_of, exchange_tails

# Work per second of budget (`WorkBudget`) on the 2-core reference machine with both cores searching: routing nodes
# re-optimised in neighbourhoods (one core: 1,700/s measured at 100x500, 780/s at 1000x5000; two parts side by side
# do 1.6x that, the rest is the merge and the epochs' insertion pass) ...
WORK_PER_SECOND = 2400
# ... and guided-local-search solutions x nodes when the whole problem is one model, two searches side by side
# (3,500 left a 10 s limit's last 2 s unused at 20x80; at 4,300 WorkBudget(5)/(10) take 4.1-5.4/10.0-11.3 s there,
# and at 10 s the 15 small tuning days came out 5 better, 10 the same, none worse).
_WHOLE_WORK_PER_SECOND = 4300
FRESH_SHARE = 0.5  # of the whole model's budget, for the search from OR-Tools' own first solution (the full budget
# there measured no better: it levels off early)
_MAX_TRIPS = 80  # trips in one neighbourhood
_MAX_VEHICLES = 12
_DROP_BASE = 10**8  # metres: more than any neighbourhood's empty km, so serving a trip always wins


def improve(
    net: Network,
    routes: Routes,
    *,
    deadline: float,
    seed: int,
    target: tuple[int, int, int],
    work: float,
    workers: int = 1,
) -> StoppedBy:
    """Improve ``routes`` in place until the work budget, the deadline, or nothing left to gain.

    The search runs in epochs. Each epoch splits the vehicles into `parts` disjoint parts (drawn from the seed, by
    place or by hour, so that each part holds vehicles that compete for the same trips), gives each part a disjoint
    share of the unserved trips and lets each part's search change only its own vehicles and trips. Parts are
    disjoint, so their answers merge exactly; they run in ``workers`` processes (`dispatch.parallel`) or one after
    another, with the same result either way: the plan depends on the problem, the seed and the work budget only.

    :param deadline: `time.perf_counter` instant to stop by; ``math.inf`` for no clock.
    :param work: the work budget, in seconds of the reference machine (with both its cores).
    :param workers: processes the parts may run in.
    """
    rng = random.Random(seed)
    budget = work * WORK_PER_SECOND
    if whole(net):
        # Small enough for one routing model: a portfolio of guided local searches, one from our routes with the
        # whole budget and one from OR-Tools' own first solution with half (each wins on some days; the second
        # levels off within a tenth of its budget on the 20x80 tuning days), each on its own core; then
        # price-and-branch over the vehicles' duties (`dispatch.duties`) with `DUTIES_SHARE` of the budget and clock.
        share = min(max(DUTIES_SHARE, 0.0), 0.9)
        searched_by = deadline if math.isinf(deadline) else time.perf_counter() + (1 - share) * (
            deadline - time.perf_counter())
        solutions = max(1, int(work * (1 - share) * _WHOLE_WORK_PER_SECOND / max(1, net.n + net.vehicles)))
        snapshot = [list(r) for r in routes.trips]
        tasks = [
            Task(snapshot, [], [], 0, solutions, searched_by),
            Task(snapshot, [], [], 1, max(1, int(solutions * FRESH_SHARE)), searched_by),
        ]
        with parallel.runner(net, workers, deadline) as run:
            answers = run(search_whole, tasks)
            for after, _ in answers:
                trial = routes.copy()
                for vehicle, order in enumerate(after):
                    trial.set_route(vehicle, order)
                if all(trial.feasible(v) for v in range(net.vehicles)) and better(trial.objective(),
                                                                                   routes.objective()):
                    routes.set_routes(after)
            if OFFLOAD:
                offload(net, routes)
            if EJECT:  # a few milliseconds at this size: worth running past the clock
                eject(net, routes)
            if (share * work >= DUTIES_MIN_SECONDS or net.n <= DUTIES_ALWAYS_TRIPS) and time.perf_counter() < deadline:
                # The vehicles' pricing runs on the searches' cores.
                found = duties.recombine(net, routes, rounds=DUTIES_ROUNDS, deadline=deadline, seed=seed,
                                         km_rounds=DUTIES_KM_ROUNDS, run=run if PRICE_IN_WORKERS else None,
                                         dives=DIVES)
                if found is not None:
                    routes.set_routes(found.trips)
                    if EJECT:
                        eject(net, routes)
        return "time limit" if time.perf_counter() >= deadline else "work budget"
    # The search stops `TAILS_SHARE` of the clock early, for the last tail exchange over the plan it leaves.
    end = deadline
    arcs = arcs_of(net) if TAILS else None
    if TAILS and not math.isinf(deadline):
        deadline -= TAILS_SHARE * max(0.0, deadline - time.perf_counter())
    if OFFLOAD:
        offload(net, routes)
    if EJECT:
        eject(net, routes, deadline)
    # The last `LNS_SHARE` of the budget and clock: price-and-branch over the duties of a few vehicles at a time.
    lns = min(max(LNS_SHARE, 0.0), 0.9)
    if not prices(net.vehicles) or lns * work < DUTIES_MIN_SECONDS:
        lns = 0.0
    searched_by = deadline if math.isinf(deadline) else time.perf_counter() + (1 - lns) * (
        deadline - time.perf_counter())
    budget *= 1 - lns
    epochs = max(1, math.ceil(budget / _EPOCH_WORK))
    count = parts(net)
    share = budget / epochs / count
    with parallel.runner(net, workers, deadline) as run:
        for epoch in range(epochs):
            if time.perf_counter() >= searched_by:
                break
            snapshot = [list(r) for r in routes.trips]
            tasks = [
                Task(snapshot, vehicles, extra, rng.randrange(2**31), share, searched_by)
                for vehicles, extra in partition(net, routes, rng, epoch, count)
            ]
            answers = run(search_part, tasks)
            _merge(routes, tasks, answers)
            # A trip one part gave up may fit where another part made room: cheap insertion takes it.
            construct(net, routes=routes)
            if OFFLOAD:
                offload(net, routes, deadline)
            if EJECT:
                eject(net, routes, deadline, wide=WIDE_EJECT and not prices(net.vehicles))
            if TAILS and TAILS_EVERY_EPOCH and not prices(net.vehicles) and exchange_tails(
                    net, routes, time.perf_counter() + TAILS_EPOCH_SHARE * max(0.0, searched_by - time.perf_counter()),
                    arcs, idle=TAILS_EPOCH_IDLE):
                construct(net, routes=routes)  # the room the swaps made, for the trips left out
            if routes.objective()[:3] == target and all(settled for _, settled in answers):
                lns = 0.0  # every trip some car can serve is served: only the empty km are left to cut
                break
        # Duty neighbourhoods: `LNS_VEHICLES` vehicles each, drawn as the search's parts are, with the unserved
        # trips nearest them; each runs column generation and SCIP's pick over its vehicles' duties.
        rounds = max(1, round(lns * work / LNS_SECONDS_PER_ROUND)) if lns > 0 else 0
        pieces = max(1, net.vehicles // LNS_VEHICLES)
        for round_ in range(rounds):
            if time.perf_counter() >= deadline:
                break
            snapshot = [list(r) for r in routes.trips]
            tasks = [
                Task(snapshot, vehicles, extra, rng.randrange(2**31), 0, deadline)
                for vehicles, extra in partition(net, routes, rng, epochs + round_, pieces)
            ]
            _merge(routes, tasks, run(recombine_part, tasks))
            if EJECT:
                eject(net, routes, deadline)
    clocked = time.perf_counter() >= deadline
    if TAILS and exchange_tails(net, routes, end, arcs):
        construct(net, routes=routes)  # the room the swaps made, for the trips left out
        if EJECT:
            eject(net, routes, end, wide=WIDE_EJECT and not prices(net.vehicles))
    # The parts stop at the deadline too: a clock that ran out during the last epoch cut its work short.
    return "time limit" if clocked or time.perf_counter() >= end else "work budget"


def _merge(routes: Routes, tasks: list[Task], answers: list[tuple[list[list[int]], bool]]) -> None:
    """Each part's new routes in place of its vehicles' (parts are disjoint); a part whose routes do not fit keeps
    its old ones."""
    for task, (after, _) in zip(tasks, answers, strict=True):
        before = [routes.copy_route(vehicle) for vehicle in task.vehicles]
        for vehicle in task.vehicles:
            routes.set_route(vehicle, [])
        for vehicle, order in zip(task.vehicles, after, strict=True):
            routes.set_route(vehicle, order)
        if not all(routes.feasible(vehicle) for vehicle in task.vehicles):  # never expected: keep the old
            for vehicle in task.vehicles:
                routes.set_route(vehicle, [])
            for vehicle, order in zip(task.vehicles, before, strict=True):
                routes.set_route(vehicle, order)


# Of a larger day's budget and clock, for duty neighbourhoods after the search's epochs (0: none) ...
LNS_SHARE = 0.3
LNS_VEHICLES = 12  # ... of this many vehicles each (25 gained more per neighbourhood, in 4-15 s each) ...
# ... one round over the fleet per this many seconds of that share's budget (10 until the pricing was compiled; 5
# then was better at 30 s on all six 100 x 500 tuning days, by a law trip on one and a routine trip on two) ...
LNS_SECONDS_PER_ROUND = 5.0
LNS_MAX_VEHICLES = 150  # ... on fleets up to this size (at 300 x 1,500 the 3 s of a 10 s limit saw a quarter of a
# round and overran the clock: one tuning day better, one worse)


# With a clock alone (no work budget given), a search that spends its budget before the clock goes on until it
# (`dispatch.solve`), on days larger than one routing model. On the ten 100 x 500 tuning days (seeds 1-2) at 30 s,
# where this machine spent the budget in 16 of the 30 s, it was better on 10 (0.2-0.9 % less empty km), worse on
# none.
GO_ON = True


OFFLOAD = True
TAILS = True  # route ends swapped across the fleet (`dispatch.tails`) at the end of the search ...
TAILS_SHARE = 0.03  # ... in this share of the clock left, kept for it ...
# ... and after every epoch on fleets too large to price (`prices`), each time in at most this share of the search's
# clock left. Compiled, at 10 s: better on all six 300 x 1,500 tuning days (up to 4 law and 4 routine trips more);
# on the 100 x 500 tuning days (work 10) better on 4 and worse on 5, so there only at the end (docs/benchmarks.md).
# With a work budget and no clock a pass runs to its end, outside the budget: the plan stays repeatable.
TAILS_EVERY_EPOCH = True
TAILS_EPOCH_SHARE = 0.1
# Between epochs ends are swapped between busy cars only: idle cars stay the reserve for the trips left out (with
# them, worse on 4 of the 6 tuning days, and law trips lost on two reporting days). The last pass may use them.
TAILS_EPOCH_IDLE = False


def offload(net: Network, routes: Routes, deadline: float = math.inf) -> bool:
    """Move trips off the vehicles that unserved trips of one priority could use onto vehicles they cannot use (an
    emergency from a law-enforcement car to an emergency car), then insert the unserved trips; keep it if better.

    The search's neighbourhoods grow along arcs and rarely hold both a law trip left out and the far emergency car
    that could relieve its law car, so this is done for the whole fleet at once, one priority at a time (changed in
    place; whether it was). The clock (``deadline``) may cut the moves short (a second at 1,000 vehicles).
    """
    changed = False
    for tier in range(3):
        unserved = np.flatnonzero((routes.where < 0) & (net.tier == tier) & net.eligible.any(axis=1))
        if len(unserved) == 0:
            continue
        wanted = net.eligible[unserved].any(axis=0)
        trial = routes.copy()
        freed: list[int] = []
        for vehicle in np.flatnonzero(wanted).tolist():
            if time.perf_counter() >= deadline:
                break
            for trip in list(trial.trips[vehicle]):
                spare = np.flatnonzero(net.eligible[trip] & ~wanted)
                if len(spare) == 0:
                    continue
                saved = trial.copy_route(vehicle)
                trial.remove(trip)
                found = _cheapest(net, trial, trip, spare.tolist())
                if found is None:
                    trial.set_route(vehicle, saved)
                else:
                    trial.apply(trip, found)
                    if vehicle not in freed:
                        freed.append(vehicle)
        if not freed:
            continue
        # The room is on the freed vehicles, possibly between trips no arc links to the unserved ones: try every
        # position there (cheapest insertion only looks next to linked trips), most important and earliest first.
        for trip in unserved[np.lexsort((net.early[unserved], net.late[unserved]))].tolist():
            found = _cheapest(net, trial, trip, freed)
            if found is not None:
                trial.apply(trip, found)
        construct(net, routes=trial)
        if better(trial.objective(), routes.objective()):
            routes.set_routes(trial.trips)
            changed = True
    return changed


EJECT = True


def eject(net: Network, routes: Routes, deadline: float = math.inf, *, wide: bool = False) -> bool:
    """Serve left-out trips by ejection: put a left-out trip where a served one was, next to a trip it links to, and
    place the served one elsewhere (cheapest insertion) or leave it out if it matters no more; with `CHAIN`, a
    served one that fits nowhere may in turn take a third trip's place (that one placed elsewhere or left out), so
    that a law trip can come in at a routine trip's cost two cars away. Keep the best such move for each trip if it
    makes the plan better: more served by priority, or as many for less empty km (changed in place; whether it was).
    With ``wide``, a trip that finds no such move may take the place of any trip it overlaps in time on any car it
    may use (the `WIDE_SPOTS` nearest), put at the cheapest position there: on a slack day the last routine trips
    share no arc with the trip whose car they need.

    The neighbourhood search frees whole vehicles around a trip and re-routes them; this move reaches across the
    whole fleet at once, which is where a slack day's last routine trips fit (a trip taken off one car, put on a
    car whose route no arc ties to the first). The clock (``deadline``) may stop it between trips.
    """
    changed = False
    left = np.flatnonzero((routes.where < 0) & net.eligible.any(axis=1))
    missing = [int(m) for m in np.bincount(net.tier[left], minlength=3)] if len(left) else [0, 0, 0]

    empty = routes.route_empty_km
    for trip in left[np.lexsort((net.early[left], net.late[left], net.tier[left]))].tolist():
        if routes.where[trip] >= 0:
            continue
        if time.perf_counter() >= deadline:
            break
        gap = list(missing)
        gap[int(net.tier[trip])] -= 1
        now = (missing[0], missing[1], missing[2], 0.0)
        best = _take_place(net, routes, trip, gap, {}, empty, 2 if CHAIN else 1)
        if wide and (best is None or not better(best[0], now)):
            # No place next to a linked trip: any trip it overlaps, on any car it may use.
            best = _take_place(net, routes, trip, gap, {}, empty, 1, wide=True)
        if best is not None and better(best[0], now):
            key, final = best
            for vehicle in final:
                routes.set_route(vehicle, [])
            for vehicle, order in final.items():
                routes.set_route(vehicle, order)
            missing = list(key[:3])
            changed = True
    return changed


CHAIN = True  # eject's second link: the trip put out may put out another in turn
# Between the epochs of a fleet too large for duty neighbourhoods (`prices`), a trip eject finds no place for next to
# a linked trip tries the place of every trip it overlaps, on every car it may use ... (at 10 s, 300 x 1,500 tuning
# days: better on 5 of 9, worse on 4, law trips lost on tight days; reporting days above 150 vehicles at 5 and 10 s:
# better on 11 of 15 runs, worse on 3, by a trip or km. On 100 x 500, where the duty neighbourhoods run, the tuning
# days gained (7 of 9 at 10 s) but the reporting days lost: better on 5, worse on 11 of 18 runs at 10 and 30 s.)
WIDE_EJECT = True
WIDE_SPOTS = 16  # ... the nearest this many of them (with all of them an eject call on a tight 300 x 1,500 day took
# 0.6-0.9 s instead of 0.3-0.6 s)


def _overlapping(net: Network, routes: Routes, trip: int) -> list[tuple[int, int, int]]:
    """Where ``trip`` could take a served trip's place on any car it may use: (vehicle, position, the trip there)
    for the `WIDE_SPOTS` nearest trips of no higher priority around the positions its window allows."""
    found: list[tuple[int, int, int]] = []
    for vehicle in np.flatnonzero(net.eligible[trip]).tolist():
        order = routes.trips[vehicle]
        if not order:
            continue
        open_ = routes.positions(trip, vehicle)  # the trips on either side of the open positions
        for spot in range(max(0, open_.start - 1), min(len(order), open_.stop)):
            if net.tier[order[spot]] >= net.tier[trip]:
                found.append((vehicle, spot, order[spot]))
    if len(found) > WIDE_SPOTS:
        # The nearest first: a trip far from the left-out one rarely makes room for it.
        outs = np.array([out for _, _, out in found], dtype=np.int64)
        east = math.cos(math.radians(float(net.pick[trip, 0])))  # a degree of longitude, in latitude
        gap = np.hypot(net.pick[outs, 0] - net.pick[trip, 0], (net.pick[outs, 1] - net.pick[trip, 1]) * east)
        found = [found[i] for i in np.argsort(gap, kind="stable")[:WIDE_SPOTS].tolist()]
    return found


def _spots(net: Network, routes: Routes, trip: int) -> list[tuple[int, int, int]]:
    """Where ``trip`` could take a served trip's place: (vehicle, position, the trip there), next to a trip it links
    to, on a vehicle it may use, the trip there of no higher priority."""
    found: list[tuple[int, int, int]] = []
    tried: set[tuple[int, int]] = set()
    for neighbour, after in linked(net, trip):
        vehicle = int(routes.where[neighbour])
        if vehicle < 0 or not net.eligible[trip, vehicle]:
            continue
        # The trip goes right after (before) its linked neighbour; the trip now there makes room.
        spot = int(routes.position[neighbour]) + (1 if after else -1)
        if not 0 <= spot < len(routes.trips[vehicle]) or (vehicle, spot) in tried:
            continue
        tried.add((vehicle, spot))
        out = routes.trips[vehicle][spot]
        if net.tier[out] >= net.tier[trip]:  # never a more important trip for a less important one
            found.append((vehicle, spot, out))
    return found


Move = tuple[tuple[int, int, int, float], dict[int, list[int]]]  # (missing per priority, empty km change), routes


def _take_place(
    net: Network, routes: Routes, trip: int, gap: list[int], before: dict[int, float],
    empty: Callable[[int], float], links: int, *, wide: bool = False,
) -> Move | None:
    """The best way to serve ``trip`` (``gap``: what is missing per priority once it is served) by taking a served
    trip's place, that trip then placed elsewhere, or left out, or (``links`` > 1) taking another's place in turn:
    its key and the routes of the vehicles it changes. The routes are as they were on return; ``before`` holds the
    empty km, before the whole move, of the vehicles earlier links changed. ``wide``: the places are `_overlapping`'s
    rather than `_spots`', and the trip goes to the cheapest position on the car rather than into the place freed."""
    best: Move | None = None

    def consider(key: tuple[int, int, int, float], vehicles: dict[int, float]) -> None:
        nonlocal best
        if best is None or key < best[0]:
            best = (key, {v: routes.copy_route(v) for v in vehicles})

    for vehicle, spot, out in (_overlapping if wide else _spots)(net, routes, trip):
        base = dict(before)
        base.setdefault(vehicle, empty(vehicle))
        saved = routes.copy_route(vehicle)
        routes.remove(out)
        into = _cheapest(net, routes, trip, [vehicle]) if wide else routes.check(trip, vehicle, spot)
        if into is not None:
            routes.apply(trip, into)
            moved = routes.best(out)
            if moved is not None:
                here = dict(base)
                here.setdefault(moved.vehicle, empty(moved.vehicle))
                kept = routes.copy_route(moved.vehicle)
                routes.apply(out, moved)
                consider((gap[0], gap[1], gap[2], sum(empty(v) - km for v, km in here.items())), here)
                routes.set_route(moved.vehicle, kept)
            else:
                left = list(gap)
                left[int(net.tier[out])] += 1
                consider((left[0], left[1], left[2], sum(empty(v) - km for v, km in base.items())), base)
                if links > 1:
                    chained = _take_place(net, routes, out, gap, base, empty, links - 1)
                    if chained is not None and (best is None or chained[0] < best[0]):
                        best = chained
        routes.set_route(vehicle, saved)
    return best


def _cheapest(net: Network, routes: Routes, trip: int, vehicles: list[int]) -> Insertion | None:
    """The cheapest feasible insertion of ``trip`` at any position of ``vehicles``' routes its neighbours' times
    leave open (`Routes.positions`)."""
    found: Insertion | None = None
    for vehicle in vehicles:
        for position in routes.positions(trip, vehicle):
            option = routes.check(trip, vehicle, position)
            if option is not None and (found is None or option.empty_km < found.empty_km):
                found = option
    return found


# Of a small problem's budget and clock, for price-and-branch over duties after the guided local searches: column
# generation over each vehicle's duties from their routes, then SCIP choosing among the duties found.
DUTIES_SHARE = 0.4
DUTIES_ROUNDS = 60  # rounds of column generation at most (13-24 to converge on the 20 x 80 tuning days)
DIVES = 10  # price-and-dive after the km stage's pick, at most this many dives (`dispatch.duties.recombine`)
DUTIES_KM_ROUNDS = 30  # rounds of the second column generation, for the fewest empty km at the counts picked
# Price-and-branch (small days, duty neighbourhoods) runs only on a share of at least this many seconds of budget:
# its rounds and picks take 0.3-3 s whatever the budget, so on less the wall clock, not the budget, would end them and
# the plan would depend on the machine's load.
DUTIES_MIN_SECONDS = 1.0
# ... except on a day of at most this many trips, where it takes milliseconds: there the guided local search can miss
# an exchange the optimum needs (a left-out emergency served in another's place, so that a law trip fits before it;
# found by the exhaustive-optimum test at 0.5 s), and the duties' pick finds it.
DUTIES_ALWAYS_TRIPS = 12
PRICE_IN_WORKERS = True  # the small day's price-and-branch prices its vehicles in the searches' worker processes
WHOLE = True  # small problems as one routing model (off: the epochs' neighbourhood search at every size)


def prices(vehicles: int) -> bool:
    """Whether the search over a fleet of this size may price vehicles' duties (`dispatch.duties`): in its duty
    neighbourhoods, or as a day small enough to be one routing model (far below `LNS_MAX_VEHICLES`)."""
    return vehicles <= LNS_MAX_VEHICLES


def whole(net: Network) -> bool:
    """Whether the problem is small enough to be one routing model (searched in one process)."""
    return whole_day(net.n, net.vehicles)


def whole_day(trips: int, vehicles: int) -> bool:
    """`whole` for a day of this many trips and vehicles, before its network is built."""
    return WHOLE and trips <= _MAX_TRIPS and vehicles <= _MAX_VEHICLES * 2


PARTS = 2  # parts per epoch at least: set by the problem's size, never by the cores, so that the plan is the same
_PART_VEHICLES = 75  # ... one part per this many vehicles, up to
_MAX_PARTS = 4  # (measured: 2 parts best at 100 vehicles, 4 at 300)


def parts(net: Network) -> int:
    """How many parts each epoch splits the vehicles into."""
    return min(_MAX_PARTS, max(PARTS, net.vehicles // _PART_VEHICLES))


_EPOCH_WORK = 1500  # work per epoch (all parts): parts re-drawn this often


@dataclass(frozen=True, slots=True)
class Task:
    """One part of one epoch: the routes at the epoch's start, the part's vehicles and unserved trips, its seed and
    work budget (routing nodes)."""

    snapshot: list[list[int]]
    vehicles: list[int]
    extra: list[int]
    seed: int
    work: float
    deadline: float


def _routes_of(net: Network, snapshot: list[list[int]]) -> Routes:
    """A worker's copy of the plan its task was handed."""
    routes = Routes(net)
    for vehicle, order in enumerate(snapshot):
        if order:
            routes.set_route(vehicle, order)
    return routes


def search_whole(net: Network, task: Task) -> tuple[list[list[int]], bool]:
    """Guided local search on the whole problem for ``task.work`` solutions; ``task.seed`` 1: from OR-Tools' own
    first solution rather than the snapshot."""
    routes = _routes_of(net, task.snapshot)
    unserved = np.flatnonzero(routes.where < 0).tolist()
    reoptimise(net, routes, list(range(net.vehicles)), unserved, solutions=int(task.work), deadline=task.deadline,
               fresh=bool(task.seed))
    return [list(r) for r in routes.trips], True


def search_part(net: Network, task: Task) -> tuple[list[list[int]], bool]:
    """Large-neighbourhood search on one part: its vehicles' new routes, and whether it had nothing left to gain."""
    routes = _routes_of(net, task.snapshot)
    rng = random.Random(task.seed)
    mine = np.zeros(net.vehicles, dtype=bool)
    mine[task.vehicles] = True
    pool = set(task.extra)
    for vehicle in task.vehicles:
        pool.update(routes.trips[vehicle])
    trips = np.array(sorted(pool), dtype=np.int64)
    budget = task.work
    stale = 0
    while budget > 0 and time.perf_counter() < task.deadline:
        vehicles, extra = _neighbourhood(net, routes, rng, mine, trips)
        if not vehicles:
            break
        budget -= len(extra) + sum(len(routes.trips[v]) for v in vehicles) + len(vehicles)
        better = reoptimise(net, routes, vehicles, extra, solutions=0, deadline=task.deadline)
        stale = 0 if better else stale + 1
        settled = stale > 4 * max(1, len(task.vehicles))
        if settled and not any(net.eligible[t, mine].any() for t in trips[routes.where[trips] < 0].tolist()):
            break
    return [routes.trips[v] for v in task.vehicles], stale > 4 * max(1, len(task.vehicles))


def recombine_part(net: Network, task: Task) -> tuple[list[list[int]], bool]:
    """Price-and-branch over one part's duties (`dispatch.duties.recombine`): its vehicles' routes after, and True."""
    if time.perf_counter() >= task.deadline:
        return [task.snapshot[vehicle] for vehicle in task.vehicles], True
    routes = _routes_of(net, task.snapshot)
    inside = np.zeros(net.n, dtype=bool)
    inside[task.extra] = True
    for vehicle in task.vehicles:
        inside[routes.trips[vehicle]] = True
    found = duties.recombine(net, routes, rounds=DUTIES_ROUNDS, deadline=task.deadline, seed=task.seed,
                             km_rounds=DUTIES_KM_ROUNDS, vehicles=task.vehicles, trips=inside)
    after = found if found is not None else routes
    return [after.copy_route(vehicle) for vehicle in task.vehicles], True


def partition(
    net: Network, routes: Routes, rng: random.Random, epoch: int, count: int
) -> list[tuple[list[int], list[int]]]:
    """``count`` disjoint sets of vehicles, each with the unserved trips nearest to it: by place along a random
    direction on even epochs, by hour on odd ones (trips compete for the vehicles free at the same time), and every
    `KIND_EPOCHS`-th epoch by kind (`_by_kind`)."""
    unserved = np.flatnonzero((routes.where < 0) & net.eligible.any(axis=1))
    if KIND_EPOCHS and epoch % KIND_EPOCHS == KIND_EPOCHS - 1 and len(unserved) and 1 < count <= KIND_MAX_PARTS:
        return _by_kind(net, routes, unserved, count)
    centre = net.pick.mean(axis=0) if net.n else np.zeros(2)
    if epoch % 2 == 0:
        angle = rng.uniform(0, 2 * math.pi)
        axis = np.array([math.cos(angle), math.sin(angle) * math.cos(math.radians(float(centre[0])))])
        trip_key = (net.pick - centre) @ axis
        depots = np.array([(d.lat, d.lon) for d in net.problem.depots], dtype=np.float64).reshape(-1, 2)
        idle_key = (depots[net.depot] - centre) @ axis  # an idle vehicle is where its depot is ...
    else:
        trip_key = (net.early + net.late) / 2.0
        idle_key = (net.shift_start + net.shift_end) / 2.0  # ... or at the middle of its shift
    vehicle_key = np.array(
        [float(trip_key[order].mean()) if order else float(idle_key[v]) for v, order in enumerate(routes.trips)]
    )
    groups = _cut(routes, np.lexsort((np.arange(net.vehicles), vehicle_key)), count)
    edges = [float(vehicle_key[g].max()) if len(g) else -math.inf for g in groups[:-1]]
    home = np.searchsorted(np.array(edges), trip_key[unserved], side="left") if len(unserved) else unserved
    return [(sorted(g.tolist()), unserved[home == p].tolist()) for p, g in enumerate(groups)]


# Every this many epochs the parts are drawn by kind (0: never), where an epoch has at most `KIND_MAX_PARTS` parts.
# On the fifteen 100 x 500 tuning days (two parts), every third epoch by kind was better on 12 and worse on 3 at a
# 10 s limit, 8 and 7 at 30 s; at 300 x 1,500 (four parts) better on 5 and worse on 5 over two seeds at 10 s.
KIND_EPOCHS = 3
KIND_MAX_PARTS = 2


def _by_kind(net: Network, routes: Routes, unserved: np.ndarray, count: int) -> list[tuple[list[int], list[int]]]:
    """Parts by vehicle kind: the vehicles the most important left-out trips may use come together, by kind, then by
    hour, and each left-out trip goes to the part holding most of the vehicles it may use.

    Where a priority may ride only a few kinds (law enforcement on law cars), the parts by place or hour share those
    cars out, and a left-out trip's neighbourhoods see only the half of them in its part."""
    top = unserved[net.tier[unserved] == net.tier[unserved].min()]
    wanted = net.eligible[top].sum(axis=0)
    mid = (net.early + net.late) / 2.0
    hour = np.array([float(mid[order].mean()) if order else float((net.shift_start[v] + net.shift_end[v]) / 2.0)
                     for v, order in enumerate(routes.trips)])
    groups = _cut(routes, np.lexsort((np.arange(net.vehicles), hour, net.kind, -wanted)), count)
    allowed = net.eligible[unserved]
    usable = np.stack([allowed[:, g].sum(axis=1) for g in groups], axis=1)
    home = usable.argmax(axis=1)
    return [(sorted(g.tolist()), unserved[home == p].tolist()) for p, g in enumerate(groups)]


def _cut(routes: Routes, ranked: np.ndarray, count: int) -> list[np.ndarray]:
    """The vehicles in ``ranked`` order cut into ``count`` runs, each holding about as many trips and vehicles (its
    share of the work)."""
    weight = np.array([len(routes.trips[v]) + 1 for v in ranked.tolist()], dtype=np.float64)
    cuts = np.searchsorted(np.cumsum(weight), weight.sum() * np.arange(1, count) / count)
    return np.split(ranked, cuts)


UNSERVED_SEEDS = 0.7  # share of neighbourhoods grown from an unserved trip (the rest from a served one)


def _neighbourhood(
    net: Network, routes: Routes, rng: random.Random, mine: np.ndarray, trips: np.ndarray
) -> tuple[list[int], list[int]]:
    """A seed trip (an unserved one more often than not), the vehicles around it, and the unserved trips nearby,
    all within the part (``mine``: its vehicles; ``trips``: its trips)."""
    unserved = trips[routes.where[trips] < 0]
    servable = [t for t in unserved.tolist() if net.eligible[t, mine].any()]
    if servable and rng.random() < UNSERVED_SEEDS:
        # Higher priorities first: pick among the most important unserved trips.
        top = min(int(net.tier[t]) for t in servable)
        seed = rng.choice([t for t in servable if net.tier[t] == top])
    else:
        served = trips[routes.where[trips] >= 0]
        if len(served) == 0:
            if not servable:
                return [], []
            seed = rng.choice(servable)
        else:
            seed = int(served[rng.randrange(len(served))])
    inside = np.zeros(net.n, dtype=bool)
    inside[trips] = True
    vehicles: list[int] = []
    extra: list[int] = []
    frontier = [seed]
    seen = {seed}
    count = 0
    while frontier and len(vehicles) < _MAX_VEHICLES and count < _MAX_TRIPS:
        trip = frontier.pop(0)
        owner = int(routes.where[trip])
        if owner >= 0 and owner not in vehicles:
            vehicles.append(owner)
            count += len(routes.trips[owner])
            for other in routes.trips[owner]:
                if other not in seen:
                    seen.add(other)
                    frontier.append(other)
        elif owner < 0 and trip not in extra:
            extra.append(trip)
            count += 1
            for vehicle in routes.empty_candidates(trip, routes.unused() & mine)[:2].tolist():
                if vehicle not in vehicles:
                    vehicles.append(int(vehicle))
        links = np.concatenate((net.pred[trip], net.succ[trip]))
        links = links[inside[links]] if len(links) else links
        for other in links[np.argsort(np.array([rng.random() for _ in links]))].tolist() if len(links) else []:
            if other not in seen:
                seen.add(other)
                frontier.append(other)
    return vehicles, extra


def reoptimise(
    net: Network,
    routes: Routes,
    vehicles: list[int],
    extra: list[int],
    *,
    solutions: int,
    deadline: float,
    fresh: bool = False,
) -> bool:
    """Re-solve ``vehicles`` with their trips plus ``extra`` unserved trips in OR-Tools; keep it if better.

    ``solutions`` > 0 runs guided local search for that many solutions; 0 descends to a local optimum. ``fresh``
    starts from OR-Tools' own first solution (cheapest arc) rather than from the current routes.
    """
    trips = [t for v in vehicles for t in routes.trips[v]] + [t for t in extra if routes.where[t] < 0]
    trips = [t for t in trips if net.eligible[t, vehicles].any()]
    if not trips:
        return False
    depots = sorted({int(net.depot[v]) for v in vehicles})
    k, m = len(depots), len(trips)
    at = {d: i for i, d in enumerate(depots)}
    nodes = np.array(trips, dtype=np.int64)
    # Empty metres and drive seconds between every pair of nodes (depots first, then trips).
    empty = np.zeros((k + m, k + m), dtype=np.float64)
    drive = np.zeros((k + m, k + m), dtype=np.int64)
    empty[:k, k:] = net.out_km[depots][:, nodes]
    drive[:k, k:] = net.out_s[depots][:, nodes]
    empty[k:, :k] = net.in_km[nodes][:, depots]
    drive[k:, :k] = net.in_s[nodes][:, depots]
    tail = np.repeat(nodes, m)
    head = np.tile(nodes, m)
    km = net.travel.km(net.drop[tail, 0], net.drop[tail, 1], net.pick[head, 0], net.pick[head, 1]).reshape(m, m)
    empty[k:, k:] = km
    drive[k:, k:] = net.travel.seconds(km).astype(np.int64)
    metres = np.ceil(empty * 1000).astype(np.int64)
    service = np.concatenate((np.zeros(k, dtype=np.int64), net.service[nodes]))
    loaded = np.concatenate((np.zeros(k, dtype=np.int64), np.ceil(net.loaded_km[nodes] * 1000).astype(np.int64)))
    np.fill_diagonal(metres, 0)
    np.fill_diagonal(drive, 0)

    starts = [at[int(net.depot[v])] for v in vehicles]
    manager = pywrapcp.RoutingIndexManager(k + m, len(vehicles), starts, starts)
    model = pywrapcp.RoutingModel(manager)
    cost = model.RegisterTransitMatrix(metres.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(cost)
    busy = model.RegisterTransitMatrix((drive + service[:, None]).tolist())
    horizon = int(max(net.shift_end[vehicles].max(), net.late[nodes].max() + net.service[nodes].max())) + 1
    model.AddDimension(busy, horizon, horizon, False, "time")
    clock = model.GetDimensionOrDie("time")
    road = model.RegisterTransitMatrix((metres + loaded[None, :]).tolist())
    caps = [int(min(net.range_km[v] * 1000, 10**12)) for v in vehicles]
    model.AddDimensionWithVehicleCapacity(road, 0, caps, True, "road")
    for slot, vehicle in enumerate(vehicles):
        lo, hi = int(net.shift_start[vehicle]), int(net.shift_end[vehicle])
        clock.CumulVar(model.Start(slot)).SetRange(lo, hi)
        clock.CumulVar(model.End(slot)).SetRange(lo, hi)
    penalty = _penalties(m)
    for j, trip in enumerate(trips):
        index = manager.NodeToIndex(k + j)
        clock.CumulVar(index).SetRange(int(net.early[trip]), int(net.late[trip]))
        allowed = [slot for slot, v in enumerate(vehicles) if net.eligible[trip, v]]
        # SetAllowedVehiclesForIndex's binding refuses Python lists in this OR-Tools; this is what it does.
        model.VehicleVar(index).SetValues([-1, *allowed])
        model.AddDisjunction([index], penalty[int(net.tier[trip])])
    local = {trip: k + j for j, trip in enumerate(trips)}
    before = [[manager.NodeToIndex(local[t]) for t in routes.trips[v]] for v in vehicles]
    params = _parameters(solutions, deadline, whole=solutions > 0)
    if fresh:
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
        found = model.SolveWithParameters(params)
    else:
        model.CloseModelWithParameters(params)
        initial = model.ReadAssignmentFromRoutes(before, True)
        if initial is None:
            return False
        found = model.SolveFromAssignmentWithParameters(initial, params)
    if found is None:
        return False
    after: list[list[int]] = []
    for slot in range(len(vehicles)):
        order: list[int] = []
        index = found.Value(model.NextVar(model.Start(slot)))
        while not model.IsEnd(index):
            order.append(trips[manager.IndexToNode(index) - k])
            index = found.Value(model.NextVar(index))
        after.append(order)
    return _keep_if_better(routes, vehicles, after)


def _penalties(trips: int) -> list[int]:
    """Drop penalties per priority that make the routing objective lexicographic."""
    routine = _DROP_BASE
    law = routine * (trips + 1)
    return [law * (trips + 1), law, routine]


# Lin-Kernighan and expensive-chain relocation: 10 % of the time, no trip more served (measured at 100x500).
OPERATORS: dict[str, bool] = {"use_lin_kernighan": False, "use_relocate_expensive_chain": False}
BOOL = {True: optional_boolean_pb2.BOOL_TRUE, False: optional_boolean_pb2.BOOL_FALSE}


def _parameters(solutions: int, deadline: float, *, whole: bool) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    if whole:
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        params.solution_limit = solutions
    else:
        # A neighbourhood is small: descending to its local optimum beats a metaheuristic per second spent.
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        for name, value in OPERATORS.items():
            setattr(params.local_search_operators, name, BOOL[value])
    # The wall clock only as a backstop: the solution limit is what makes runs repeatable.
    if math.isfinite(deadline):
        params.time_limit.FromMilliseconds(max(1, int((deadline - time.perf_counter()) * 1000)))
    params.use_full_propagation = False
    return params


def _keep_if_better(routes: Routes, vehicles: list[int], after: list[list[int]]) -> bool:
    before = routes.objective()
    saved = [routes.copy_route(v) for v in vehicles]
    for vehicle in vehicles:
        routes.set_route(vehicle, [])
    for vehicle, order in zip(vehicles, after, strict=True):
        routes.set_route(vehicle, order)
    if all(routes.feasible(v) for v in vehicles) and better(routes.objective(), before):
        return True
    for vehicle in vehicles:
        routes.set_route(vehicle, [])
    for vehicle, order in zip(vehicles, saved, strict=True):
        routes.set_route(vehicle, order)
    return False


