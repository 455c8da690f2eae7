"""`solve(problem)`: build the network, construct, improve with OR-Tools, bound, explain, and report."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from dispatch import bounds, duties, exact, improve, parallel, tails
from dispatch.messages import msg
from dispatch.network import Network, build
from dispatch.plan import Bounds, Objective, Plan, Route, Status, StoppedBy, Unserved
from dispatch.problem import PRIORITIES, Problem, ProblemError
from dispatch.reasons import reason
from dispatch.routes import Routes, better, construct
from dispatch.stop import StopCriteria, WorkBudget
from dispatch.stop import limits as stop_limits
from dispatch.travel import Travel

BOUND_SHARE = 0.25  # of the time limit, at most, for the bounds of a plan the search finished early, ...
# ... unless the cheap served bounds (what some vehicle could serve alone) are already within this share of the plan's
# served trips per priority: the LP could tighten them by this share at most, so the search keeps the whole clock
# (the target for a served bound; on the nine 100 x 500 tuning days the last quarter of the clock searched
# gave less empty km or more trips on 16 of 18 runs at 10 and 30 s, and the cheap bounds are that tight on slack
# days, where VROOM was ahead; docs/benchmarks.md)
CHEAP_BOUND_TIGHT = 0.03
GO_ON_ROUNDS = 4  # a search that spent a clock's budget early goes on this many times at most, ...
GO_ON_MIN_SECONDS = 1.0  # ... while this much of the clock is left, and ...
GO_ON_MIN_SHARE = 0.1  # ... this share of it


def solve(
    problem: Problem,
    *,
    stop: StopCriteria | None = None,
    seed: int = 0,
    travel: Travel | None = None,
    time_limit: float | None = None,
    work: float | None = None,
    start: Mapping[str, Sequence[str]] | Plan | None = None,
    workers: int | None = None,
    bound_seconds: float | None = None,
) -> Plan:
    """Assign vehicles to trips: most emergency, then law-enforcement, then routine trips, then least empty km.

    :param problem: a validated `Problem` (`Problem.parse` / `Problem.read` refuse bad input first).
    :param stop: when the search stops (`dispatch.stop`): ``MaxRuntime(s)``, ``WorkBudget(s)`` or a tuple of both;
        default ``MaxRuntime(10)``. Building the network comes on top and is reported separately. A caller that
        needs the same plan on a loaded machine gives a `WorkBudget`, with a `MaxRuntime` well beyond it as a
        backstop if the wall time matters.
    :param seed: the same seed and work budget give the same plan.
    :param travel: road distances and times; the exchange format's geodesic model by default.
    :param time_limit: the older spelling of ``stop=MaxRuntime(time_limit)``; not together with ``stop``.
    :param work: the older spelling of a `WorkBudget` beside ``time_limit`` (which defaults to 10 s then).
    :param start: routes to begin from (vehicle id -> trip ids in order), or a plan of this problem (e.g. the last
        run's). A route its vehicle cannot drive is set aside and its trips placed again; unserved trips are then
        inserted and the search improves from there. The answer is never worse than the start.
    :param workers: processes the search may use; default: the cores this process may run on. The plan does not
        depend on it.
    :param bound_seconds: time for the bounds' LP relaxation (`dispatch.bounds.compute`), taken out of the time
        limit, whose search then stops that much earlier (at most half the limit). Default: what the search leaves of
        the limit, up to `BOUND_SHARE` of it, or nothing where the cheap served bounds are already within
        `CHEAP_BOUND_TIGHT` of the plan (nothing either when the search runs to the clock: the cheap bounds then
        stand and ``bounds.method`` says the LP was skipped); with no clock (a work budget alone), none. The bound's
        own time is ``bounds.seconds``.
    :raises TypeError: ``stop`` together with ``time_limit`` or ``work``, or ``stop`` not criteria.
    :raises ValueError: an empty tuple of criteria.
    :raises ProblemError: ``start`` names an unknown vehicle or trip, or a trip twice (the field is ``start.<id>``).
    """
    clock: float | None
    if stop is None:
        # The keywords keep their meaning unchecked, exactly as before the criteria existed.
        limit = 10.0 if time_limit is None else time_limit
        clock, budget = limit, limit if work is None else min(work, limit)
        budgeted = work is not None
    elif time_limit is not None or work is not None:
        raise TypeError("solve: give stop=... or time_limit=/work=, not both")
    else:
        clock, budget = stop_limits(stop)
        budgeted = any(isinstance(c, WorkBudget) for c in (stop if isinstance(stop, tuple) else (stop,)))
    given = route_ids(problem, start, "start") if start is not None else None
    processes = max(1, parallel.cores() if workers is None else int(workers))
    reserve = max(0.0, bound_seconds or 0.0)
    if clock is not None:
        reserve = min(reserve, clock / 2)  # the plan comes first: the bound never takes more than half the limit
    if reserve > 0 or improve.prices(len(problem.vehicles)):
        # Before the clock: loading the compiled pricing takes about 0.4 s and 130 MB, once a process. Larger days
        # price only in the duties' bound stages, which run in time the caller sets aside.
        duties.load_pricing()
    if improve.TAILS and not improve.whole_day(len(problem.trips), len(problem.vehicles)):
        tails.load_sweeps()  # the same for the compiled tail exchange: 0.4-0.7 s, once a process
    started = time.perf_counter()
    net = build(problem, travel)
    built = time.perf_counter()
    able = bounds.servable(net)
    first = warm(net, given) if given is not None else None
    optimum = exact.solve_exact(net, able) if exact.applies(net) else None
    stopped: StoppedBy
    if optimum is not None and (first is None or not better(first.objective(), optimum.objective())):
        routes, stopped = optimum, "optimal"
    else:
        routes = construct(net, routes=first.copy() if first is not None else None)
        target = _missing_target(net, able)
        stopped = improve.improve(
            net, routes, deadline=math.inf if clock is None else built + clock - reserve, seed=seed, target=target,
            work=budget, workers=processes,
        )
        if clock is not None and not budgeted and improve.GO_ON and not improve.whole(net):
            # A clock alone sets the budget in seconds of the reference machine; a faster machine spends it early.
            # The dispatcher waits for the clock all the same: search on from these routes (only improvements are
            # kept) until the clock, less the bound's share where the bounds' LP has something to tighten. A caller
            # who needs the plan repeatable gives a budget.
            # Not on a day small enough for one routing model: price-and-branch has settled it (on the fifteen
            # small tuning days at 10 s, going on gained 3 plans a little empty km, and cost every day the clock).
            if bound_seconds is not None:
                until = built + clock - reserve
            else:  # the bound's share, unless the cheap bounds already bind
                until = built + clock - (0.0 if cheap_bounds_bind(net, able, routes) else BOUND_SHARE * clock)
            for round_ in range(1, GO_ON_ROUNDS + 1):
                left = until - time.perf_counter()
                if stopped != "work budget" or left < max(GO_ON_MIN_SECONDS, GO_ON_MIN_SHARE * clock):
                    break
                stopped = improve.improve(net, routes, deadline=until, seed=seed + round_, target=target, work=left,
                                          workers=processes)
        if first is not None and better(first.objective(), routes.objective()):
            routes = first  # the search only ever keeps improvements; this guards the promise all the same
    needed = exact.min_vehicles(net, np.flatnonzero(able)) if net.n <= exact.COVER_LIMIT else None
    searched = time.perf_counter()
    if clock is None:
        bound_deadline = searched + reserve
    elif bound_seconds is None:  # what the search left, but a plan found early is not held back long for its bound
        bound_deadline = min(built + clock, searched + BOUND_SHARE * clock)
    else:
        bound_deadline = built + clock if reserve > 0 else searched
    plan = assemble(
        net,
        routes,
        stopped=stopped,
        seed=seed,
        time_limit=clock,
        build_seconds=built - started,
        solve_seconds=searched - built,
        exact=routes is optimum,
        vehicles_needed=needed,
        bound_deadline=bound_deadline,
        workers=1 if routes is optimum or improve.whole(net) else processes,
        bound_workers=processes,
        # Only in time the caller set aside: a stage that does not converge runs to its deadline, and a plan
        # whose search ended early would otherwise be held back until then.
        bound_duties=reserve > 0,
    )
    return plan


def route_ids(problem: Problem, given: Mapping[str, Sequence[str]] | Plan, field: str) -> dict[int, list[int]]:
    """Routes given by id (vehicle id -> trip ids in order, or a plan's) as vehicle and trip numbers, refusing
    unknown ids and a trip given twice; ``field`` names the argument in the refusal (``start.<vehicle>``)."""
    if isinstance(given, Plan):
        given = {route.vehicle: route.trips for route in given.routes}
    if not isinstance(given, Mapping):
        raise ProblemError(field, msg("expected routes (vehicle id -> trip ids) or a plan"))
    vehicles, trips = problem.vehicle_index(), problem.trip_index()
    seen: set[str] = set()
    routes: dict[int, list[int]] = {}
    for vehicle, route in given.items():
        where = f"{field}.{vehicle}"
        if vehicle not in vehicles:
            raise ProblemError(where, msg("unknown vehicle"))
        if isinstance(route, str) or not isinstance(route, Sequence):
            raise ProblemError(where, msg("expected a list of trip ids"))
        for trip in route:
            if trip not in trips:
                raise ProblemError(where, msg("unknown trip {trip!r}", trip=trip))
            if trip in seen:
                raise ProblemError(where, msg("trip {trip!r} is on two routes", trip=trip))
            seen.add(trip)
        routes[vehicles[vehicle]] = [trips[t] for t in route]
    return routes


def warm(net: Network, given: Mapping[int, list[int]]) -> Routes:
    """The given routes, each vehicle that cannot drive its route set empty and its trips placed again by cheapest
    insertion, most important and earliest first."""
    routes = Routes(net)
    loose: list[int] = []
    for vehicle, order in sorted(given.items()):
        routes.set_route(vehicle, order)
        if not routes.feasible(vehicle):
            loose.extend(order)
            routes.set_route(vehicle, [])
    unused = routes.unused()
    for trip in sorted(loose, key=lambda t: (int(net.tier[t]), int(net.late[t]), int(net.early[t]), t)):
        found = routes.best(trip, unused)
        if found is not None:
            routes.apply(trip, found)
            unused[found.vehicle] = False
    return routes


class InfeasibleRoutes(ProblemError):
    """Given routes that their vehicles cannot drive; ``vehicles`` names every one, so a caller can set them
    aside in one go."""

    def __init__(self, vehicles: list[str]) -> None:
        super().__init__("routes", msg("{count} vehicle(s) cannot drive their route within its windows, shift, range "
                                       "and categories: {vehicles}", count=len(vehicles),
                                       vehicles=", ".join(vehicles[:10])))
        self.vehicles = vehicles


def plan_of(problem: Problem, routes: Mapping[str, Sequence[str]], *, travel: Travel | None = None) -> Plan:
    """The plan that runs the given routes (vehicle id -> trip ids in order), e.g. to `insert` into a running day.

    :raises ProblemError: an unknown id or a trip on two routes.
    :raises InfeasibleRoutes: routes their vehicles cannot drive in time, all of them named.
    """
    given = route_ids(problem, routes, "routes")
    started = time.perf_counter()
    net = build(problem, travel)
    state = Routes(net)
    for index, route in given.items():
        state.set_route(index, route)
    infeasible = [problem.vehicles[index].id for index in given if not state.feasible(index)]
    if infeasible:
        raise InfeasibleRoutes(infeasible)
    built = time.perf_counter()
    return assemble(net, state, stopped="work budget", seed=0, time_limit=0.0,
                    build_seconds=built - started, solve_seconds=0.0, bounded=False)


def cheap_bounds_bind(net: Network, able: np.ndarray, routes: Routes) -> bool:
    """Whether the trips some vehicle could serve alone (``able``) are within `CHEAP_BOUND_TIGHT` of what ``routes``
    serve, for every priority: then the bounds' LP has little left to tighten."""
    upper = bounds.served_upper(net, able)
    served = objective_of(net, routes).served
    return all(upper[p] - served[p] <= CHEAP_BOUND_TIGHT * served[p] for p in PRIORITIES)


def _missing_target(net: Network, able: np.ndarray) -> tuple[int, int, int]:
    """Trips per priority that no plan can serve: the search may stop once only those are left."""
    unable = np.bincount(net.tier[~able], minlength=len(PRIORITIES))
    return int(unable[0]), int(unable[1]), int(unable[2])


def routes_out(net: Network, routes: Routes, vehicles: Iterable[int]) -> list[Route]:
    """The plan's view of the given vehicles' routes (vehicles without trips left out)."""
    problem = net.problem
    return [
        Route(
            vehicle=problem.vehicles[vehicle].id,
            trips=[problem.trips[t].id for t in routes.trips[vehicle]],
            pickups=[_when(net, second) for second in routes.start[vehicle]],
            empty_km=round(sum(routes.legs[vehicle]), 3),
            road_km=round(routes.km[vehicle], 3),
        )
        for vehicle in vehicles
        if routes.trips[vehicle]
    ]


def objective_of(net: Network, routes: Routes) -> Objective:
    """Trips served and offered per priority, empty and total km, vehicles used."""
    served = np.bincount(net.tier[routes.where >= 0], minlength=len(PRIORITIES))
    offered = np.bincount(net.tier, minlength=len(PRIORITIES))
    return Objective(
        served={p: int(served[i]) for i, p in enumerate(PRIORITIES)},
        offered={p: int(offered[i]) for i, p in enumerate(PRIORITIES)},
        deadhead_km=round(routes.empty_km(), 3),
        total_km=round(sum(routes.km), 3),
        vehicles_used=sum(1 for trips in routes.trips if trips),
    )


def assemble(
    net: Network,
    routes: Routes,
    *,
    stopped: StoppedBy,
    seed: int,
    time_limit: float | None,
    build_seconds: float,
    solve_seconds: float,
    exact: bool = False,
    vehicles_needed: int | None = None,
    bounded: bool = True,
    bound_deadline: float = -math.inf,
    workers: int = 1,
    bound_workers: int = 1,
    bound_duties: bool = False,
) -> Plan:
    """Turn solver routes into a `Plan` with reasons, objective, bounds and gap (``bounded=False``: no bounds,
    for routes given rather than solved, whose bound nobody asked for). The bounds' LP gets until
    ``bound_deadline`` (a `time.perf_counter` instant; past: the cheap bounds alone), on up to ``bound_workers``
    processes; ``bound_duties``: the served stages over duties too (`dispatch.bounds.compute`)."""
    problem = net.problem
    unserved = [
        Unserved(trip=problem.trips[t].id, priority=problem.trips[t].priority, reason=reason(net, routes, t))
        for t in np.flatnonzero(routes.where < 0).tolist()
    ]
    objective = objective_of(net, routes)
    if not bounded:
        bound = given_bounds(objective)
    elif exact:  # the plan is its own bound
        bound = Bounds(
            served_upper=objective.served,
            deadhead_lower_km=objective.deadhead_km,
            vehicles_needed=vehicles_needed,
            method="exact min-cost flow",
        )
    else:
        bound = bounds.compute(net, routes, deadline=bound_deadline, vehicles_needed=vehicles_needed,
                               workers=bound_workers, duty_stages=bound_duties)
    gap = bound.gap(objective)
    # Zero gaps prove the served counts; the empty-km bound holds for this plan's set of trips only, so it proves
    # the km too only when that set is forced: every trip some vehicle could serve is served.
    proven = exact or (bounded and all(v == 0 for v in gap.values())
                       and objective.served == bounds.served_upper(net, bounds.servable(net)))
    status: Status = "optimal" if proven else "feasible"
    plan = Plan(
        instance=problem.name,
        status=status,
        routes=routes_out(net, routes, range(net.vehicles)),
        unserved=unserved,
        objective=objective,
        bounds=bound,
        gap=gap,
        build_seconds=round(build_seconds, 3),
        solve_seconds=round(solve_seconds, 3),
        seed=seed,
        time_limit=time_limit,
        stopped_by="optimal" if status == "optimal" else stopped,
        workers=workers,
    )
    plan._state = routes
    return plan


def given_bounds(objective: Objective) -> Bounds:
    """The bounds of routes given rather than solved: none computed (what is offered, no empty km)."""
    return Bounds(served_upper=objective.offered, deadhead_lower_km=0.0,
                  method="not computed: the routes were given, not solved")


def _when(net: Network, second: int) -> datetime:
    return datetime.fromtimestamp(net.epoch, tz=UTC) + timedelta(seconds=second)
