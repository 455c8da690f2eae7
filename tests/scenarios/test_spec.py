"""Scenario files: the shipped ones load, a bad one is refused with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.cli import app
from scenarios.spec import ScenarioError, load
from scenarios.vehicles import held

SHIPPED = Path(__file__).parents[2] / "scenarios"
NAMES = ("baseline", "cut-30", "pooling", "nev-50", "nev-100", "surge", "rental-overflow")


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_load(name: str) -> None:
    scenario = load(SHIPPED / f"{name}.yaml")
    assert scenario.name == name
    assert len(scenario.fleet.agencies) == 20


def test_baseline_is_the_city_the_issue_asks_for() -> None:
    baseline = load(SHIPPED / "baseline.yaml")
    assert len(held(baseline)) == 300
    assert 500 <= sum(a.trips for a in baseline.fleet.agencies) <= 800


def test_policy_files_change_what_they_say() -> None:
    baseline, cut = load(SHIPPED / "baseline.yaml"), load(SHIPPED / "cut-30.yaml")
    assert baseline.fleet.agencies == cut.fleet.agencies  # inherited through `extends`
    for category, count in _by_category(held(baseline)).items():
        assert _by_category(held(cut))[category] == round(0.7 * count)
    assert load(SHIPPED / "pooling.yaml").dispatch.mode == "separate"
    nev100 = load(SHIPPED / "nev-100.yaml")
    nev = held(nev100)
    assert all(nev100.is_new_energy(v.powertrain) for v in nev)
    assert {v.range_km for v in nev if v.powertrain.value == "bev"} == {240}  # 300 km rated, 80 % usable per shift


def _by_category(vehicles: list) -> dict[str, int]:  # type: ignore[type-arg]
    counts: dict[str, int] = {}
    for vehicle in vehicles:
        counts[vehicle.category.value] = counts.get(vehicle.category.value, 0) + 1
    return counts


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_value_is_refused_with_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", (
        "name: bad\n"
        "fleet:\n"
        "  agencies:\n"
        "    - code: A\n"
        "      name: A\n"
        "      lat: 30.6\n"
        "      lon: 114.3\n"
        "      trips: -3\n"
        "      vehicles: {general: 2}\n"
    ))
    with pytest.raises(ScenarioError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}:8: field 'fleet.agencies.0.trips'")
    assert "greater than or equal to 0" in str(caught.value)
    assert caught.value.field == "fleet.agencies.0.trips"


def test_an_unknown_key_in_a_derived_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "baseline.yaml").write_text((SHIPPED / "baseline.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    path = _write(tmp_path, "child.yaml", "extends: baseline.yaml\nname: child\ndispatch:\n  mode: pool\n  speed: 40\n")
    with pytest.raises(ScenarioError, match=r"child\.yaml:5: field 'dispatch.speed': Extra inputs"):
        load(path)


def test_extends_loops_and_missing_files_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    _write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError, match="loops back"):
        load(tmp_path / "a.yaml")
    with pytest.raises(ScenarioError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match=r"bad\.yaml:\d+: not valid YAML"):
        load(_write(tmp_path, "bad.yaml", "name: x\nfleet: [\n"))


def test_a_fleet_exported_from_the_registry_can_be_named_by_file(tmp_path: Path) -> None:
    _write(tmp_path, "fleet.yaml", (
        "agencies:\n"
        "  - {code: A, name: A, lat: 30.6, lon: 114.3, trips: 12.5,\n"
        "     vehicles: [{id: 鄂A1, category: general, seats: 5, powertrain: bev, range_km: 400}]}\n"
    ))
    path = _write(tmp_path, "s.yaml", "name: s\nfleet:\n  file: fleet.yaml\n  usable_range: 0.5\n")
    scenario = load(path)
    (vehicle,) = held(scenario)
    assert vehicle.id == "鄂A1"
    assert vehicle.range_km == 200  # the exported rated range, halved by the scenario's usable share


def test_cli_exits_2_on_a_bad_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", "name: bad\nfleet: {agencies: []}\n")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "fleet.agencies" in result.output
    assert "Traceback" not in result.output
