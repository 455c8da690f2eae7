"""Reading MDVSP `.inp` files, writing answers the benchmark's checker accepts, and the published small optima."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from dispatch.mdvsp import answer, main, parse_inp, read_inp, solve
from tests.dispatch.conftest import SHARED as SHARED_ROOT
from tests.dispatch.conftest import load_tool

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "mdvsp" / "data"
CHECKER = SHARED_ROOT / "tools" / "check_mdvsp.py"
SHARED = SHARED_ROOT / "benchmarks" / "mdvsp"


def published() -> dict[str, int]:
    """Published optima (lower bound equals best known) from bounds.txt."""
    rows = (line.split() for line in (DATA / "bounds.txt").read_text(encoding="ascii").splitlines() if line)
    return {name: int(ub) for name, lb, ub in rows if lb == ub}


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    if not CHECKER.exists():
        pytest.skip(f"the benchmark's checker is not at {CHECKER}")
    return load_tool(CHECKER, "check_mdvsp")


def plain_copy(path: Path, tmp_path: Path) -> Path:
    """The checker reads plain text only."""
    out = tmp_path / path.name.removesuffix(".gz")
    out.write_bytes(gzip.decompress(path.read_bytes()))
    return out


TINY = """2 3 1 2
-1 -1 10 12 -1
-1 -1 11 -1 13
10 11 -1 4 -1
12 -1 -1 -1 3
-1 13 -1 -1 -1
"""


def test_parse_tiny() -> None:
    graph = parse_inp(TINY)
    assert graph.depot_vehicles.tolist() == [1, 2]
    assert graph.pull_out.tolist() == [[10, 12, -1], [11, -1, 13]]
    assert graph.pull_in.tolist() == [[10, 11], [12, -1], [-1, 13]]
    arcs = sorted(zip(graph.arc_tail.tolist(), graph.arc_head.tolist(), graph.arc_cost.tolist(), strict=True))
    assert arcs == [(0, 1, 4), (1, 2, 3)]


def test_gzip_and_plain_read_alike(tmp_path: Path) -> None:
    gz = DATA / "n50m2s0.inp.gz"
    name, from_gz = read_inp(gz)
    plain_name, from_plain = read_inp(plain_copy(gz, tmp_path))
    assert name == plain_name == "n50m2s0"
    assert (from_gz.n_depots, from_gz.n_trips) == (2, 50)
    for field in ("depot_vehicles", "pull_out", "pull_in", "arc_tail", "arc_head", "arc_cost"):
        assert np.array_equal(getattr(from_gz, field), getattr(from_plain, field))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file ends before the number of depots"),
        ("2", "file ends before the number of trips"),
        ("0 1 3\n-1", r"line 1: the number of depots m is 0"),
        ("1 1\n", r"file ends before r_1"),
        ("1 1 -2\n-1 1\n1 -1\n", r"line 1: r_1 is -2"),
        ("1 1 1\n-1 1\n1\n", r"cost matrix has 3 entries, expected 2 x 2 = 4"),
        ("1 1 1\n-1 1\n1 x\n", r"line 3: cost entry \(2, 2\) is 'x'"),
        ("1 1 1\n-1 1\n1 -3\n", r"line 3: cost entry \(2, 2\) is -3"),
        ("1 1 1.5\n-1 1\n1 -1\n", r"line 1: r_1 \(vehicles at depot 1\) is '1.5'"),
        ("1 1 1\n-1 1\n1 0\n", r"line 3: trip 1 may follow itself"),
        ("1 2 1\n-1 1 1\n1 -1 2\n1 2 -1\n", r"cycle"),
    ],
)
def test_malformed_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_inp(text)


def test_non_ascii_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.inp"
    path.write_bytes("1 1 1\n-1 1\n1 －1\n".encode())
    with pytest.raises(ValueError, match="not an ASCII"):
        read_inp(path)


@pytest.mark.parametrize("name", sorted(p.name.removesuffix(".inp.gz") for p in DATA.glob("n50*.inp.gz")))
def test_published_optimum_and_checker(name: str, checker: ModuleType, tmp_path: Path) -> None:
    path = DATA / f"{name}.inp.gz"
    _, graph = read_inp(path)
    schedule = solve(graph, time_limit=20)
    assert schedule.cost == published()[name]
    assert schedule.optimal
    result = answer(name, schedule)
    errors, total, vehicles = checker.check(str(plain_copy(path, tmp_path)), result)
    assert errors == []
    assert total == result["cost"] == schedule.cost
    assert vehicles == len(result["vehicles"])
    assert result["lower_bound"] == schedule.lower_bound


def test_answer_numbers_from_one() -> None:
    graph = parse_inp(TINY)
    result = answer("tiny", solve(graph, time_limit=5))
    assert result == {
        "instance": "tiny",
        "cost": result["cost"],
        "lower_bound": result["lower_bound"],
        "vehicles": result["vehicles"],
    }
    assert sorted(t for v in result["vehicles"] for t in v["trips"]) == [1, 2, 3]
    assert {v["depot"] for v in result["vehicles"]} <= {1, 2}


def test_main_writes_answer_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert main(DATA / "n50m3s1.inp.gz", out, 20, 0) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["instance"] == "n50m3s1"
    assert result["cost"] == published()["n50m3s1"]
    printed = capsys.readouterr().out
    assert f"cost {result['cost']}" in printed
    assert "gap 0.0000 %" in printed


def test_main_refuses_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.inp"
    bad.write_text("1 1 1\n-1 1\n", encoding="ascii")
    assert main(bad, tmp_path / "out.json", 5, 0) == 2
    assert "cost matrix has 2 entries" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_main_reports_infeasible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tight.inp"
    path.write_text("1 2 1\n-1 5 5\n5 -1 -1\n5 -1 -1\n", encoding="ascii")
    assert main(path, tmp_path / "out.json", 5, 0) == 1
    assert "cannot all be covered" in capsys.readouterr().err


def test_module_runs_as_script(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-m", "dispatch.mdvsp", str(DATA / "n50m4s0.inp.gz"), "-o", str(out), "--time-limit", "20"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "n50m4s0: cost" in done.stdout
    assert json.loads(out.read_text(encoding="utf-8"))["cost"] == published()["n50m4s0"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["m4n500s0", "m4n500s1"])
def test_m4n500_within_a_minute(name: str, checker: ModuleType) -> None:
    path = SHARED / f"{name}.inp"
    if not path.exists():
        pytest.skip(f"{path} is not here")
    _, graph = read_inp(path)
    schedule = solve(graph, time_limit=60)
    assert schedule.seconds < 61
    assert schedule.cost <= published()[name] * 1.001
    assert checker.check(str(path), answer(name, schedule))[0] == []
