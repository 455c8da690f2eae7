"""The demo's last act: the registry's own fleet and booked day, simulated under reform scenarios.

The fleet comes from the database (`fleet.exports.fleet_document`, as ``gongche fleet export`` writes it) and the
day's trips are replayed from it, so the comparison is about the city the demo just ran, not a synthetic one. The
replay keeps when each trip was booked: the day's emergencies, phoned in the evening before, are dispatched with
the day's bookings as the live day placed them then, not as calls at their pickup time; and each vehicle starts
from its own yard, not from its agency's mean position.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from fleet.clock import local_moment
from fleet.db import unit_of_work
from fleet.enums import Priority, TripStatus
from fleet.exports import NOT_BOOKED, fleet_document
from fleet.models import Trip
from scenarios import report, runner
from scenarios.spec import load


def run(engine: Engine, console: Console, *, day: date, out_dir: Path) -> Path:
    """Compare the registry's fleet as one pool, as separate agency fleets and cut by 30 %, on ``day``'s trips."""
    folder = out_dir / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    with unit_of_work(engine, readonly=True) as session:
        fleet = fleet_document(session)
        placed, emergencies = _live_emergencies(session, day)
    (folder / "registry-fleet.yaml").write_text(yaml.safe_dump(fleet, allow_unicode=True, sort_keys=False),
                                                encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    base = {
        "name": "registry",
        "title": "The registry's fleet, one pool",
        "seed": 1,
        "replications": 1,
        "calendar": {"start": day.isoformat(), "days": 1},
        "dispatch": {"mode": "pool", "time_limit_s": 2.0},
        "fleet": {"file": "registry-fleet.yaml"},
        "demand": {"replay": {"database": url}},
        "sweep": {"scales": [0.4, 0.55, 0.7, 0.85, 1.0], "replications": 1},
    }
    variants = {
        "registry": base,
        "registry-separate": {"extends": "registry.yaml", "name": "registry-separate", "sweep": None,
                              "dispatch": {"mode": "separate"}},
        "registry-cut-30": {"extends": "registry.yaml", "name": "registry-cut-30", "sweep": None,
                            "fleet": {"scale": 0.7}},
    }
    files = []
    for name, document in variants.items():
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        files.append(path)
    scenarios = [load(path) for path in files]
    with console.status("Simulating the registry's fleet under three policies (python -m scenarios)…"):
        outcomes = runner.run(scenarios, workers=2)
    console.print(report.rich_table(outcomes))
    written = report.write(outcomes, files, folder, "registry")
    pool, separate, cut = (o.summary for o in outcomes)
    console.print(f"[bold]Scenarios[/] on {day}'s {sum(pool.offered_per_day.values()):.0f} booked trips: one pool of "
                  f"{pool.held} serves {pool.share_served:.1%}, separate agency fleets {separate.share_served:.1%}; "
                  f"the trips the separate fleets served need {separate.min_fleet_total} vehicles agency by agency "
                  f"and {separate.min_fleet_pooled_total} from one pool; cut by 30 % to {cut.held}, the pool serves "
                  f"{cut.share_served:.1%}. Tables and plots in {written}")
    sweep = [point.served_share["emergency"] for point in outcomes[0].frontier] or [pool.served_share["emergency"]]
    held = [point.held for point in outcomes[0].frontier] or [pool.held]
    console.print(f"Emergencies on {day}: the live day placed {placed} of {emergencies}; replayed (as booked, each "
                  f"car from its own yard) the pool serves {pool.served_share['emergency']:.1%} of them, "
                  f"{min(sweep):.1%}–{max(sweep):.1%} along its sweep from {min(held)} to {max(held)} vehicles")
    return written


def _live_emergencies(session: Session, day: date) -> tuple[int, int]:
    """How many of ``day``'s booked emergencies the live day gave a vehicle, and how many there were."""
    statuses = session.scalars(sa.select(Trip.status).where(
        Trip.priority == Priority.emergency, Trip.status.not_in(NOT_BOOKED),
        Trip.earliest_pickup >= local_moment(day), Trip.earliest_pickup < local_moment(day + timedelta(days=1)),
    )).all()
    given = (TripStatus.assigned, TripStatus.in_progress, TripStatus.completed)
    return sum(status in given for status in statuses), len(statuses)
