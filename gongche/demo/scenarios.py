"""The demo's last act: the registry's own fleet and booked day, simulated under reform scenarios.

The fleet comes from the database (`fleet.exports.fleet_document`, as ``gongche fleet export`` writes it) and the
day's trips are replayed from it, so the comparison is about the city the demo just ran, not a synthetic one.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from rich.console import Console
from sqlalchemy import Engine

from fleet.db import unit_of_work
from fleet.exports import fleet_document
from scenarios import report, runner
from scenarios.spec import load


def run(engine: Engine, console: Console, *, day: date, out_dir: Path) -> Path:
    """Compare the registry's fleet as one pool, as separate agency fleets and cut by 30 %, on ``day``'s trips."""
    folder = out_dir / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    with unit_of_work(engine, readonly=True) as session:
        fleet = fleet_document(session)
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
    return written
