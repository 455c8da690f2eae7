"""The booked day driven again, by the vehicles' terminals (issue 15): each vehicle on the road gets its terminal
number recorded (an audited amendment), the ingest's listeners (JT/T 808 over TCP, OsmAnd over HTTP) start in this
process on free ports against the demo's database, and the terminal simulator drives the day's routes at road
speeds — a day of device time in a few seconds — with misuse planted: an unbooked drive to a geofenced scenic spot,
a detour, an unplugged terminal, speeding and idling. The usage audit then reads the tracks, and each planted
misuse is shown beside the finding that caught it.

Device times are the booked day's own (tomorrow): the platform's clock is moved past the day's end while it runs, so
no fix is ahead of "now" (the ingest would refuse it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from datetime import time as dtime

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from fleet import amendments, clock, usage_audit
from fleet.audit import Actor
from fleet.clock import CHINA, local_moment
from fleet.db import unit_of_work
from fleet.models import Assignment, Vehicle
from fleet.schemas import VehiclePatch
from fleet.usage_audit import Finding, FindingKind
from telematics import simulator
from telematics.ingest import Ingest
from telematics.simulator import Misuse

ADMIN = Actor("demo-admin", "admin")
# What the audit calls each planted misuse when it finds it on the track.
CAUGHT_AS: dict[Misuse, tuple[FindingKind, ...]] = {
    Misuse.unbooked: (FindingKind.unscheduled_drive, FindingKind.geofence_entry),
    Misuse.detour: (FindingKind.detour,),
    Misuse.unplugged: (FindingKind.terminal_offline,),
    Misuse.speeding: (FindingKind.speeding,),
    Misuse.idling: (FindingKind.idling,),
}
WALL_SECONDS = 10.0  # the day's device time squeezed into about this much wall time


def terminal_number(vehicle_id: int) -> str:
    """The demo's terminal numbers: 11 digits, fit for a 2013 header (BCD[6]) and a 2019 one."""
    return f"1440{vehicle_id:07d}"


def fit_terminals(engine: Engine, day: date) -> int:
    """Record a terminal number on each vehicle with an assignment on ``day`` that has none (an amendment, as the
    records office would make it). How many were fitted."""
    start, end = local_moment(day), local_moment(day + timedelta(days=1))
    with unit_of_work(engine) as session:
        bare = list(session.scalars(
            sa.select(Vehicle.id).where(Vehicle.terminal_id.is_(None), Vehicle.id.in_(
                sa.select(Assignment.vehicle_id).where(Assignment.active, Assignment.starts_at >= start,
                                                       Assignment.starts_at < end))).order_by(Vehicle.id)))
        for vehicle_id in bare:
            amendments.amend_vehicle(session, ADMIN, vehicle_id=vehicle_id,
                                     data=VehiclePatch.parse({"terminal_id": terminal_number(vehicle_id)}))
    return len(bare)


async def _drive(engine: Engine, plan: simulator.DayPlan, speedup: float) -> simulator.Report:
    ingest = Ingest(engine)
    ports = await ingest.start("127.0.0.1", 0, 0)
    try:
        return await simulator.drive(plan, host="127.0.0.1", jt808_port=ports["jt808"], osmand_port=ports["osmand"],
                                     speedup=speedup)
    finally:
        await ingest.close()


def caught(planted: simulator.Planted, found: Sequence[Finding]) -> list[Finding]:
    """The track findings on the planted misuse's vehicle, of a kind that names it, timed within its window."""
    kinds = CAUGHT_AS[planted.kind]
    return [f for f in found if f.kind in kinds and f.vehicle_id == planted.vehicle_id and f.at is not None
            and planted.start - timedelta(minutes=15) <= f.at <= planted.end + timedelta(minutes=5)
            and f.evidence.get("source") == "track"]


def unplanted(planted: Sequence[simulator.Planted], found: Sequence[Finding]) -> list[Finding]:
    """The track findings on no planted misuse: not on a planted vehicle within the misuse's window (of any kind:
    a planted detour is also 行驶里程超出计划, an unbooked outing also 定点停放). Each is a false alarm or a lead."""
    def planted_one(f: Finding) -> bool:
        return f.at is not None and any(
            f.vehicle_id == p.vehicle_id and p.start - timedelta(minutes=15) <= f.at <= p.end + timedelta(minutes=5)
            for p in planted)
    return [f for f in found if f.evidence.get("source") == "track" and not planted_one(f)]


def _km(finding: Finding) -> str:
    evidence = finding.evidence
    for key in ("km", "strayed_km", "track_km"):
        if isinstance(evidence.get(key), int | float):
            return f"{evidence[key]:.1f}"
    return ""


def _local(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%H:%M")


def run(engine: Engine, console: Console, *, day: date, seed: int = 2026) -> bool:
    """Drive ``day`` with terminals, audit the tracks and show what was caught. Whether every planted misuse was."""
    fitted = fit_terminals(engine, day)
    rules = usage_audit.configured_rules()
    with unit_of_work(engine, readonly=True) as session:
        days, without = simulator.read_day(session, day)
    plan = simulator.plan_day(days, day, rules, plant=set(Misuse), seed=seed, interval_s=30, parked_interval_s=300,
                              osmand_share=1 / 16)
    if not plan.scripts:
        console.print("[yellow]No vehicle has an assignment on the day: nothing for the terminals to drive[/]")
        return True
    speedup = max(1.0, (plan.last - plan.first).total_seconds() / WALL_SECONDS)
    started = time.perf_counter()
    # Past the day's end (and its vehicles' last fix), so that no device time is ahead of the platform's clock.
    with clock.travel(max(plan.last, local_moment(day + timedelta(days=1), dtime(0, 30))) + timedelta(minutes=30)):
        with console.status(f"Terminals drive {day} ({len(plan.scripts)} vehicles, {plan.fixes:,} fixes) at "
                            f"{speedup:,.0f}x…"):
            report = asyncio.run(_drive(engine, plan, speedup))
        with unit_of_work(engine, readonly=True) as session:
            found = usage_audit.findings(session, start=local_moment(day), end=local_moment(day + timedelta(days=1)))
    seconds = time.perf_counter() - started
    mix = ", ".join(f"{n} {name}" for name, n in sorted(report.protocols.items()))
    missing = f", {without} vehicles without one" if without else ""
    console.print(
        f"[bold]Terminals[/] ({fitted} terminal numbers recorded{missing}): {report.terminals} vehicles ({mix}) "
        f"drove {day} in {report.wall_seconds:.1f} s of wall time; "
        f"{report.sent:,} fixes sent, {report.acknowledged:,} acknowledged after they were stored "
        f"({report.backfilled} back-filled after a signal loss with 0x0704), {report.refused} refused, "
        f"{report.unanswered} unanswered; acknowledgement p50 {report.percentile(50):.0f} ms, "
        f"p99 {report.percentile(99):.0f} ms")
    table = Table(title=f"Misuse planted on the terminals, and what the audit found from the track "
                        f"({seconds:.0f} s with the audit)")
    for column in ("planted", "vehicle", "when", "found", "at", "km", "source"):
        table.add_column(column, no_wrap=column in ("vehicle", "when", "at"))
    every = True
    for planted in plan.planted:
        hits = caught(planted, found)
        window = f"{_local(planted.start)}–{_local(planted.end)}"
        if not hits:
            every = False
            table.add_row(planted.kind.value, planted.plate, window, "[bold red]not found[/]", "", "", "")
            continue
        for n, hit in enumerate(hits[:2]):
            table.add_row(planted.kind.value if n == 0 else "", planted.plate if n == 0 else "",
                          window if n == 0 else "", f"[green]{hit.kind.zh}[/] {hit.kind.value}",
                          _local(hit.at) if hit.at else "", _km(hit), str(hit.evidence.get("source", "")))
    console.print(table)
    for reason in plan.skipped:
        console.print(f"  not planted: {reason}")
    track = [f for f in found if f.evidence.get("source") == "track"]
    kinds = sorted({f.kind for f in track}, key=lambda k: k.value)
    console.print(f"Track findings on {day}: {len(track)} ("
                  + ", ".join(f"{k.zh} {sum(1 for f in track if f.kind is k)}" for k in kinds) + ")")
    stray = unplanted(plan.planted, track)
    console.print(f"[{'yellow' if stray else 'green'}]Track findings not planted: {len(stray)}[/]")
    for f in sorted(stray, key=lambda f: (f.at or datetime.min.replace(tzinfo=CHINA), f.kind.value)):
        trip = f" trip {f.trip_id}" if f.trip_id is not None else ""
        console.print(f"  {f.kind.zh} {f.kind.value} {f.plate} {_local(f.at) if f.at else ''}{trip}",
                      soft_wrap=True)
    found_count = sum(1 for planted in plan.planted if caught(planted, found))
    style = "green" if every else "bold red"
    console.print(f"[{style}]Planted misuse found from the track: {found_count} of {len(plan.planted)}[/]")
    return every
