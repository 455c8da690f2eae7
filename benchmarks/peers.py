"""Peer solvers for the dispatch benchmark: PyVRP, VROOM (pyvroom) and plain OR-Tools routing.

Each ``solve_with_<peer>(instance, time_limit, seed) -> solution`` takes an instance in the exchange format
(``dispatch-format.md``) and returns a solution in it; trips the peer leaves out are listed as unserved with the
reason ``"not routed by <peer>"``. These are benchmark-only dependencies (``pip install pyvrp pyvroom``); the
package itself never imports this module.

The reduction, the same for every peer (`Reduction`):

* **Nodes.** One per depot, then one per trip. A trip's node is entered at its pickup and left at its drop-off,
  so its *service time* is the loaded drive (pickup -> drop-off) plus the dwell, and its *time window*
  ``[earliest_pickup, latest_pickup]`` applies to the start of service (the pickup).
* **Arcs.** The arc i -> j is the empty drive from i's exit point (drop-off, or the depot) to j's entry point
  (pickup, or the depot): asymmetric. Its length is the road km (WGS-84 geodesic x ``road_factor``, computed
  with a vectorised Vincenty inverse that agrees with geopy to well under a millimetre) rounded **up** to whole
  metres, and its time is that length at ``speed_kmh`` rounded **up** to whole seconds; the loaded drive time is
  rounded up too. So each peer plans with times and distances never shorter than the referee's and its answer
  re-simulates feasibly (the referee also allows 60 s and 0.1 % slack).
* **Cost vs range.** The objective counts only empty km, but ``range_km`` caps *all* km, loaded included. So the
  peers see two arc measures: the cost ``dead[i, j]`` and the range measure ``dead[i, j] + loaded[i]`` (a trip's
  loaded km rides on the arc leaving it; every route leaves each of its trips exactly once, so the sum is exact).
  OR-Tools and VROOM take the two separately (arc cost + a distance dimension / costs + distances matrices).
  PyVRP has one distance for both cost and ``max_distance``; there the cost also picks up ``loaded[i]`` for each
  served trip, and we cancel that exactly by adding ``loaded[i]`` to trip i's prize: total cost = deadhead +
  sum of all loaded km (a constant) + prizes of the unserved trips.
* **Vehicles.** Start and end at their depot; the shift is the vehicle's time window (leave no earlier than the
  start, back no later than the end); ``range_km`` is the maximum distance (rounded down to metres).
* **Eligibility.** A trip may go to a vehicle whose category is listed and whose seats hold the passengers.
  OR-Tools: the node's allowed vehicles. (``SetAllowedVehiclesForIndex`` cannot be called from the 9.15 Python
  wheel, whose SWIG layer has no conversion to ``absl::Span<const int>``; we restrict the node's vehicle variable
  to those vehicles and -1, which is what that method does underneath.) VROOM: skills, one per distinct set of
  eligible vehicle kinds (category, seats); a vehicle holds every skill whose set contains its kind. PyVRP 0.14
  has no per-client allowed vehicles (profiles only change the matrices, and a profile per vehicle kind would
  need a dense matrix pair each); instead each distinct eligibility class gets its own load dimension: its trips
  deliver 1 unit in it, eligible vehicles have a capacity there that no route can fill, ineligible ones 0. That
  is exact, not an approximation. Trips that no vehicle may serve are left out of every model.
* **Priorities.** OR-Tools disjunction penalties are lexicographic: a routine trip is worth more than all the
  deadhead the fleet can drive in a day, a law-enforcement trip more than all routine trips together, an
  emergency more than all law-enforcement trips together, as long as the total fits in int64 with room
  (``PENALTY_CAP``); beyond that the emergency weight is capped (it stays far above a law-enforcement trip).
  PyVRP's prizes must stay below its penalty ceiling (see ``PYVRP_PRIZE``): 1,000 km of deadhead for a routine
  trip and x100 per level. VROOM only knows a job ``priority`` in 0..100, maximised in sum before the number of
  assigned jobs and then the cost; we use emergency 100, law enforcement 1, routine 0, which makes law
  enforcement >> routine exact but values one emergency as 100 law-enforcement trips.
* **Time limit.** The search gets the whole ``time_limit``; building the matrix and the model comes on top, as
  for our engine's ``--time-limit`` ("seconds of optimisation, build time extra"). Each peer runs
  single-threaded.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

PRIORITIES = ("emergency", "law_enforcement", "routine")
PENALTY_CAP = 10**18
#: Rows per block when building the matrix, so temporaries stay ~100 MB at 10,000 nodes.
BLOCK_ROWS = 256

_A = 6378137.0
_F = 1 / 298.257223563
_B = _A * (1 - _F)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def geodesic_m(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """WGS-84 geodesic distance in metres (Vincenty's inverse formula), broadcasting over the arguments.

    Converges in a few iterations for points in one city; agrees with ``geopy.distance.geodesic`` (Karney) to
    well under a millimetre there. Not meant for nearly antipodal points.
    """
    lam0 = np.radians(lon2 - lon1)
    u1 = np.arctan((1 - _F) * np.tan(np.radians(lat1)))
    u2 = np.arctan((1 - _F) * np.tan(np.radians(lat2)))
    su1, cu1, su2, cu2 = np.sin(u1), np.cos(u1), np.sin(u2), np.cos(u2)
    lam = lam0
    for _ in range(20):
        sl, cl = np.sin(lam), np.cos(lam)
        ss = np.sqrt((cu2 * sl) ** 2 + (cu1 * su2 - su1 * cu2 * cl) ** 2)
        cs = su1 * su2 + cu1 * cu2 * cl
        sig = np.arctan2(ss, cs)
        safe = np.where(ss > 0, ss, 1.0)
        sa = np.where(ss > 0, cu1 * cu2 * sl / safe, 0.0)
        c2a = 1 - sa * sa
        c2sm = np.where(c2a > 0, cs - 2 * su1 * su2 / np.where(c2a > 0, c2a, 1.0), 0.0)
        c = _F / 16 * c2a * (4 + _F * (4 - 3 * c2a))
        nxt = lam0 + (1 - c) * _F * sa * (sig + c * ss * (c2sm + c * cs * (-1 + 2 * c2sm * c2sm)))
        done = bool(np.all(np.abs(nxt - lam) < 1e-12))
        lam = nxt
        if done:
            break
    u_sq = c2a * (_A * _A - _B * _B) / (_B * _B)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    dsig = (
        big_b
        * ss
        * (c2sm + big_b / 4 * (cs * (-1 + 2 * c2sm**2) - big_b / 6 * c2sm * (-3 + 4 * ss**2) * (-3 + 4 * c2sm**2)))
    )
    out: FloatArray = _B * big_a * (sig - dsig)
    return out


def _seconds(instant: str) -> float:
    return datetime.fromisoformat(instant).timestamp()


@dataclass
class Reduction:
    """An instance as one node per depot and trip, in integer metres and seconds from `origin`."""

    instance: dict[str, Any]
    origin: float  # epoch seconds of time 0
    depot_ids: list[str]
    trip_ids: list[str]
    priority: list[str]  # per trip
    dead: npt.NDArray[np.int32]  # (nodes, nodes) empty metres from exit of i to entry of j, rounded up
    loaded: IntArray  # (nodes,) loaded metres of the node (0 for depots), rounded up
    service: IntArray  # (nodes,) loaded seconds (rounded up) + dwell
    tw: IntArray  # (nodes, 2) service start window (depots: whole horizon)
    vehicle_ids: list[str]
    start_node: list[int]
    shift: IntArray  # (vehicles, 2)
    range_m: list[int | None]
    eligible: list[list[int]]  # per trip, the vehicles that may serve it
    kind_of_vehicle: list[int]  # vehicle -> kind index (category, seats)
    trip_class: list[int]  # trip -> eligibility class (distinct set of kinds), -1 if none
    class_kinds: list[frozenset[int]]
    penalty: dict[str, int]
    speed_kmh: float
    build_seconds: float

    @property
    def depots(self) -> int:
        return len(self.depot_ids)

    def node(self, trip: int) -> int:
        return self.depots + trip

    def duration(self, dead: npt.NDArray[np.integer[Any]]) -> IntArray:
        """Seconds to drive `dead` metres, rounded up."""
        return np.ceil(dead.astype(np.float64) * (3.6 / self.speed_kmh)).astype(np.int64)

    @classmethod
    def build(cls, instance: dict[str, Any]) -> Reduction:
        """Reduce an exchange-format instance; the matrix is built in row blocks."""
        began = time.perf_counter()
        factor = float(instance.get("road_factor", 1.3))
        speed = float(instance.get("speed_kmh", 30.0))
        depots = instance["depots"]
        trips = instance["trips"]
        vehicles = instance["vehicles"]
        n_dep, n_trip = len(depots), len(trips)
        nodes = n_dep + n_trip
        entry = np.array(
            [[d["lat"], d["lon"]] for d in depots] + [[t["pickup"]["lat"], t["pickup"]["lon"]] for t in trips],
            dtype=np.float64,
        ).reshape(nodes, 2)
        exit_ = np.array(
            [[d["lat"], d["lon"]] for d in depots] + [[t["dropoff"]["lat"], t["dropoff"]["lon"]] for t in trips],
            dtype=np.float64,
        ).reshape(nodes, 2)
        dead = np.empty((nodes, nodes), dtype=np.int32)
        for lo in range(0, nodes, BLOCK_ROWS):
            hi = min(nodes, lo + BLOCK_ROWS)
            block = geodesic_m(exit_[lo:hi, :1], exit_[lo:hi, 1:], entry[None, :, 0], entry[None, :, 1])
            dead[lo:hi] = np.ceil(block * factor)
        np.fill_diagonal(dead[:n_dep, :n_dep], 0)
        loaded_m = np.ceil(geodesic_m(entry[:, 0], entry[:, 1], exit_[:, 0], exit_[:, 1]) * factor)
        loaded = loaded_m.astype(np.int64)
        loaded[:n_dep] = 0

        origin = min([_seconds(v["shift_start"]) for v in vehicles] + [_seconds(t["earliest_pickup"]) for t in trips])
        horizon = max([_seconds(v["shift_end"]) for v in vehicles] + [_seconds(t["latest_pickup"]) for t in trips])
        span = math.ceil(horizon - origin) + 1
        service = np.zeros(nodes, dtype=np.int64)
        service[n_dep:] = np.ceil(loaded[n_dep:] * (3.6 / speed)).astype(np.int64) + np.array(
            [round(60 * float(t.get("dwell_min", 0))) for t in trips], dtype=np.int64
        )
        tw = np.zeros((nodes, 2), dtype=np.int64)
        tw[:n_dep, 1] = span
        for k, trip in enumerate(trips):
            # round the window inwards so that a start inside it is inside the real one
            tw[n_dep + k] = (
                math.ceil(_seconds(trip["earliest_pickup"]) - origin),
                math.floor(_seconds(trip["latest_pickup"]) - origin),
            )

        depot_index = {d["id"]: k for k, d in enumerate(depots)}
        kinds: dict[tuple[str, int], int] = {}
        kind_of_vehicle = [kinds.setdefault((v["category"], int(v["seats"])), len(kinds)) for v in vehicles]
        classes: dict[frozenset[int], int] = {}
        trip_class: list[int] = []
        for trip in trips:
            allowed = frozenset(
                k
                for (category, seats), k in kinds.items()
                if category in trip["categories"] and seats >= int(trip.get("passengers", 1))
            )
            trip_class.append(classes.setdefault(allowed, len(classes)) if allowed else -1)
        class_kinds = sorted(classes, key=classes.__getitem__)
        vehicles_of_kind: dict[int, list[int]] = defaultdict(list)
        for v, kind in enumerate(kind_of_vehicle):
            vehicles_of_kind[kind].append(v)
        eligible_of_class = [sorted(v for kind in ks for v in vehicles_of_kind[kind]) for ks in class_kinds]
        shift = np.array(
            [
                [math.ceil(_seconds(v["shift_start"]) - origin), math.floor(_seconds(v["shift_end"]) - origin)]
                for v in vehicles
            ],
            dtype=np.int64,
        ).reshape(len(vehicles), 2)
        range_m = [None if v.get("range_km") is None else int(float(v["range_km"]) * 1000) for v in vehicles]
        priority = [t["priority"] for t in trips]
        return cls(
            instance=instance,
            origin=origin,
            depot_ids=[d["id"] for d in depots],
            trip_ids=[t["id"] for t in trips],
            priority=priority,
            dead=dead,
            loaded=loaded,
            service=service,
            tw=tw,
            vehicle_ids=[v["id"] for v in vehicles],
            start_node=[depot_index[v["depot"]] for v in vehicles],
            shift=shift,
            range_m=range_m,
            eligible=[eligible_of_class[c] if c >= 0 else [] for c in trip_class],
            kind_of_vehicle=kind_of_vehicle,
            trip_class=trip_class,
            class_kinds=class_kinds,
            penalty=_penalties(priority, shift, range_m, speed),
            speed_kmh=speed,
            build_seconds=time.perf_counter() - began,
        )

    def routable(self) -> list[int]:
        """Trips some vehicle may serve (category and seats); the others are left out of every model."""
        return [k for k, vs in enumerate(self.eligible) if vs]

    def solution(self, routes: dict[int, list[int]], peer: str, seconds: float) -> dict[str, Any]:
        """An exchange-format solution from vehicle -> trip indices."""
        routed = {k for order in routes.values() for k in order}
        return {
            "format": "dispatch/1",
            "instance": self.instance.get("name", ""),
            "routes": [
                {"vehicle": self.vehicle_ids[v], "trips": [self.trip_ids[k] for k in order]}
                for v, order in sorted(routes.items())
                if order
            ],
            "unserved": [
                {"trip": tid, "reason": f"not routed by {peer}"}
                for k, tid in enumerate(self.trip_ids)
                if k not in routed
            ],
            "solve_seconds": round(seconds, 3),
        }


def _penalties(priority: list[str], shift: IntArray, range_m: list[int | None], speed_kmh: float) -> dict[str, int]:
    """Lexicographic unserved penalties in metres: each level outweighs everything below it (see module doc)."""
    reach = [
        int((end - start) * speed_kmh / 3.6) if cap is None else min(cap, int((end - start) * speed_kmh / 3.6))
        for (start, end), cap in zip(shift.tolist(), range_m, strict=True)
    ]
    count = {p: priority.count(p) for p in PRIORITIES}
    routine = sum(reach) + 1  # more than all the deadhead the fleet can drive
    law = routine * (count["routine"] + 1)
    emergency = law * (count["law_enforcement"] + 1)
    if count["emergency"] * emergency + count["law_enforcement"] * law + count["routine"] * routine > PENALTY_CAP:
        room = PENALTY_CAP - count["law_enforcement"] * law - count["routine"] * routine
        emergency = max(law + 1, room // max(1, count["emergency"]))
    return {"emergency": emergency, "law_enforcement": law, "routine": routine}


# --------------------------------------------------------------------------------------------------- PyVRP


#: PyVRP prizes (metres). PyVRP treats constraint violations as penalties per unit (per second of lateness,
#: per unit of excess load, per metre over range) that it tunes up to ``max_penalty``; with prizes above that
#: ceiling it would rather keep a trip in an infeasible route than drop it, and no feasible answer comes out.
#: The ceiling must stay small enough that ``penalty x violation`` fits in int64, so the prizes are bounded
#: too: a routine trip is worth 1,000 km of deadhead (more than any single trip can add), and each level
#: 100 trips of the level below. That is lexicographic as long as fewer than 100 trips of one level compete.
PYVRP_PRIZE = {"emergency": 10**10, "law_enforcement": 10**8, "routine": 10**6}
PYVRP_MAX_PENALTY = 1e11


#: Penalty updates: PyVRP's default (every 500 solutions) leaves the penalties near their start for a whole
#: 10-60 s run at these sizes (~100 iterations/s at 500 trips); with 25 they adapt.
PYVRP_SOLUTIONS_BETWEEN_UPDATES = 25


def _pyvrp_penalties() -> type:
    from pyvrp import PenaltyParams

    class Penalties(PenaltyParams):  # type: ignore[misc]
        """Start the penalties on the scale of the smallest prize, and let them rise to `PYVRP_MAX_PENALTY`."""

        def midpoint_penalties(self, data: Any) -> tuple[list[float], float, float]:
            start = float(PYVRP_PRIZE["routine"])  # a unit of violation costs about as much as a routine trip
            return [start] * data.num_load_dimensions, start, start

    return Penalties


def solve_with_pyvrp(instance: dict[str, Any], time_limit: float, seed: int) -> dict[str, Any]:
    """PyVRP: optional clients with prizes, one load dimension per eligibility class, one distance matrix."""
    import pyvrp
    from pyvrp.stop import MaxRuntime

    _PyVRPPenalties = _pyvrp_penalties()

    began = time.perf_counter()
    red = Reduction.build(instance)
    todo = red.routable()
    n_class = len(red.class_kinds)
    per_class = [0] * n_class
    for k in todo:
        per_class[red.trip_class[k]] += 1

    locations = [pyvrp.Location(0.0, 0.0) for _ in range(red.depots)] + [
        pyvrp.Location(0.0, 0.0) for _ in todo
    ]  # coordinates unused: the matrices are explicit
    depots = [pyvrp.Depot(location=d, name=red.depot_ids[d]) for d in range(red.depots)]
    clients = []
    for k in todo:
        demand = [0] * n_class
        demand[red.trip_class[k]] = 1
        node = red.node(k)
        clients.append(
            pyvrp.Client(
                location=len(clients) + red.depots,
                delivery=demand,
                service_duration=int(red.service[node]),
                tw_early=int(red.tw[node, 0]),
                tw_late=int(red.tw[node, 1]),
                prize=PYVRP_PRIZE[red.priority[k]] + int(red.loaded[node]),
                required=False,
                name=red.trip_ids[k],
            )
        )
    # vehicles that are interchangeable form one type
    types: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for v in range(len(red.vehicle_ids)):
        key = (red.start_node[v], *red.shift[v].tolist(), red.range_m[v], red.kind_of_vehicle[v])
        types[key].append(v)
    vehicle_types = []
    type_vehicles: list[list[int]] = []
    for (depot, start, end, cap, kind), members in types.items():
        capacity = [per_class[c] if kind in red.class_kinds[c] else 0 for c in range(n_class)]
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=len(members),
                capacity=capacity,
                start_depot=depot,
                end_depot=depot,
                tw_early=start,
                tw_late=end,
                **({} if cap is None else {"max_distance": cap}),
            )
        )
        type_vehicles.append(members)

    sub = np.array(list(range(red.depots)) + [red.node(k) for k in todo], dtype=np.int64)
    distance = red.dead[np.ix_(sub, sub)].astype(np.int64)
    duration = red.duration(distance)
    distance += red.loaded[sub][:, None]  # loaded km ride on the arc leaving the trip (range counts them)
    np.fill_diagonal(distance, 0)
    np.fill_diagonal(duration, 0)
    data = pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=[distance],
        duration_matrices=[duration],
    )
    del distance, duration
    penalties = _PyVRPPenalties(
        max_penalty=PYVRP_MAX_PENALTY, solutions_between_updates=PYVRP_SOLUTIONS_BETWEEN_UPDATES
    )
    params = pyvrp.SolveParams(penalty=penalties)
    stop = MaxRuntime(time_limit)
    result = pyvrp.solve(data, stop=stop, seed=seed, collect_stats=False, display=False, params=params)
    routes: dict[int, list[int]] = {}
    if result.best.is_feasible():
        pool = [list(members) for members in type_vehicles]
        for route in result.best.routes():
            vehicle = pool[route.vehicle_type()].pop(0)
            routes[vehicle] = [todo[act.idx] for act in route.schedule() if act.is_client()]
    return red.solution(routes, "pyvrp", time.perf_counter() - began)


# --------------------------------------------------------------------------------------------------- VROOM


VROOM_PRIORITY = {"emergency": 100, "law_enforcement": 1, "routine": 0}


def solve_with_vroom(instance: dict[str, Any], time_limit: float, seed: int) -> dict[str, Any]:
    """VROOM: jobs with skills and priorities; costs (empty m), distances (range m) and durations matrices.

    VROOM's search is deterministic; ``seed`` is accepted for a uniform interface and unused.
    """
    import vroom

    del seed
    began = time.perf_counter()
    red = Reduction.build(instance)
    todo = red.routable()
    sub = np.array(list(range(red.depots)) + [red.node(k) for k in todo], dtype=np.int64)
    cost = red.dead[np.ix_(sub, sub)].astype(np.uint32)
    problem = vroom.Input()
    problem.set_durations_matrix("car", red.duration(cost).astype(np.uint32))
    problem.set_costs_matrix("car", cost)
    cost += red.loaded[sub][:, None].astype(np.uint32)  # range measure: loaded km on the arc leaving the trip
    problem.set_distances_matrix("car", cost)
    del cost
    for v, vid in enumerate(red.vehicle_ids):
        skills = {c for c, ks in enumerate(red.class_kinds) if red.kind_of_vehicle[v] in ks}
        extra: dict[str, Any] = {} if red.range_m[v] is None else {"max_distance": red.range_m[v]}
        problem.add_vehicle(
            vroom.Vehicle(
                id=v,
                start=vroom.LocationIndex(red.start_node[v]),
                end=vroom.LocationIndex(red.start_node[v]),
                skills=skills,
                time_window=vroom.TimeWindow(int(red.shift[v, 0]), int(red.shift[v, 1])),
                description=vid,
                **extra,
            )
        )
    for pos, k in enumerate(todo):
        node = red.node(k)
        problem.add_job(
            vroom.Job(
                id=k,
                location=vroom.LocationIndex(red.depots + pos),
                default_service=int(red.service[node]),
                skills={red.trip_class[k]},
                priority=VROOM_PRIORITY[red.priority[k]],
                time_windows=[vroom.TimeWindow(int(red.tw[node, 0]), int(red.tw[node, 1]))],
                description=red.trip_ids[k],
            )
        )
    answer = problem.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=time_limit))
    routes: dict[int, list[int]] = defaultdict(list)
    frame = answer.routes
    for vehicle, kind, job in zip(frame["vehicle_id"], frame["type"], frame["id"], strict=True):
        if str(kind) == "job":
            routes[int(vehicle)].append(int(job))
    return red.solution(dict(routes), "vroom", time.perf_counter() - began)


# ------------------------------------------------------------------------------------------------ OR-Tools

#: Above this many nodes the arc measures are Python callbacks instead of registered matrices (memory).
ORTOOLS_MATRIX_NODES = 2500


def solve_with_ortools(instance: dict[str, Any], time_limit: float, seed: int) -> dict[str, Any]:
    """Plain OR-Tools routing: allowed vehicles, disjunction penalties, PATH_CHEAPEST_ARC then GLS.

    The routing solver has no seed parameter; ``seed`` is accepted for a uniform interface and unused.
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    del seed
    began = time.perf_counter()
    red = Reduction.build(instance)
    todo = red.routable()
    sub = np.array(list(range(red.depots)) + [red.node(k) for k in todo], dtype=np.int64)
    n_vehicles = len(red.vehicle_ids)
    manager = pywrapcp.RoutingIndexManager(len(sub), n_vehicles, red.start_node, red.start_node)
    model = pywrapcp.RoutingModel(manager)

    dead = red.dead[np.ix_(sub, sub)]
    loaded = red.loaded[sub]
    service = red.service[sub]
    if len(sub) <= ORTOOLS_MATRIX_NODES:
        dead64 = dead.astype(np.int64)
        cost_cb = model.RegisterTransitMatrix(dead64.tolist())
        time_cb = model.RegisterTransitMatrix((red.duration(dead) + service[:, None]).tolist())
        range_cb = model.RegisterTransitMatrix((dead64 + loaded[:, None]).tolist())
        del dead64
    else:
        to_node: Callable[[int], int] = manager.IndexToNode
        seconds = 3.6 / red.speed_kmh

        def cost_of(i: int, j: int) -> int:
            return int(dead[to_node(i), to_node(j)])

        def time_of(i: int, j: int) -> int:
            a = to_node(i)
            return int(service[a]) + math.ceil(float(dead[a, to_node(j)]) * seconds)

        def range_of(i: int, j: int) -> int:
            a = to_node(i)
            return int(dead[a, to_node(j)]) + int(loaded[a])

        cost_cb = model.RegisterTransitCallback(cost_of)
        time_cb = model.RegisterTransitCallback(time_of)
        range_cb = model.RegisterTransitCallback(range_of)
    model.SetArcCostEvaluatorOfAllVehicles(cost_cb)

    span = int(red.tw[:, 1].max())
    model.AddDimension(time_cb, span, span, False, "time")
    clock = model.GetDimensionOrDie("time")
    unlimited = int(dead.max()) * (len(sub) + 2) + int(loaded.sum()) + 1
    model.AddDimensionWithVehicleCapacity(
        range_cb, 0, [unlimited if cap is None else cap for cap in red.range_m], True, "range"
    )
    for v in range(n_vehicles):
        start, end = int(red.shift[v, 0]), int(red.shift[v, 1])
        clock.CumulVar(model.Start(v)).SetRange(start, end)
        clock.CumulVar(model.End(v)).SetRange(start, end)
    for pos, k in enumerate(todo):
        node = red.depots + pos
        index = manager.NodeToIndex(node)
        clock.CumulVar(index).SetRange(int(red.tw[red.node(k), 0]), int(red.tw[red.node(k), 1]))
        # RoutingModel.SetAllowedVehiclesForIndex takes an absl::Span that the 9.15 wheel cannot convert from
        # Python; restricting the vehicle variable (-1 = unperformed) is the equivalent the library builds on.
        model.VehicleVar(index).SetValues([-1, *red.eligible[k]])
        model.AddDisjunction([index], red.penalty[red.priority[k]])

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
    found = model.SolveWithParameters(params)
    routes: dict[int, list[int]] = {}
    if found is not None:
        for v in range(n_vehicles):
            order: list[int] = []
            index = found.Value(model.NextVar(model.Start(v)))
            while not model.IsEnd(index):
                order.append(todo[manager.IndexToNode(index) - red.depots])
                index = found.Value(model.NextVar(index))
            if order:
                routes[v] = order
    return red.solution(routes, "ortools", time.perf_counter() - began)


PEERS: dict[str, Callable[[dict[str, Any], float, int], dict[str, Any]]] = {
    "pyvrp": solve_with_pyvrp,
    "vroom": solve_with_vroom,
    "ortools": solve_with_ortools,
}
