"""``python -m scenarios``: a run and a comparison over the shipped files, end to end, with their outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from scenarios.cli import app

SHIPPED = Path(__file__).parents[2] / "scenarios"
PLOTS = ("frontier.png", "utilisation.png", "cost.png", "emergency_delay.png")


def _folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


def test_compare_the_shipped_scenarios(tmp_path: Path) -> None:
    """One working day of every shipped file (the default sizes take minutes, see docs/benchmarks.md)."""
    files = sorted(SHIPPED.glob("*.yaml"))
    result = CliRunner().invoke(app, ["compare", *map(str, files), "--days", "1", "--replications", "1",
                                      "--no-sweep", "--workers", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Scenario comparison" in result.output
    folder = _folder(tmp_path)
    for name in ("comparison.md", "comparison.csv", "comparison.xlsx", "days.csv", "summaries.json", *PLOTS):
        assert (folder / name).stat().st_size > 0, name
    assert {p.name for p in (folder / "scenarios").glob("*.yaml")} == {p.name for p in files}
    with (folder / "comparison.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[1:] == [p.stem for p in files]
    assert load_workbook(folder / "comparison.xlsx")["comparison"]["A2"].value == "vehicles held"

    summary = {s["scenario"]: s for s in json.loads((folder / "summaries.json").read_text(encoding="utf-8"))}
    served = {name: s["share_served"] for name, s in summary.items()}
    # A cut fleet serves no more, up to the search's luck: two scenarios are searched independently (a sweep, whose
    # sizes are chained, guarantees it: test_sweep.py), and where calls find an idle car is partly chance.
    assert served["cut-30"] <= served["baseline"] + 0.005
    assert served["rental-overflow"] >= served["cut-30"]  # rental takes what the cut fleet misses
    pooling = summary["pooling"]
    assert sum(pooling["min_fleet_pooled"].values()) <= sum(pooling["min_fleet"].values())
    for s in summary.values():  # the minimum fleet is never above the fleet that served the trips
        for category, needed in s["min_fleet"].items():
            assert needed <= s["used_by_category"][category] <= s["held_by_category"].get(category, 0)
    assert summary["surge"]["offered_per_day"]["emergency"] > 3 * summary["baseline"]["offered_per_day"]["emergency"]
    assert summary["nev-100"]["nev_share"] == 1.0
    assert summary["nev-100"]["co2_t"] < summary["baseline"]["co2_t"]


def test_run_with_a_sweep_writes_the_frontier(tmp_path: Path) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text(
        "extends: " + str(SHIPPED / "baseline.yaml") + "\n"
        "name: small\n"
        "sweep: {scales: [0.4, 1.0], replications: 1, days: 1}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["run", str(scenario), "--days", "1", "--replications", "1",
                                      "--workers", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folder = _folder(tmp_path / "out")
    with (folder / "frontier.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["scale"]) for r in rows] == [0.4, 1.0]
    assert int(rows[0]["held"]) < int(rows[1]["held"]) == 300
    assert float(rows[0]["share_served"]) <= float(rows[1]["share_served"])
    assert {p.name for p in (folder / "scenarios").glob("*.yaml")} == {"small.yaml", "baseline.yaml"}


def test_two_scenarios_with_one_name_are_refused(tmp_path: Path) -> None:
    base = str(SHIPPED / "baseline.yaml")
    result = CliRunner().invoke(app, ["compare", base, base, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "named 'baseline'" in result.output
