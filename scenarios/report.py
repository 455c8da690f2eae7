"""Tables and plots of scenario outcomes: the terminal (rich), Markdown, CSV, XLSX and PNG, in one results folder."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # the object API: no pyplot state, no window, safe in any process
from openpyxl import Workbook
from rich.table import Table

from scenarios.metrics import COST_PARTS, Summary, percentile
from scenarios.runner import Outcome

PRIORITY_LABELS = {"emergency": "emergency", "law_enforcement": "law enforcement", "routine": "routine"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _wan(cny: float) -> str:
    return f"{cny / 10_000:,.0f}"


def _fleet_pair(s: Summary, needed: int) -> str:
    return f"{needed} / {s.held}"


def _served(priority: str) -> Callable[[Summary], str]:
    return lambda s: _pct(s.served_share[priority])


def _cost(part: str) -> Callable[[Summary], str]:
    return lambda s: _wan(s.cost.get(part, 0.0))


#: (label, how to show it) — one row of the comparison per entry, one column per scenario.
ROWS: tuple[tuple[str, Callable[[Summary], str]], ...] = (
    ("vehicles held", lambda s: str(s.held)),
    ("new-energy share", lambda s: _pct(s.nev_share)),
    ("trips per working day", lambda s: _num(sum(s.offered_per_day.values()))),
    *((f"served by the fleet: {label}", _served(p)) for p, label in PRIORITY_LABELS.items()),
    ("rental trips per day", lambda s: _num(s.rented_per_day)),
    ("all trips served (fleet + rental)", lambda s: _pct(s.share_served)),
    ("emergency pickup delay p50 (min)", lambda s: _num(s.emergency_p50_min)),
    ("emergency pickup delay p95 (min)", lambda s: _num(s.emergency_p95_min)),
    ("deadhead share of km", lambda s: _pct(s.deadhead_share)),
    ("vehicles used (working day)", lambda s: _num(s.vehicles_used)),
    ("peak-hour utilisation", lambda s: _pct(max(s.utilisation_by_hour))),
    ("minimum fleet / held", lambda s: _fleet_pair(s, s.min_fleet_total)),
    ("minimum fleet if pooled / held", lambda s: _fleet_pair(s, s.min_fleet_pooled_total)),
    *((f"cost: {part} (10k CNY/yr)", _cost(part)) for part in COST_PARTS),
    ("annual cost (10k CNY)", lambda s: _wan(s.cost_total)),
    ("CO2 (t/yr)", lambda s: _num(s.co2_t, 0)),
    ("km per year", lambda s: _num(s.km_per_year, 0)),
)


def comparison(outcomes: Sequence[Outcome]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table."""
    header = ["metric", *(o.scenario.name for o in outcomes)]
    return header, [[label, *(show(o.summary) for o in outcomes)] for label, show in ROWS]


def rich_table(outcomes: Sequence[Outcome]) -> Table:
    header, rows = comparison(outcomes)
    table = Table(title="Scenario comparison", show_lines=False)
    table.add_column(header[0])
    for name in header[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def markdown(outcomes: Sequence[Outcome]) -> str:
    header, rows = comparison(outcomes)
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write(outcomes: Sequence[Outcome], sources: Sequence[Path], root: Path, label: str) -> Path:
    """Write every table and plot into a new folder under ``root``, with the scenario files copied in."""
    folder = root / f"{datetime.now():%Y%m%d-%H%M%S}-{label}"
    suffix = 1
    while folder.exists():
        folder = root / f"{datetime.now():%Y%m%d-%H%M%S}-{label}-{suffix}"
        suffix += 1
    (folder / "scenarios").mkdir(parents=True)
    for source in sources:
        shutil.copy2(source, folder / "scenarios" / source.name)
    for outcome in outcomes:
        (folder / "scenarios" / f"{outcome.scenario.name}.resolved.json").write_text(
            outcome.scenario.model_dump_json(indent=2), encoding="utf-8")
    header, rows = comparison(outcomes)
    (folder / "comparison.md").write_text(markdown(outcomes), encoding="utf-8")
    with (folder / "comparison.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    _xlsx(outcomes, folder / "comparison.xlsx")
    _days_csv(outcomes, folder / "days.csv")
    _frontier_csv(outcomes, folder / "frontier.csv")
    (folder / "summaries.json").write_text(json.dumps(
        [_summary_json(o.summary) for o in outcomes]
        + [_summary_json(point) for o in outcomes for point in o.frontier], indent=1), encoding="utf-8")
    plot_frontier(outcomes, folder / "frontier.png")
    plot_utilisation(outcomes, folder / "utilisation.png")
    plot_cost(outcomes, folder / "cost.png")
    plot_delays(outcomes, folder / "emergency_delay.png")
    return folder


def _summary_json(summary: Summary) -> dict[str, object]:
    data = dataclasses.asdict(summary)
    data.pop("emergency_delays_min")
    data["cost_total"] = summary.cost_total
    return data


def _xlsx(outcomes: Sequence[Outcome], path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "comparison"
    header, rows = comparison(outcomes)
    for line in [header, *rows]:
        sheet.append(line)
    sheet.column_dimensions["A"].width = 38
    for title, table in (("days", _day_rows(outcomes)), ("frontier", _frontier_rows(outcomes))):
        extra = book.create_sheet(title)
        for row in table:
            extra.append(row)
    book.save(path)


DAY_COLUMNS = ("scenario", "sweep", "scale", "replication", "date", "working", "surge", "held", "offered", "served",
               "served_emergency", "rented", "empty_km", "total_km", "vehicles_used", "min_fleet",
               "min_fleet_pooled", "emergency_p95_min", "source", "seconds")


def _day_rows(outcomes: Sequence[Outcome]) -> list[list[object]]:
    rows: list[list[object]] = [list(DAY_COLUMNS)]
    for outcome in outcomes:
        for d in outcome.days:
            p95 = percentile([x / 60 for x in d.emergency_delay_s], 95)
            rows.append([d.scenario, d.sweep, d.scale, d.replication, d.date, d.working, d.surge, d.held,
                         sum(d.offered.values()), sum(d.served.values()), d.served.get("emergency", 0), d.rented,
                         d.empty_km, d.total_km, d.vehicles_used, sum(d.min_fleet.values()),
                         sum(d.min_fleet_pooled.values()), p95, d.source, d.seconds])
    return rows


def _days_csv(outcomes: Sequence[Outcome], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(_day_rows(outcomes))


def _frontier_rows(outcomes: Sequence[Outcome]) -> list[list[object]]:
    rows: list[list[object]] = [["scenario", "scale", "held", "share_served", "emergency_served",
                                 "min_fleet", "annual_cost_cny"]]
    for outcome in outcomes:
        for point in outcome.frontier:
            rows.append([point.scenario, point.scale, point.held, round(point.share_served, 5),
                         round(point.served_share["emergency"], 5), point.min_fleet_total, round(point.cost_total)])
    return rows


def _frontier_csv(outcomes: Sequence[Outcome], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(_frontier_rows(outcomes))


# -- plots -------------------------------------------------------------------------------------------------------


def plot_frontier(outcomes: Sequence[Outcome], path: Path) -> None:
    """Share of trips served against vehicles held: each sweep as a line, each scenario as a point."""
    figure = Figure(figsize=(8, 5))
    axes = figure.subplots()
    for outcome in outcomes:
        if outcome.frontier:
            held = [p.held for p in outcome.frontier]
            name = f"{outcome.scenario.name} ({outcome.scenario.dispatch.mode})"
            axes.plot(held, [100 * p.share_served for p in outcome.frontier], marker="o", label=f"{name}: all trips")
            axes.plot(held, [100 * p.served_share["emergency"] for p in outcome.frontier], marker=".",
                      linestyle="--", label=f"{name}: emergencies")
            for point in outcome.frontier:
                axes.annotate(f"{point.scale:.0%}", (point.held, 100 * point.share_served), fontsize=7,
                              textcoords="offset points", xytext=(0, 6), ha="center")
    for outcome in outcomes:
        s = outcome.summary
        axes.scatter([s.held], [100 * s.share_served], marker="*", s=140, zorder=3, label=outcome.scenario.name)
    axes.set_xlabel("vehicles held")
    axes.set_ylabel("trips served (%)")
    axes.set_title("Fleet-size frontier")
    axes.grid(alpha=0.3)
    _legend(axes, loc="lower right")
    _save(figure, path)


def plot_utilisation(outcomes: Sequence[Outcome], path: Path) -> None:
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    for outcome in outcomes:
        axes.plot(range(24), [100 * u for u in outcome.summary.utilisation_by_hour], marker=".",
                  label=outcome.scenario.name)
    axes.set_xticks(range(0, 24, 2))
    axes.set_xlabel("hour of the day")
    axes.set_ylabel("vehicles busy (% of held)")
    axes.set_title("Utilisation by hour (mean working day)")
    axes.grid(alpha=0.3)
    _legend(axes)
    _save(figure, path)


def plot_cost(outcomes: Sequence[Outcome], path: Path) -> None:
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    names = [o.scenario.name for o in outcomes]
    bottom = [0.0] * len(outcomes)
    for part in COST_PARTS:
        values = [o.summary.cost.get(part, 0.0) / 1e6 for o in outcomes]
        axes.bar(names, values, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_ylabel("million CNY per year")
    axes.set_title("Annual cost by component")
    axes.tick_params(axis="x", labelrotation=20)
    _legend(axes)
    _save(figure, path)


def plot_delays(outcomes: Sequence[Outcome], path: Path) -> None:
    """Distribution (empirical CDF) of emergency pickup delays."""
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    for outcome in outcomes:
        delays = outcome.summary.emergency_delays_min
        if delays:
            axes.step(delays, [100 * (k + 1) / len(delays) for k in range(len(delays))], where="post",
                      label=f"{outcome.scenario.name} (n={len(delays)})")
    axes.set_xlabel("emergency pickup delay after the request (min)")
    axes.set_ylabel("emergencies picked up within (%)")
    axes.set_title("Emergency pickup delay")
    axes.grid(alpha=0.3)
    _legend(axes)
    _save(figure, path)


def _legend(axes: Axes, loc: Literal["best", "lower right"] = "best") -> None:
    if axes.get_legend_handles_labels()[0]:  # a plot with nothing to show (no emergency served) has no legend
        axes.legend(fontsize=8, loc=loc)


def _save(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
