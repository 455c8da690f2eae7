"""The running day, kept live in the server for urgent placement: built once per (day, scope), brought up to date
from the audit log before every placement, and built again after a restart (it lives in this process's memory only).

Reading the whole day and building its network on every placement cost 168-272 ms on the demo's small day and
seconds at city scale (1,000 vehicles, 5,000 held trips). Here a day is read and built once; after that a placement
pays for one indexed query and for what changed.

Any writer may change the day: this process, another worker process, the CLI. Every write appends audit records in
its own transaction, numbered in commit order (`fleet.changes`), so the log is the one ordered feed of changes. A
live day remembers the ``seq`` it has seen; before each placement it reads the records after it and re-reads the
vehicles they concern — the vehicle a changed trip was on and the one it is on now, a changed vehicle itself — each
exactly as `fleet.dispatching` reads a whole day. Its network is then updated (`Network.without_trips`,
`with_vehicles`, `with_trips`) and only the routes of those vehicles are timed again (`dispatch.insert.carry`). A
change the log cannot place (an entity of a kind not known here, more than `REBUILD_AFTER` records) rebuilds the
day. Only the kinds in `_IRRELEVANT` are passed over: none of them changes a vehicle's free stretches or its held
trips.

A published day is never changed: an update makes a new one, and a lock held only to swap the reference publishes
it. Placements running in other threads go on with the day they took. No transaction is open while a day is built
or updated, beyond its short reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dispatch import Plan, Problem, Route
from dispatch import Trip as EngineTrip
from dispatch import Vehicle as EngineVehicle
from dispatch.insert import carry
from dispatch.network import Network, build
from dispatch.problem import Depot
from dispatch.routes import Routes
from dispatch.solve import given_bounds, objective_of, routes_out
from fleet import queries
from fleet.clock import CHINA
from fleet.db import unit_of_work
from fleet.enums import TripStatus, VehicleStatus
from fleet.exchange import Segment, home, keyed, segments, trip_row
from fleet.models import Assignment, AuditRecord, Vehicle
from fleet.settings import get_settings

log = logging.getLogger("gongche.dispatch")

REBUILD_AFTER = 400  # audit records past which a day is read again whole rather than vehicle by vehicle
MAX_DAYS = 4  # (database, day, scope) kept, ~30 MB each at city scale; the least recently used goes first
# Audit entities that never change a vehicle's free stretches or the trips it holds: passed over. Any other kind
# not handled below (trip, vehicle, assignment) rebuilds the day.
_IRRELEVANT = frozenset({"user", "driver", "cost", "plan", "plan_line", "quota", "closed_year", "jurisdiction",
                         "rental_provider", "terminal", "dispatch_run"})

# (database, day start, day end, scope): a day belongs to the database it was read from.
DayKey = tuple[str, datetime, datetime, frozenset[int] | None]


@dataclass(frozen=True)
class Part:
    """One vehicle's share of the day: its free stretches (keyed ``PLATE#k``), the held trips not yet started on
    each (by pickup), their assignments, and every trip it holds in the day, started or not."""

    vehicle: Vehicle
    stretches: tuple[tuple[str, Segment], ...]
    routes: Mapping[str, tuple[str, ...]]
    running: Mapping[str, Assignment]
    held: frozenset[int]

    def without(self, keys: Collection[str]) -> Part:
        """This part with the stretches ``keys`` left out, and their trips (routes their vehicle cannot drive)."""
        gone = {t for k in keys if k in self.routes for t in self.routes[k]}  # ``keys`` may name others' stretches
        return Part(self.vehicle, tuple((k, s) for k, s in self.stretches if k not in keys),
                    {k: r for k, r in self.routes.items() if k not in keys},
                    {t: a for t, a in self.running.items() if t not in gone}, self.held)


@dataclass(frozen=True)
class LiveDay:
    """A running day as urgent placement needs it: the stretches, held trips and assignments `fleet.dispatching`
    reads, and the engine's problem and plan of them (whose routes carry the network, so `insert` builds nothing).

    Never changed once published; ``seq`` is the last audit record it reflects.
    """

    key: DayKey
    seq: int
    anchor: str  # the hash of audit record ``seq`` ("" for 0): a log that differs there is another database's
    parts: Mapping[int, Part]  # by vehicle id, in the fleet's order (by plate)
    stretches: dict[str, Segment]
    routes: dict[str, list[str]]
    running: dict[str, Assignment]
    holder: Mapping[int, int]  # trip id -> the vehicle holding it in the day
    depots: Mapping[tuple[float, float], str]
    problem: Problem
    plan: Plan
    trip_index: Mapping[str, int]  # the problem's
    vehicle_index: Mapping[str, int]
    outs: Mapping[str, Route]  # the plan's routes by stretch
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> Routes:
        routes: Routes = self.plan._state
        return routes


_lock = threading.Lock()
_days: OrderedDict[DayKey, LiveDay] = OrderedDict()


def enabled() -> bool:
    return get_settings().live_day


def clear() -> None:
    """Forget every live day (tests; a benchmark's cold mode): the next placement reads its day afresh."""
    with _lock:
        _days.clear()


def _database(engine: Engine) -> str:
    # The engine itself too: two in-memory databases (or copies of one file) may share an address.
    return f"{engine.url.render_as_string(hide_password=True)}#{id(engine)}"


def days_of(engine: Engine) -> list[tuple[datetime, datetime, frozenset[int] | None]]:
    """The (start, end, scope) of every day kept live for ``engine``'s database, least recently used first."""
    database = _database(engine)
    with _lock:
        return [(start, end, scope) for (db, start, end, scope) in _days if db == database]


def current(engine: Engine, start: datetime, end: datetime, agency_ids: Collection[int] | None) -> LiveDay:
    """The day [start, end) on the vehicles of ``agency_ids`` (None: all), as the database holds it now."""
    key: DayKey = (_database(engine), start, end, frozenset(agency_ids) if agency_ids is not None else None)
    with _lock:
        day = _days.get(key)
    if day is None:
        return _publish(_built(engine, key))
    started = time.perf_counter()
    with unit_of_work(engine, readonly=True) as session:
        # From the day's own record on: if that one is not as the day saw it, the log is another one (a database
        # restored or recreated under the same address) and nothing after it can be trusted to apply.
        found = session.execute(
            sa.select(AuditRecord.seq, AuditRecord.entity, AuditRecord.entity_id, AuditRecord.hash)
            .where(AuditRecord.seq >= day.seq).order_by(AuditRecord.seq).limit(REBUILD_AFTER + 2)).all()
        same_log = (day.seq == 0 and (not found or found[0].seq > 0)) or (
            bool(found) and found[0].seq == day.seq and found[0].hash == day.anchor)
        records = [r for r in found if r.seq > day.seq]
        if same_log and not records:
            return day
        concerned = _concerned(session, day, records) if same_log and len(records) <= REBUILD_AFTER else None
        fresh = _parts(session, key, concerned) if concerned else {}
    if concerned is None:
        return _publish(_built(engine, key))
    read = time.perf_counter() - started
    try:
        updated = _updated(day, records[-1].seq, records[-1].hash, fresh, read_seconds=read)
    except (ValueError, KeyError):  # the log and the day disagree: trust neither, read the day again
        log.exception("the live day %s could not be updated; reading it again", _name(key))
        return _publish(_built(engine, key))
    return _publish(updated)


def _publish(day: LiveDay) -> LiveDay:
    with _lock:
        known = _days.get(day.key)
        if known is None or known.seq <= day.seq:
            _days[day.key] = day
        _days.move_to_end(day.key)
        while len(_days) > MAX_DAYS:
            _days.popitem(last=False)
    return day


# --- reading ------------------------------------------------------------------------------------------------------


def _concerned(session: Session, day: LiveDay, records: Iterable[Any]) -> set[int] | None:
    """The vehicles whose share of the day the records may have changed; None when they cannot be told."""
    vehicles: set[int] = set()
    trips: set[int] = set()
    assignments: set[int] = set()
    for record in records:
        if record.entity in _IRRELEVANT:
            continue
        if not record.entity_id.isdigit():
            return None
        if record.entity == "trip":
            trips.add(int(record.entity_id))
        elif record.entity == "vehicle":
            vehicles.add(int(record.entity_id))
        elif record.entity == "assignment":
            assignments.add(int(record.entity_id))
        else:
            return None
    if assignments:
        trips |= set(session.scalars(sa.select(Assignment.trip_id).where(Assignment.id.in_(assignments))))
    if trips:
        vehicles |= {day.holder[t] for t in trips if t in day.holder}
        vehicles |= set(session.scalars(sa.select(Assignment.vehicle_id).where(
            Assignment.trip_id.in_(trips), Assignment.active)))
    return vehicles


def _parts(session: Session, key: DayKey, vehicle_ids: Collection[int] | None) -> dict[int, Part | None]:
    """The share of the day of each of ``vehicle_ids`` (None: every dispatchable vehicle of the scope) as the
    database holds it; None for a vehicle that is no longer the day's (not dispatchable, or out of the scope)."""
    _, start, end, scope = key
    query = sa.select(Vehicle).where(Vehicle.status == VehicleStatus.active, Vehicle.home_lat.is_not(None))
    if vehicle_ids is not None:
        query = query.where(Vehicle.id.in_(vehicle_ids))
    fleet = [v for v in session.scalars(query.order_by(Vehicle.plate)) if scope is None or v.agency_id in scope]
    held: dict[int, list[Assignment]] = {}
    if fleet:
        for holding in queries.assignments_between(session, start, end, [v.id for v in fleet]):
            held.setdefault(holding.vehicle_id, []).append(holding)
    found: dict[int, Part | None] = {v: None for v in vehicle_ids or ()}
    for vehicle in fleet:
        found[vehicle.id] = part_of(vehicle, start, end, held.get(vehicle.id, []))
    return found


def part_of(vehicle: Vehicle, start: datetime, end: datetime, holdings: Sequence[Assignment]) -> Part:
    """A vehicle's share of [start, end), read as `fleet.dispatching` reads a day: its free stretches around the
    trips under way or done, and in each the trips still waiting for it; a vehicle with a waiting trip squeezed
    against a fixed one is left as it is (no stretch)."""
    held = frozenset(h.trip_id for h in holdings)
    # Only trips still waiting for their vehicle may be re-driven; the rest are fixed in time and place.
    fixed = [h for h in holdings if h.trip.status is not TripStatus.assigned]
    waiting = sorted((h for h in holdings if h.trip.status is TripStatus.assigned), key=lambda h: h.starts_at)
    stretches = keyed(segments(vehicle, start, end, fixed))
    routes: dict[str, list[str]] = {k: [] for k in stretches}
    running: dict[str, Assignment] = {}
    for holding in waiting:
        home_key = next((k for k, s in stretches.items() if s.start <= holding.starts_at
                         and holding.ends_at <= s.end), None)
        if home_key is None:
            return Part(vehicle, (), {}, {}, held)
        routes[home_key].append(str(holding.trip_id))
        running[str(holding.trip_id)] = holding
    return Part(vehicle, tuple(stretches.items()), {k: tuple(r) for k, r in routes.items()}, running, held)


# --- building and updating ----------------------------------------------------------------------------------------


def _built(engine: Engine, key: DayKey) -> LiveDay:
    """Read the whole day and build it (the first placement of a day in this process, or after a change that
    cannot be placed)."""
    started = time.perf_counter()
    with unit_of_work(engine, readonly=True) as session:
        # First: whatever the reads below see is at least this recent.
        last = session.execute(sa.select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc())
                               .limit(1)).first()
        parts = {v: p for v, p in _parts(session, key, None).items() if p is not None}
    seq, anchor = (last.seq, last.hash) if last is not None else (0, "")
    return build_day(key, seq, anchor, parts, read_seconds=time.perf_counter() - started)


def build_day(key: DayKey, seq: int, anchor: str, parts: Mapping[int, Part], *, read_seconds: float = 0.0
              ) -> LiveDay:
    """A live day from every vehicle's share, its network built whole (without screened arcs: `insert` needs
    none). Routes a stretch cannot drive (a manual exception) leave that stretch out, as `plan_of` would have."""
    started = time.perf_counter()
    parts = dict(parts)
    depots: dict[tuple[float, float], str] = {}
    while True:
        stretches, routes, running = _flat(parts)
        for stretch in stretches.values():
            depots.setdefault(home(stretch.vehicle), f"yard-{len(depots) + 1}")
        trips = [EngineTrip.model_validate(trip_row(running[t].trip)) for r in routes.values() for t in r]
        problem = Problem(name=_name(key), depots=_depots(depots), vehicles=tuple(
            _vehicle(k, s, depots) for k, s in stretches.items()), trips=tuple(trips))
        net = build(problem, epoch=key[1].timestamp(), arcs=False)
        state = Routes(net)
        index = problem.trip_index()
        for vehicle, route in enumerate(routes.values()):
            if route:
                state.set_route(vehicle, [index[t] for t in route])
        bad = _infeasible(state, range(net.vehicles))
        if not bad:
            break
        parts = _drop(parts, bad)
    outs = {r.vehicle: r for r in routes_out(net, state, range(net.vehicles))}
    plan = Plan(instance=problem.name, status="feasible", seed=0, time_limit=0.0, stopped_by="work budget",
                build_seconds=0.0, solve_seconds=0.0, unserved=[], **_plan_fields(net, state, outs))
    plan._state = state
    return LiveDay(key, seq, anchor, parts, stretches, routes, running, _holders(parts), depots, problem, plan,
                   index, problem.vehicle_index(), outs,
                   {"kind": "built", "read_s": read_seconds, "build_s": time.perf_counter() - started})


def _updated(day: LiveDay, seq: int, anchor: str, fresh: Mapping[int, Part | None], *, read_seconds: float = 0.0
             ) -> LiveDay:
    """``day`` with the vehicles of ``fresh`` re-read (None: gone from the day): their trips leave and join the
    network, the stretches change if theirs did, and only their routes are timed again.

    Whatever the re-read vehicles did not touch is shared with ``day`` (never changed in place), so an update costs
    little more than what changed: copying a city day's containers whole took longer than the insertion.
    """
    started = time.perf_counter()
    if not fresh:  # nothing the day holds changed
        return replace(day, seq=seq, anchor=anchor, stats={"kind": "unchanged", "read_s": read_seconds})
    old = day.problem
    while True:
        parts = _merged(day.parts, fresh)
        gone_keys = [k for v in fresh if v in day.parts for k, _ in day.parts[v].stretches]
        new_keys = [k for p in fresh.values() if p is not None for k, _ in p.stretches]
        # Trips of the re-read vehicles: those gone or changed leave, those new or changed join (at the end).
        before = {t: day.running[t] for k in gone_keys for t in day.routes[k]}
        after = {t: p.running[t] for p in fresh.values() if p is not None for k, _ in p.stretches
                 for t in p.routes[k]}
        changed = {t for t in before.keys() & after.keys() if trip_row(before[t].trip) != trip_row(after[t].trip)}
        leaving = (before.keys() - after.keys()) | changed
        joining = [t for t in after if t not in before or t in changed]
        if any(t in day.trip_index and t not in leaving for t in joining):
            raise ValueError("a trip joins the day while another vehicle still holds it")
        same_fleet = parts.keys() == day.parts.keys() and all(
            _shape(day.parts.get(v)) == _shape(p) for v, p in fresh.items())
        running = dict(day.running)
        for t in before:
            del running[t]
        running.update(after)
        depots = dict(day.depots)
        if same_fleet:  # the same stretches in the same order: only their contents change
            stretches = dict(day.stretches)
            routes = dict(day.routes)
            for p in fresh.values():
                for k, stretch in p.stretches if p is not None else ():
                    stretches[k] = stretch
                    routes[k] = list(p.routes[k]) if p is not None else []
            vehicles = old.vehicles
        else:
            stretches = {k: st for p in parts.values() for k, st in p.stretches}
            fresh_routes = {k: list(p.routes[k]) for p in fresh.values() if p is not None for k, _ in p.stretches}
            routes = {k: fresh_routes[k] if k in fresh_routes else day.routes[k] for k in stretches}
            for stretch in stretches.values():
                depots.setdefault(home(stretch.vehicle), f"yard-{len(depots) + 1}")
            was = dict(zip((v.id for v in old.vehicles), old.vehicles, strict=True))
            vehicles = tuple(_vehicle(k, st, depots) if k in fresh_routes else was[k] for k, st in stretches.items())
        net = day.state.net
        if leaving:
            keep = np.array([t.id not in leaving for t in old.trips], dtype=bool)
            kept_trips = tuple(t for t, k in zip(old.trips, keep, strict=True) if k)
            net = net.without_trips(old.model_copy(update={"trips": kept_trips}), keep)
            number = np.full(len(old.trips), -1, dtype=np.int64)
            number[keep] = np.arange(len(kept_trips))
        else:
            kept_trips = old.trips
            number = np.arange(len(old.trips), dtype=np.int64)
        problem = old.model_copy(update={"trips": kept_trips}) if same_fleet else old.model_copy(
            update={"trips": kept_trips, "vehicles": vehicles, "depots": _depots(depots)})
        if not same_fleet:
            net = net.with_vehicles(problem)
        added = tuple(EngineTrip.model_validate(trip_row(running[t].trip)) for t in joining)
        problem = problem.model_copy(update={"trips": kept_trips + added})
        net = net.with_trips(problem, added)
        if leaving:
            index = {t.id: i for i, t in enumerate(problem.trips)}
        else:
            index = dict(day.trip_index)
            index.update({t: len(kept_trips) + i for i, t in enumerate(joining)})
        if same_fleet:
            position = day.vehicle_index
            source: Sequence[int] = range(len(vehicles))
        else:
            position = {k: i for i, k in enumerate(stretches)}
            source = [day.vehicle_index.get(k, -1) for k in stretches]
        redo = {position[k]: [index[t] for t in routes[k]] for k in new_keys}
        state = carry(day.state, net, number, source, redo)
        bad = _infeasible(state, redo)
        if not bad:
            break
        fresh = {v: p.without(bad) if p is not None else None for v, p in fresh.items()}
    outs = dict(day.outs)
    for k in gone_keys:
        outs.pop(k, None)
    if not same_fleet:
        outs = {k: r for k, r in outs.items() if k in stretches}
    outs.update({r.vehicle: r for r in routes_out(net, state, sorted(redo))})
    holder = {t: v for t, v in day.holder.items() if v not in fresh}
    holder.update({t: v for v, p in fresh.items() if p is not None for t in p.held})
    plan = day.plan.model_copy(update=_plan_fields(net, state, outs))
    plan._state = state
    return LiveDay(day.key, seq, anchor, parts, stretches, routes, running, holder, depots, problem, plan, index,
                   position, outs,
                   {"kind": "updated", "vehicles": len(fresh), "trips_out": len(leaving), "trips_in": len(joining),
                    "fleet_changed": not same_fleet, "read_s": read_seconds,
                    "update_s": time.perf_counter() - started})


def _shape(part: Part | None) -> tuple[Any, ...]:
    """What of a vehicle's share the engine's vehicles are made of: equal shapes, equal engine vehicles."""
    if part is None:
        return ()
    v = part.vehicle
    return (v.category, v.seats, v.powertrain, v.home_lat, v.home_lon,
            tuple((k, s.start, s.end, s.range_km) for k, s in part.stretches))


def _merged(parts: Mapping[int, Part], fresh: Mapping[int, Part | None]) -> dict[int, Part]:
    merged = {v: p for v, p in parts.items() if v not in fresh}
    merged.update({v: p for v, p in fresh.items() if p is not None})
    if merged.keys() - parts.keys():  # a vehicle joined: the fleet's order is by plate, as `_day` reads it
        merged = dict(sorted(merged.items(), key=lambda item: item[1].vehicle.plate))
    else:
        merged = {v: merged[v] for v in parts if v in merged}
    return merged


def _flat(parts: Mapping[int, Part]) -> tuple[dict[str, Segment], dict[str, list[str]], dict[str, Assignment]]:
    stretches: dict[str, Segment] = {}
    routes: dict[str, list[str]] = {}
    running: dict[str, Assignment] = {}
    for part in parts.values():
        for key, stretch in part.stretches:
            stretches[key] = stretch
            routes[key] = list(part.routes[key])
        running.update(part.running)
    return stretches, routes, running


def _holders(parts: Mapping[int, Part]) -> dict[int, int]:
    return {t: v for v, p in parts.items() for t in p.held}


def _infeasible(state: Routes, vehicles: Iterable[int]) -> list[str]:
    ids = state.net.problem.vehicles
    return [ids[v].id for v in vehicles if not state.feasible(v)]


def _drop(parts: Mapping[int, Part], keys: Collection[str]) -> dict[int, Part]:
    return {v: p.without(keys) if any(k in keys for k, _ in p.stretches) else p for v, p in parts.items()}


def _name(key: DayKey) -> str:
    return f"live-{key[1].astimezone(CHINA):%Y-%m-%d}"


def _depots(depots: Mapping[tuple[float, float], str]) -> tuple[Depot, ...]:
    return tuple(Depot(id=d, lat=lat, lon=lon) for (lat, lon), d in depots.items()) or (
        Depot(id="none", lat=0.0, lon=0.0),)


def _vehicle(key: str, stretch: Segment, depots: Mapping[tuple[float, float], str]) -> EngineVehicle:
    """A stretch as the engine's vehicle, as `fleet.exchange.problem_of` words it."""
    return EngineVehicle(
        id=key, depot=depots[home(stretch.vehicle)], category=stretch.vehicle.category.value,
        seats=stretch.vehicle.seats, powertrain=stretch.vehicle.powertrain.value, range_km=stretch.range_km,
        shift_start=stretch.start.astimezone(CHINA), shift_end=stretch.end.astimezone(CHINA))


def _plan_fields(net: Network, state: Routes, routes: Mapping[str, Route]) -> dict[str, Any]:
    """The plan that runs the day's routes as they are: every held trip served, no bound computed."""
    objective = objective_of(net, state)
    bound = given_bounds(objective)
    return {"routes": list(routes.values()), "objective": objective, "bounds": bound, "gap": bound.gap(objective)}
