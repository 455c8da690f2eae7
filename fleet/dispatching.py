"""Dispatching booked trips: a batch run over a window, and the urgent placement of one trip into the running day.

Both build the exchange problem from the registry's free stretches (`fleet.exchange`), let the engine plan, and
write what it planned through `fleet.assignments.assign`, so every rule an assignment obeys holds for them too.

The engine never runs inside a transaction. Each call reads a snapshot in one short read transaction, solves with
no transaction open (no write lock, no row lock, no pooled connection held), then applies the plan in short write
transactions that re-check every assignment against what the database holds *now* — `assign` and the overlap
constraints refuse whatever another writer took meanwhile — and reports what changed since the snapshot.

A batch run holds its window while it works: a second run over an overlapping window is refused (409) naming the
run that holds it. The hold is a row (`DispatchRun.status == running`), so it works across processes. It names the
process holding it, so that after a crash a run on the same host frees the window at once; a holder elsewhere is
taken for dead `HOLD_GRACE` after the run's time limit.

An urgent placement does not read the day afresh: it takes it from the live day this process keeps
(`fleet.live_day`), brought up to date from the audit log first, so that it costs what changed rather than what the
day holds (``live_day = false`` in the settings reads and builds the day on every call, as before).
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dispatch import InfeasibleRoutes, Placement, Plan, Problem, ProblemError, insert, plan_of
from dispatch.reasons import CODES
from fleet import audit, live_day, queries, rentals
from fleet.assignments import DriverCalendar, Interval, assign, driver_calendar, free_driver, holds, occupied
from fleet.audit import Actor
from fleet.clock import local_date, local_moment, local_text
from fleet.db import unit_of_work
from fleet.enums import AssignmentSource, RunStatus, TripStatus
from fleet.errors import Conflict, FleetError, InvalidInput, InvalidState
from fleet.exchange import Segment, drive, home, keyed, problem_of, segments, trip_row
from fleet.i18n import Message, msg, said
from fleet.models import Assignment, DispatchRun, Driver, Trip, Vehicle, utcnow
from fleet.schemas import AssignIn
from fleet.solving import solve

log = logging.getLogger("gongche.dispatch")

# How far past the last pickup a run (or an insertion) looks: long enough to finish any trip and drive home, so a
# trip late in the window is not refused for the want of a shift end.
HORIZON_TAIL = timedelta(hours=12)
TRIP_LIMIT = 5000  # trips per run: the engine's city-scale size, and a bound on one request's work
# A run's hold on its window outlives its time limit by this much (network building and writing the plan come on
# top of the search); past it the hold is taken for a crashed run's and lapses.
HOLD_GRACE = timedelta(minutes=5)
# What a trip's ``dispatch_note`` is made from: the engine's reasons and the placement's own. The note is stored as
# its English text; reading it back against these (`fleet.i18n.parsed`) gives the message again, to be worded in
# the reader's language.
NOTE_TEMPLATES: tuple[str, ...] = (
    *CODES,
    "displaced by urgent trip {trip_id}; no other vehicle could take it",
    "no vehicle can take it",
    "the dispatch engine could not place it ({error})",
)
APPLY_BATCH = 200  # assignments a run writes per transaction: other writers get the lock between batches
_RUN_CLAIM_LOCK = 0x676F6E67636864  # PostgreSQL advisory lock serialising window claims ("gongchd")


class Unavailable(FleetError):
    """The engine gave no plan in time (HTTP 503): nothing was assigned."""

    status = 503


class WindowHeld(Conflict):
    """Another dispatch run holds an overlapping window (HTTP 409)."""


def check_window(start: datetime, end: datetime) -> None:
    """A run's window is [start, end), at most two days long."""
    if end <= start:
        raise InvalidInput(msg("the window ends before it starts"), field="end")
    if end - start > timedelta(days=2):
        raise InvalidInput(msg("a dispatch window spans at most 2 days"), field="end")


# --- batch runs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """What a run read: the engine's problem and, for writing its plan back, the stretches and trips by id."""

    problem: Problem
    stretches: dict[str, Segment]
    trips: dict[str, Trip]
    vehicles: int
    start: datetime
    horizon_end: datetime


def run(engine: Engine, actor: Actor, *, start: datetime, end: datetime, time_limit: float = 10.0,
        seed: int = 0, agency_ids: Collection[int] | None = None, rent_unserved: bool | str = False,
        ) -> tuple[DispatchRun, Plan]:
    """Dispatch the approved trips picked up in [start, end) over the free vehicles.

    ``rent_unserved`` sends the trips the plan leaves unserved to a rental provider (定点租赁, `fleet.rentals`):
    True for the cheapest eligible provider of each, a provider's code for that one only; in short write
    transactions after the plan's, each trip re-checked. The summary lists them (``rented``).

    ``agency_ids`` is the dispatcher's scope (`fleet.scopes`; None: the whole platform): the run takes only those
    agencies' trips and vehicles, and drivers of those agencies or of the platform pool.

    Claims the window, reads a snapshot, solves with no transaction open, and writes the plan in short
    transactions; trips that changed since the snapshot, or that another writer's assignment now blocks, are left
    out and listed in the summary (``refused_at_commit``). Unserved trips carry the engine's reason.
    """
    check_window(start, end)
    if isinstance(rent_unserved, str):  # an unknown provider is refused before anything is claimed or solved
        with unit_of_work(engine, readonly=True) as session:
            rentals.provider_by_code(session, rent_unserved)
    run_id = _claim(engine, actor, start, end, time_limit)
    try:
        snapshot = _snapshot(engine, start, end, agency_ids)
        try:
            plan = solve(snapshot.problem, time_limit=time_limit, seed=seed)
        except Exception as exc:  # an engine failure must not become a 500 or a half-written run
            raise Unavailable(msg("the dispatch engine found no plan within {seconds:g} s ({error}); nothing was "
                                  "assigned — retry, or narrow the window", seconds=time_limit,
                                  error=type(exc).__name__), field=None) from exc
        record = _apply(engine, actor, run_id, snapshot, plan, time_limit, agency_ids, rent_unserved)
    except BaseException as exc:
        _fail(engine, actor, run_id, exc)
        raise
    return record, plan


def _process(pid: int) -> str | None:
    """``host:pid:start`` naming a live process (its start time tells a reused pid apart), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            started = stat.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
        started = "?"
    return f"{socket.gethostname()}:{pid}:{started}"


def _gone(holder: str | None) -> bool:
    """Whether the process named by ``holder`` has certainly ended (only a process on this host can be checked)."""
    if holder is None or holder.split(":", 1)[0] != socket.gethostname():
        return False
    return _process(int(holder.split(":")[1])) != holder


def _claim(engine: Engine, actor: Actor, start: datetime, end: datetime, time_limit: float) -> int:
    """Record the run as holding [start, end), unless a live run holds an overlapping window."""
    with unit_of_work(engine) as session:
        if session.get_bind().dialect.name == "postgresql":  # SQLite's single writer serialises claims already
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RUN_CLAIM_LOCK})
        now = utcnow()
        for other in session.scalars(sa.select(DispatchRun).where(
                DispatchRun.status == RunStatus.running, DispatchRun.window_start < end,
                DispatchRun.window_end > start).order_by(DispatchRun.id)):
            if _gone(other.holder) or other.created_at + timedelta(seconds=other.time_limit_s) + HOLD_GRACE < now:
                _finish(session, actor, other, RunStatus.failed, {"error": msg(
                    "the run stopped without finishing (its process ended); its hold lapsed")})
                continue
            raise WindowHeld(msg(
                "dispatch run {run_id} by {actor} holds {start} to {end} since {since}; wait for it to finish, or "
                "dispatch a window that does not overlap", run_id=other.id, actor=other.actor,
                start=local_text(other.window_start), end=local_text(other.window_end),
                since=local_text(other.created_at)), field="start", run_id=other.id)
        record = DispatchRun(window_start=start, window_end=end, time_limit_s=time_limit, actor=str(actor),
                             summary={}, status=RunStatus.running, holder=_process(os.getpid()))
        session.add(record)
        session.flush()
        audit.record(session, actor, "dispatch.started", record, {"start": start, "end": end,
                                                                  "time_limit_s": time_limit})
        return record.id


def _snapshot(engine: Engine, start: datetime, end: datetime,
              agency_ids: Collection[int] | None = None) -> _Snapshot:
    """The window's approved trips and the vehicles' free stretches around what they hold, read in one go: those of
    ``agency_ids`` (None: all)."""
    with unit_of_work(engine, readonly=True) as session:
        trips = list(session.scalars(
            sa.select(Trip).where(Trip.status == TripStatus.approved, Trip.earliest_pickup >= start,
                                  Trip.earliest_pickup < end, queries.of_agencies(Trip.agency_id, agency_ids))
            .order_by(Trip.earliest_pickup, Trip.id).limit(TRIP_LIMIT)))
        fleet = [v for v in queries.dispatchable_vehicles(session)
                 if agency_ids is None or v.agency_id in agency_ids]
        horizon_end = max([end, *(t.latest_pickup for t in trips)]) + HORIZON_TAIL
        held: dict[int, list[Assignment]] = {}
        ids = [v.id for v in fleet]
        for holding in queries.assignments_between(session, start - timedelta(hours=12), horizon_end, ids):
            held.setdefault(holding.vehicle_id, []).append(holding)
        stretches = keyed([s for v in fleet for s in segments(v, start, horizon_end, held.get(v.id, []))])
    problem = problem_of(f"run-{start:%Y%m%dT%H%M}", stretches, trips)
    return _Snapshot(problem, stretches, {str(t.id): t for t in trips}, len(fleet), start, horizon_end)


def _apply(engine: Engine, actor: Actor, run_id: int, snapshot: _Snapshot, plan: Plan,
           time_limit: float, agency_ids: Collection[int] | None = None,
           rent_unserved: bool | str = False) -> DispatchRun:
    """Write the plan a batch at a time; each trip is re-checked as it is assigned."""
    refused: list[dict[str, Any]] = []
    without_driver = 0
    routes = list(plan.routes)
    while routes:
        with unit_of_work(engine) as session:
            busy = driver_calendar(session, snapshot.start, snapshot.horizon_end)
            drivers = [d for d in queries.active_drivers(session)
                       if agency_ids is None or d.agency_id is None or d.agency_id in agency_ids]
            batch: list[tuple[Vehicle, list[tuple[str, datetime]], Driver | None]] = []
            written = 0
            while routes and written < APPLY_BATCH:
                route = routes.pop(0)
                stretch = snapshot.stretches[route.vehicle]
                legs = list(zip(route.trips, route.pickups, strict=True))
                intervals = [occupied(snapshot.trips[t], at) for t, at in legs]
                driver = free_driver(stretch.vehicle, intervals, busy, drivers)
                without_driver += driver is None
                batch.append((stretch.vehicle, legs, driver))
                written += len(legs)
            # The batch's rows in the house's order before any is written: assigning leg by leg would lock a car,
            # its trips, its driver, then the next car, against a desk or an urgent placement going the other way.
            queries.lock_in_order(session, vehicles=[vehicle.id for vehicle, _, _ in batch],
                                  trips=[int(t) for _, legs, _ in batch for t, _ in legs],
                                  drivers=[driver.id for _, _, driver in batch if driver is not None])
            for vehicle, legs, driver in batch:
                for trip_id, pickup in legs:
                    reason = _assign_planned(session, actor, int(trip_id), vehicle, driver, pickup, run_id)
                    if reason is not None:
                        refused.append({"trip_id": int(trip_id), "priority": snapshot.trips[trip_id].priority.value,
                                        "reason": reason, **_coded(reason)})
    rented = _rent(engine, actor, run_id, [int(u.trip) for u in plan.unserved], rent_unserved) \
        if rent_unserved else []
    with unit_of_work(engine) as session:
        record = session.get_one(DispatchRun, run_id)
        for unserved in sorted(plan.unserved, key=lambda u: int(u.trip)):  # each note's row lock by id, as elsewhere
            left = session.get(Trip, int(unserved.trip))
            if left is not None and left.status is TripStatus.approved:
                left.dispatch_note = unserved.reason[:500]
        summary_ = summary(plan, snapshot.stretches, without_driver, refused, vehicles=snapshot.vehicles)
        summary_["rented"] = rented
        _finish(session, actor, record, RunStatus.done, summary_)
        audit.record(session, actor, "dispatch.run", record, {
            "start": record.window_start, "end": record.window_end, "time_limit_s": time_limit,
            "trips": len(snapshot.trips), "served": summary_["served"], "unserved": len(plan.unserved),
            "refused_at_commit": len(refused), "rented": len(rented)})
        return record


def _rent(engine: Engine, actor: Actor, run_id: int, unserved: Sequence[int], choice: bool | str
          ) -> list[dict[str, Any]]:
    """Send the unserved trips still approved and without a vehicle to the cheapest eligible provider (or to
    ``choice``, a provider's code), `APPLY_BATCH` trips per write transaction; a trip no provider can take stays
    approved with the engine's reason."""
    rented: list[dict[str, Any]] = []
    unserved = sorted(unserved)  # trips locked one by one, by id as everywhere
    for first in range(0, len(unserved), APPLY_BATCH):
        with unit_of_work(engine) as session:
            offered = [rentals.provider_by_code(session, choice)] if isinstance(choice, str) \
                else rentals.providers(session, active_only=True)
            for trip_id in unserved[first:first + APPLY_BATCH]:
                left = session.get(Trip, trip_id, with_for_update={"key_share": True})
                if left is None or left.status is not TripStatus.approved:
                    continue
                pick = rentals.cheapest(offered, left)
                if pick is None:
                    continue
                try:
                    with session.begin_nested():
                        cost = rentals.send(session, actor, left, pick[0], run_id=run_id)
                except FleetError:  # taken by the desk meanwhile: it stays as the desk left it
                    continue
                rented.append({"trip_id": trip_id, "provider": pick[0].code, "cost_cny": str(cost)})
    return rented


def _assign_planned(session: Session, actor: Actor, trip_id: int, vehicle: Vehicle, driver: Driver | None,
                    pickup: datetime, run_id: int) -> str | None:
    """Assign one planned trip if it is still as the snapshot saw it; the reason it was left out otherwise."""
    current = session.get(Trip, trip_id)
    if current is None or current.status is not TripStatus.approved:
        now = msg("gone") if current is None else current.status
        return msg("changed since the run read the day: the trip is now {status}", status=now)
    try:
        assign(session, actor, trip_id=trip_id, source=AssignmentSource.dispatch, run_id=run_id,
               data=AssignIn(vehicle_id=vehicle.id, driver_id=driver.id if driver else None, pickup_at=pickup))
    except Conflict as exc:
        if exc.field != "driver_id":
            return exc.detail
        try:  # the driver chosen was taken meanwhile: the trip still goes, without a driver, for the desk to fill
            assign(session, actor, trip_id=trip_id, source=AssignmentSource.dispatch, run_id=run_id,
                   data=AssignIn(vehicle_id=vehicle.id, driver_id=None, pickup_at=pickup))
        except FleetError as again:
            return again.detail
    except FleetError as exc:  # kept out of the run, and said so, rather than failing every other trip
        return exc.detail
    return None


def _finish(session: Session, actor: Actor, record: DispatchRun, status: RunStatus, summary_: dict[str, Any]) -> None:
    record.status, record.finished_at, record.summary = status, utcnow(), summary_
    if status is RunStatus.failed:
        audit.record(session, actor, "dispatch.failed", record, {"reason": summary_.get("error")})


def _fail(engine: Engine, actor: Actor, run_id: int, exc: BaseException) -> None:
    """Release a run's window after it failed; never masks the failure itself."""
    reason = exc.detail if isinstance(exc, FleetError) else f"{type(exc).__name__}: {exc}"
    try:
        with unit_of_work(engine) as session:
            record = session.get_one(DispatchRun, run_id)
            if record.status is RunStatus.running:
                _finish(session, actor, record, RunStatus.failed, {"error": reason})
    except Exception:  # the database itself is failing: the hold lapses after HOLD_GRACE
        log.warning("dispatch run %s failed (%s) and its window could not be released", run_id, reason)


def summary(plan: Plan, by_id: Mapping[str, Segment], without_driver: int, refused: list[dict[str, Any]],
            *, vehicles: int) -> dict[str, Any]:
    """What a dispatcher reads after a run: served per priority (the trips assigned: a planned trip that changed
    while the engine ran is refused at commit, not served), unserved with reasons, the bound gap."""
    late = Counter(str(r["priority"]) for r in refused)
    return {
        "trips": sum(plan.objective.offered.values()),
        "vehicles_available": vehicles,
        "served": {p.value: n - late[p.value] for p, n in plan.objective.served.items()},
        "offered": {p.value: n for p, n in plan.objective.offered.items()},
        # the reason as English text and as its stable code and parameters, worded in the reader's language
        # where it is shown (`api.schemas.UnservedOut`)
        "unserved": [{"trip_id": int(u.trip), "priority": u.priority.value, "reason": u.reason,
                      **_coded(u.reason)} for u in plan.unserved],
        "refused_at_commit": refused,
        "deadhead_km": plan.objective.deadhead_km,
        "total_km": plan.objective.total_km,
        "vehicles_used": len({by_id[r.vehicle].vehicle.id for r in plan.routes}),
        "routes_without_driver": without_driver,
        "bounds": {"served_upper": {p.value: n for p, n in plan.bounds.served_upper.items()},
                   "deadhead_lower_km": plan.bounds.deadhead_lower_km, "method": plan.bounds.method},
        "gap": plan.gap,
        "status": plan.status,
        "stopped_by": plan.stopped_by,
        "solve_seconds": plan.solve_seconds,
        "build_seconds": plan.build_seconds,
    }


def _coded(reason: str) -> dict[str, Any]:
    """A reason's stable code (`dispatch.reasons.CODES`, else its template) and parameters, as JSON data."""
    data = said(reason, CODES)
    return {"code": data["code"], "params": data.get("params", {})} if data["code"] is not None else {}


# --- urgent placement -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    """A confirmed pickup that an urgent placement changed: whoever holds the trip's slip must be told."""

    trip_id: int
    plate: str
    before: datetime
    after: datetime


@dataclass(frozen=True)
class Urgent:
    """Where an urgent trip went (or why it did not), what it displaced and moved, and how long it took."""

    trip_id: int
    vehicle: str | None
    displaced: list[int] = field(default_factory=list)
    replaced: dict[int, str] = field(default_factory=dict)
    unplaced: list[int] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    reason: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class _Day:
    """What an urgent placement read: the trip, the day's free stretches, and the held trips it may re-drive."""

    booked: Trip
    stretches: dict[str, Segment]
    routes: dict[str, list[str]]
    running: dict[str, Assignment]


def place_urgent(engine: Engine, actor: Actor, *, trip_id: int, now: datetime,
                 agency_ids: Collection[int] | None = None) -> Urgent:
    """Insert one approved trip into the running day at once, displacing lower-priority trips not yet started.

    The trip stays booked whatever happens: when no vehicle can take it, or placing it fails, it is left approved
    with the reason in its ``dispatch_note`` (and the audit log), and the answer says why. Trips under way or done
    never move; a confirmed pickup moves only when the placement needs it to, and each move is audited and
    returned (``moved``). ``agency_ids`` bounds the vehicles it may take and the trips it may move to a
    dispatcher's scope (`fleet.scopes`; None: the whole platform, for an agency's emergency its approver approved).
    """
    started = perf_counter()
    with unit_of_work(engine, readonly=True) as session:
        booked = queries.trip(session, trip_id)
        if booked.status is not TripStatus.approved:
            raise InvalidState(msg("trip {trip_id} is {status}; urgent insertion needs approved", trip_id=trip_id,
                                   status=booked.status), field="status")
    for attempt in range(1, URGENT_ATTEMPTS + 1):
        try:
            day, problem, plan = _live(engine, booked, agency_ids) if live_day.enabled() else _afresh(
                engine, trip_id, agency_ids)
            placement = insert(plan, problem, trip_row(day.booked), now=now)
            if placement.vehicle is None:
                reason = next((u.reason for u in placement.plan.unserved if u.trip == str(trip_id)),
                              msg("no vehicle can take it"))
                return _unplaced(engine, actor, trip_id, reason, started)
            return _apply_urgent(engine, actor, day, placement, started)
        except _Stale as exc:  # another writer changed the day between our read and our write: read it again
            if attempt == URGENT_ATTEMPTS:
                return _unplaced(engine, actor, trip_id, exc.detail, started)
        except FleetError as exc:
            return _unplaced(engine, actor, trip_id, exc.detail, started)
        except (ProblemError, InfeasibleRoutes, ValueError) as exc:
            log.exception("urgent placement of trip %s failed in the engine", trip_id)
            said = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Message) else str(exc)
            return _unplaced(engine, actor, trip_id, msg("the dispatch engine could not place it ({error})",
                                                         error=said), started)
    raise AssertionError("unreachable")  # pragma: no cover


class _Stale(Conflict):
    """A trip the placement meant to move changed after the day was read, or a vehicle or driver it planned on was
    taken meanwhile (another emergency placed at the same instant plans on the same free car)."""


# How often a placement reads the day again after another writer got there first: each lost race has a winner, so
# emergencies booked at the same instant are all placed unless more of them than this want the same car.
URGENT_ATTEMPTS = 4


def _day(engine: Engine, trip_id: int, agency_ids: Collection[int] | None = None) -> _Day:
    """The day around the trip: free stretches around trips under way or done, and the assigned trips in them, on
    the vehicles of ``agency_ids`` (None: all)."""
    with unit_of_work(engine, readonly=True) as session:
        booked = queries.trip(session, trip_id)
        start, end = _bounds(booked)
        fleet = [v for v in queries.dispatchable_vehicles(session) if agency_ids is None or v.agency_id in agency_ids]
        held: dict[int, list[Assignment]] = {}
        for holding in queries.assignments_between(session, start, end, [v.id for v in fleet]):
            held.setdefault(holding.vehicle_id, []).append(holding)
        stretches: list[Segment] = []
        movable: dict[int, list[Assignment]] = {}
        for vehicle in fleet:
            mine = held.get(vehicle.id, [])
            # Only trips still waiting for their vehicle may be re-driven; the rest are fixed in time and place.
            fixed = [h for h in mine if h.trip.status is not TripStatus.assigned]
            movable[vehicle.id] = [h for h in mine if h.trip.status is TripStatus.assigned]
            stretches.extend(segments(vehicle, start, end, fixed))
        by_key = keyed(stretches)
        routes: dict[str, list[str]] = {key: [] for key in by_key}
        running: dict[str, Assignment] = {}
        stuck: set[int] = set()
        for vehicle_id, waiting in movable.items():
            keys = [k for k, s in by_key.items() if s.vehicle.id == vehicle_id]
            for holding in sorted(waiting, key=lambda h: h.starts_at):
                home_key = next((k for k in keys if by_key[k].start <= holding.starts_at
                                 and holding.ends_at <= by_key[k].end), None)
                if home_key is None:  # squeezed against a fixed trip: leave the whole vehicle as it is
                    stuck.add(vehicle_id)
                    continue
                routes[home_key].append(str(holding.trip_id))
                running[str(holding.trip_id)] = holding
        for key in [k for k, s in by_key.items() if s.vehicle.id in stuck]:
            del by_key[key]
            for t in routes.pop(key):
                running.pop(t)
    return _Day(booked, by_key, routes, running)


def _bounds(booked: Trip) -> tuple[datetime, datetime]:
    """The day an urgent placement reads around the trip: from its local midnight to a day (or its window) on,
    plus the tail."""
    return day_around(booked.earliest_pickup, booked.latest_pickup)


def day_around(earliest: datetime, latest: datetime | None = None) -> tuple[datetime, datetime]:
    """The day urgent placement reads for a pickup window: from the local midnight before ``earliest`` to a day
    (or to ``latest``) on, plus the tail."""
    start = local_moment(local_date(earliest))
    return start, max(start + timedelta(days=1), latest or start) + HORIZON_TAIL


def keep_live_days(engine: Engine, now: datetime) -> int:
    """Build today's live day (the whole platform's) unless it is kept already, and bring every kept day of
    ``engine`` that has not ended up to date with the audit log; the number of days kept.

    The server's keeper (`api.keeper`) runs this every few seconds off the request path, so that an emergency finds
    its day built (the first placement after a restart would read and build it: 8 s at 1,000 vehicles with a yard
    each) and has only the last seconds' changes to read. A day that fails to update is logged and the kept days
    dropped, as a placement's failure drops them; the next round or placement reads its day afresh.
    """
    if not live_day.enabled():
        return 0
    wanted = dict.fromkeys([(*day_around(now), None), *((s, e, scope) for s, e, scope in live_day.days_of(engine)
                                                         if e > now)])
    for start, end, scope in wanted:
        try:
            live_day.current(engine, start, end, scope)
        except Exception:
            log.exception("keeping the live day from %s failed", local_text(start))
            live_day.clear()
    return len(wanted)


def _live(engine: Engine, booked: Trip, agency_ids: Collection[int] | None) -> tuple[_Day, Problem, Plan]:
    """The day around the trip from the live day kept in this process (`fleet.live_day`), brought up to date.

    The live day only saves reading the day: if keeping it fails, the day is read afresh for this placement and
    the live one dropped (to be built again by the next), rather than the emergency going unplaced.
    """
    try:
        day = live_day.current(engine, *_bounds(booked), agency_ids)
    except FleetError:
        raise
    except Exception:
        log.exception("the live day failed; reading the day afresh for trip %s", booked.id)
        live_day.clear()
        return _afresh(engine, booked.id, agency_ids)
    return _Day(booked, day.stretches, day.routes, day.running), day.problem, day.plan


def _afresh(engine: Engine, trip_id: int, agency_ids: Collection[int] | None) -> tuple[_Day, Problem, Plan]:
    """The day around the trip read and built afresh, as every placement did before the live day."""
    day = _day(engine, trip_id, agency_ids)
    problem, plan = _running_plan(day)
    return day, problem, plan


def _running_plan(day: _Day) -> tuple[Problem, Plan]:
    """The day's plan as it stands; vehicles whose held trips the engine cannot re-drive (manual exceptions) are
    left out, as they are."""
    while True:
        trips = [day.running[t].trip for route in day.routes.values() for t in route]
        problem = problem_of(f"urgent-{day.booked.id}", day.stretches, trips)
        try:
            return problem, plan_of(problem, {key: route for key, route in day.routes.items() if route})
        except InfeasibleRoutes as exc:
            for stuck in exc.vehicles:
                del day.stretches[stuck]
                for t in day.routes.pop(stuck):
                    day.running.pop(t)


def _unplaced(engine: Engine, actor: Actor, trip_id: int, reason: str, started: float) -> Urgent:
    """Leave the trip approved, with the reason on it and in the log, for the desk to place by hand."""
    with unit_of_work(engine) as session:
        booked = queries.trip(session, trip_id, lock=True)
        if booked.status is TripStatus.approved:
            booked.dispatch_note = reason[:500]
            audit.record(session, actor, "trip.unplaced", booked, {"reason": reason})
    return Urgent(trip_id=trip_id, vehicle=None, reason=reason, seconds=perf_counter() - started)


def _apply_urgent(engine: Engine, actor: Actor, day: _Day, placement: Placement, started: float) -> Urgent:
    """Write the insertion: only the routes it changed are touched; unplaced trips wait again, approved."""
    after = {route.vehicle: route for route in placement.plan.routes}
    changed = [key for key, route in after.items() if route.trips != day.routes.get(key, [])]
    changed += [key for key, route in day.routes.items() if route and key not in after]
    wanted: dict[str, tuple[str, datetime]] = {}
    for key in changed:
        if key in after:
            wanted.update(_keep_confirmed(day, key, after[key].trips, after[key].pickups))
    try:
        return _write_urgent(engine, actor, day, placement, wanted, started)
    except _Stale:
        raise
    except Conflict as exc:  # a vehicle or driver it planned on was taken meanwhile: plan again on the day as it is
        raise _Stale(exc.detail, field=exc.field, **exc.context) from exc


def _write_urgent(engine: Engine, actor: Actor, day: _Day, placement: Placement,
                  wanted: dict[str, tuple[str, datetime]], started: float) -> Urgent:
    """`_apply_urgent`'s one write transaction: the routes it changed re-checked against the database and written."""
    booked_id = str(day.booked.id)
    with unit_of_work(engine) as session:
        touched = [t for t in [*wanted, *placement.unplaced] if t != booked_id]
        # Every car it writes to, then every trip it writes, then the drivers of the trips it moves, in the house's
        # order: a seal or a desk assignment on one of those cars takes the car before its trips too.
        queries.lock_in_order(
            session, vehicles=[day.stretches[key].vehicle.id for key, _ in wanted.values()],
            trips=[day.booked.id, *(int(t) for t in touched)],
            drivers=[d for t in touched if t in wanted and (d := day.running[t].driver_id) is not None])
        booked = queries.trip(session, day.booked.id, lock=True)
        if booked.status is not TripStatus.approved:
            raise InvalidState(msg("trip {trip_id} is now {status}", trip_id=booked.id, status=booked.status),
                               field="status")
        # The trips it moves or puts out are read under their locks before they are checked: a cancel or a start
        # committed between the check and this commit would otherwise be overwritten (a cancelled trip put back
        # in the queue as approved, a trip under way taken off its car).
        locked = {trip.id: trip for trip in session.scalars(
            sa.select(Trip).where(Trip.id.in_([int(t) for t in touched])).order_by(Trip.id)
            .with_for_update(key_share=True))}
        for t in touched:
            current = queries.active_assignment(session, int(t))
            if current is None or current.id != day.running[t].id or \
                    locked[int(t)].status is not TripStatus.assigned:
                raise _Stale(msg("trip {trip_id} changed while the emergency was being placed", trip_id=t),
                             field="trip_id")
        moving = [t for t in touched if t in wanted and (
            day.stretches[wanted[t][0]].vehicle.id != day.running[t].vehicle_id
            or wanted[t][1] != day.running[t].starts_at)]
        for t in [*moving, *placement.unplaced]:
            session.get_one(Assignment, day.running[t].id).active = False
        session.flush()
        for t in placement.unplaced:
            displaced = session.get_one(Trip, int(t))
            displaced.status = TripStatus.approved
            displaced.dispatch_note = msg("displaced by urgent trip {trip_id}; no other vehicle could take it",
                                          trip_id=booked.id)
            audit.record(session, actor, "trip.displaced", displaced, {
                "by_trip_id": booked.id, "released_vehicle_id": day.running[t].vehicle_id,
                "reason": msg("displaced by urgent trip {trip_id} and no other vehicle could take it",
                              trip_id=booked.id)})
        moved: list[Moved] = []
        for t in moving:
            key, at = wanted[t]
            vehicle = day.stretches[key].vehicle
            assign(session, actor, trip_id=int(t), source=AssignmentSource.urgent, data=AssignIn(
                vehicle_id=vehicle.id, driver_id=day.running[t].driver_id, pickup_at=at))
            if at != day.running[t].starts_at:
                moved.append(Moved(int(t), vehicle.plate, day.running[t].starts_at, at))
                audit.record(session, actor, "trip.pickup_moved", session.get_one(Trip, int(t)), {
                    "from": day.running[t].starts_at, "to": at, "plate": vehicle.plate, "by_trip_id": booked.id})
        key, at = wanted[booked_id]
        vehicle = day.stretches[key].vehicle
        interval = [occupied(booked, at)]
        # The vehicle's held trips are those on its stretches (keyed PLATE#k by `fleet.exchange.keyed`): reading
        # every held assignment of a city day for its vehicle took ~10 ms.
        driving = frozenset(d for k, route in day.routes.items() if k.rpartition("#")[0] == vehicle.plate
                            for t in route if (d := day.running[t].driver_id) is not None)
        driver = _claim_driver(session, vehicle, interval, _driver_calendar(session, *interval[0]),
                               queries.active_drivers(session), prefer=driving)
        assign(session, actor, trip_id=booked.id, source=AssignmentSource.urgent, data=AssignIn(
            vehicle_id=vehicle.id, driver_id=driver.id if driver else None, pickup_at=at))
    return Urgent(
        trip_id=day.booked.id, vehicle=vehicle.plate, displaced=[int(t) for t in placement.displaced],
        replaced={int(t): day.stretches[k].vehicle.plate for t, k in placement.replaced.items()},
        unplaced=[int(t) for t in placement.unplaced], moved=moved, seconds=perf_counter() - started)


def _claim_driver(session: Session, vehicle: Vehicle, interval: Sequence[Interval], busy: DriverCalendar,
                  drivers: Sequence[Driver], prefer: frozenset[int]) -> Driver | None:
    """`free_driver` for the emergency, among the drivers no other writer holds now (SKIP LOCKED). The placement
    already holds the drivers of the trips it moves, and it only learns which driver the emergency gets here: waiting
    for a higher-numbered one than those, out of the house's order, could close a circle with a writer holding it
    (a deadlock, answered 503); a driver someone is changing at this instant is not surely free anyway."""
    left = list(drivers)
    while (driver := free_driver(vehicle, interval, busy, left, prefer=prefer)) is not None:
        if session.scalar(sa.select(Driver.id).where(Driver.id == driver.id)
                          .with_for_update(skip_locked=True, key_share=True)) is not None:
            return driver
        left.remove(driver)
    return None


def _driver_calendar(session: Session, start: datetime, end: datetime) -> dict[int, list[tuple[datetime, datetime]]]:
    """`fleet.assignments.driver_calendar` read as three columns: at city scale (5,000 trips a day) loading the
    assignments with their trips and drivers took an urgent placement ~0.3 s."""
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for driver_id, starts, ends in session.execute(
            sa.select(Assignment.driver_id, Assignment.starts_at, Assignment.ends_at)
            .where(holds(start - timedelta(days=1), end + timedelta(days=1)), Assignment.driver_id.is_not(None))):
        if driver_id is not None:  # by the query; said again for the type checker
            busy.setdefault(driver_id, []).append((starts, ends))
    return busy


def _keep_confirmed(day: _Day, key: str, trips: Sequence[str], pickups: Sequence[datetime]
                    ) -> dict[str, tuple[str, datetime]]:
    """Pickup times for a changed route: each held trip keeps its confirmed pickup where the route still allows it.

    The engine times a route as early as it can; a held trip is instead picked up at its confirmed time whenever
    that is no earlier than the vehicle can be there and inside the trip's window, and the route still ends in its
    stretch. If it does not, the engine's times stand, and the moves are reported.
    """
    engine_times = dict(zip(trips, pickups, strict=True))
    chosen: dict[str, tuple[str, datetime]] = {}
    stretch = day.stretches[key]
    previous: Trip | None = None
    free_at: datetime | None = None
    for t in trips:
        trip = day.booked if t == str(day.booked.id) else day.running[t].trip
        ready = engine_times[t]
        if previous is not None and free_at is not None:
            ready = max(ready, free_at + drive((previous.dropoff_lat, previous.dropoff_lon),
                                               (trip.pickup_lat, trip.pickup_lon)))
        if ready > trip.latest_pickup:
            return {t: (key, at) for t, at in engine_times.items()}
        confirmed = day.running[t].starts_at if t in day.running else None
        at = confirmed if confirmed is not None and ready <= confirmed <= trip.latest_pickup else ready
        chosen[t] = (key, at)
        free_at = occupied(trip, at)[1]
        previous = trip
    if previous is not None and free_at is not None and \
            free_at + drive((previous.dropoff_lat, previous.dropoff_lon), home(stretch.vehicle)) > stretch.end:
        return {t: (key, at) for t, at in engine_times.items()}
    return chosen
