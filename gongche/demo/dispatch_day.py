"""The demo's dispatch day: today's trip requests on the registry the year left, dispatched over the vehicles on
the road (OR-Tools), then an urgent emergency placed into the plan."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy.orm import Session

from dispatch.insert import insert
from dispatch.problem import Problem
from dispatch.solve import solve
from dispatch.synthetic import city_instance
from fleet import queries
from fleet.clock import local_moment
from fleet.exchange import ROUND_THE_CLOCK
from fleet.models import Agency, Vehicle


def run(session: Session, console: Console, *, today: date, out_dir: Path) -> None:
    """Dispatch today's requests over the vehicles on the road, then place an urgent emergency into the plan."""
    with console.status("Dispatching today's trip requests (OR-Tools)…"):
        data = problem_for_day(session, today)
        problem = Problem.parse(data)
        # A second of the five for the bounds' LP relaxation (issue 16), so the gap below means something.
        plan = solve(problem, time_limit=5, seed=0, bound_seconds=1.5)
    (out_dir / f"dispatch-{today}.problem.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (out_dir / f"dispatch-{today}.plan.json").write_text(
        json.dumps(plan.exchange(), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    table = RichTable(title=f"Dispatch {today}: {len(problem.vehicles)} vehicles on the road, "
                            f"{len(problem.trips)} requests")
    for column in ("priority", "served", "requested", "no plan serves more"):
        table.add_column(column, justify="right" if column != "priority" else "left")
    for priority, served in plan.objective.served.items():
        table.add_row(priority.value, str(served), str(plan.objective.offered[priority]),
                      str(plan.bounds.served_upper[priority]))
    console.print(table)
    console.print(
        f"{plan.objective.vehicles_used} vehicles used, {plan.objective.deadhead_km:,.0f} empty km "
        f"(no plan serving these trips drives less than {plan.bounds.deadhead_lower_km:,.0f}); "
        f"build {plan.build_seconds:.1f} s, search {plan.solve_seconds:.1f} s ({plan.stopped_by}, "
        f"{plan.workers} process{'es' if plan.workers > 1 else ''}), bounds {plan.bounds.seconds:.1f} s"
    )
    console.print(f"  bounds: {plan.bounds.method}")
    for unserved in plan.unserved[:3]:
        console.print(f"  unserved {unserved.trip} ({unserved.priority.value}): {unserved.reason}")
    with console.status("The dispatcher re-runs the day, starting from this plan (warm start)…"):
        again = solve(problem, time_limit=2, seed=1, start=plan)
    console.print(
        "Re-run from the plan for 2 s: served "
        + " / ".join(f"{again.objective.served[p]} (was {plan.objective.served[p]})" for p in plan.objective.served)
        + f", {again.objective.deadhead_km:,.0f} empty km (was {plan.objective.deadhead_km:,.0f}): a warm start "
        "never comes back worse"
    )
    source = problem.trips[0]
    at = datetime.combine(today, time(10, 0), source.earliest_pickup.tzinfo)
    urgent = {
        "id": "URGENT-1", "priority": "emergency", "categories": ["emergency", "law_enforcement"], "passengers": 2,
        "pickup": source.dropoff.model_dump(), "dropoff": source.pickup.model_dump(),
        "earliest_pickup": at.isoformat(), "latest_pickup": (at + timedelta(minutes=15)).isoformat(),
        "dwell_min": 30,
    }
    placed = insert(plan, problem, urgent, now=at)
    moved = f", displacing {', '.join(placed.displaced)}" if placed.displaced else ""
    console.print(
        f"Urgent emergency at 10:00 placed on [bold]{placed.vehicle or 'no vehicle'}[/] in "
        f"{placed.seconds * 1000:.0f} ms{moved}; plan written to {out_dir / f'dispatch-{today}.plan.json'}"
    )


def problem_for_day(session: Session, day: date, *, trips_per_vehicle: float = 3.0, seed: int = 0) -> dict[str, Any]:
    """An exchange-format instance: today's available vehicles at their agencies' yards, and a day of requests."""
    vehicles = queries.dispatchable_vehicles(session)
    by_agency: dict[int, list[Vehicle]] = {}
    for vehicle in vehicles:
        by_agency.setdefault(vehicle.agency_id, []).append(vehicle)
    rows = session.execute(sa.select(Agency.id, Agency.code).where(Agency.id.in_(by_agency)))
    codes: dict[int, str] = {agency: code for agency, code in rows}
    depots = [
        {
            "id": codes[agency],
            "lat": round(fmean(v.home_lat for v in held if v.home_lat is not None), 6),
            "lon": round(fmean(v.home_lon for v in held if v.home_lon is not None), 6),
        }
        for agency, held in sorted(by_agency.items(), key=lambda item: codes[item[0]])
    ]
    morning = local_moment(day, time(7, 30))
    evening = local_moment(day, time(19, 30))
    midnight = local_moment(day)
    fleet = [
        {
            "id": v.plate,
            "depot": codes[v.agency_id],
            "category": v.category.value,
            "seats": v.seats,
            "powertrain": v.powertrain.value,
            "range_km": v.range_km,
            "shift_start": (midnight if v.category in ROUND_THE_CLOCK else morning).isoformat(),
            "shift_end": (
                midnight + timedelta(days=1) - timedelta(minutes=1) if v.category in ROUND_THE_CLOCK else evening
            ).isoformat(),
        }
        for v in vehicles
    ]
    requests = city_instance(max(1, len(fleet)), round(len(fleet) * trips_per_vehicle), seed=seed, day=day)
    return {
        "format": "dispatch/1",
        "name": f"wuhan-{day.isoformat()}",
        "road_factor": requests["road_factor"],
        "speed_kmh": requests["speed_kmh"],
        "depots": depots,
        "vehicles": fleet,
        "trips": requests["trips"],
    }
