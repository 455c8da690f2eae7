"""Malformed exchange files: `python -m dispatch solve` exits 0 or 2, never with a traceback, and whatever it
accepts the referee (../shared/tools/check_dispatch.py) accepts too, on the instance and the plan written.

The bulk runs in process (hypothesis mutates a slice of ../shared/spec/example-small.json: keys deleted, types
changed, extreme values injected, values nested, bytes damaged); a handful of files run as real subprocesses.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dispatch import problem as problem_module
from dispatch.cli import app
from tests.dispatch.conftest import EXAMPLE, SHARED, load_tool

Path_ = tuple[str | int, ...]
ROOT = Path(__file__).resolve().parents[2]


def _base() -> dict[str, Any]:
    """The example cut to 3 vehicles and 8 trips, so that each solve takes a blink."""
    if not EXAMPLE.exists():
        pytest.skip(f"the example instance is not at {EXAMPLE}")
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["vehicles"] = data["vehicles"][:3]
    data["trips"] = data["trips"][:8]
    return data


def _paths(node: Any, here: Path_ = ()) -> Iterator[Path_]:
    yield here
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*here, index))


def _get(document: Any, path: Path_) -> Any:
    for part in path:
        document = document[part]
    return document


BASE = _base() if EXAMPLE.exists() else {}
PATHS = list(_paths(BASE))
LEAVES = [path for path in PATHS if path and not isinstance(_get(BASE, path), dict | list)]
DEEP = 3000  # beyond Python's recursion limit, so the reader's own guard is what answers

EXTREMES: list[Any] = [
    None, True, False, 0, -1, 1, 0.5, 4.0, -0.0, 1e-300, 1e308, -1e308, 10**30, 2**63, 10**400,
    float("nan"), float("inf"), float("-inf"),
    "", " ", "x", "\ud800", "a\nb", "\x00", "é" * 300, "30.5", "true", "null",
    "0001-01-01T00:00:00+08:00", "0001-01-01T23:59:59-12:00", "9999-12-31T23:59:59-08:00", "9999-12-31T00:00:00+14:00",
    "2026-11-23T09:00:00", "2026-11-23", "2026-11-23T09:00:00Z", "2026-11-23T09:00:00+24:00", "1795000000",
    "2026-11-23T09:00:00.123456789+08:00", "2026-W48-1T09:00+08:00", "1900-01-01T00:00:00+00:00",
    1795000000, 1795000000.5, "emergency", "general", "D1", "V1", "T1", "dispatch/2",
    # extreme but valid: the engine must cope and the referee agree
    "0001-01-02T12:00:00+00:00", "9999-12-29T00:00:00+08:00", "2026-11-23T09:00:00-11:59", 1440, 100, 200, 5.0,
    1.0, 1e-9, 90, -90, 180, -180, 0.0001, 1e-12,
    [], {}, [[]], [{}], ["emergency"], ["taxi"], {"lat": 0, "lon": 0}, {"lat": 90, "lon": 180}, {"lat": -90, "lon": 0},
]


def _nested(depth: int, leaf: Any, *, objects: bool) -> Any:
    for _ in range(depth):
        leaf = {"k": leaf} if objects else [leaf]
    return leaf


@st.composite
def _mutation(draw: st.DrawFn, document: dict[str, Any]) -> None:
    """Change ``document`` in place in one of the ways a hand-edited or generated file goes wrong."""
    kind = draw(st.sampled_from(["delete", "set", "set", "set", "swap", "duplicate", "extra", "nest"]))
    path = draw(st.sampled_from(LEAVES if kind in ("set", "swap") else PATHS))
    try:
        parent, key = (_get(document, path[:-1]), path[-1]) if path else (None, None)
        if parent is not None:
            _ = parent[key]  # an earlier mutation may have removed it
    except (KeyError, IndexError, TypeError):
        return
    if kind == "delete" and parent is not None:
        del parent[key]
    elif kind == "set" and parent is not None:
        parent[key] = copy.deepcopy(draw(st.sampled_from(EXTREMES)))
    elif kind == "swap" and parent is not None:
        other = draw(st.sampled_from(PATHS))
        with contextlib.suppress(KeyError, IndexError, TypeError):
            parent[key] = copy.deepcopy(_get(document, other))
    elif kind == "duplicate":
        target = _get(document, path)
        if isinstance(target, list) and target:
            target.append(copy.deepcopy(target[draw(st.integers(0, len(target) - 1))]))
    elif kind == "extra":
        target = _get(document, path)
        if isinstance(target, dict):
            target[draw(st.sampled_from(["extra", "ID", "a\nb", "3", "\ud800"]))] = 1
    elif kind == "nest" and parent is not None:
        parent[key] = _nested(draw(st.integers(1, 60)), parent[key], objects=draw(st.booleans()))


@st.composite
def malformed(draw: st.DrawFn) -> bytes:
    """An instance file's bytes: the base with one to three mutations, then perhaps damaged as bytes."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        draw(_mutation(document))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "byte", "bom", "utf16", "repeat", "deep"]))
    if damage == "repeat":  # a key twice in one object, which json.dumps cannot write
        text = text.replace("{", '{"name": "twice", ', 1)
    raw = text.encode("utf-8", "surrogatepass")
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif damage == "byte":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    elif damage == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif damage == "utf16":
        raw = text.encode("utf-16", "surrogatepass")
    elif damage == "deep":
        raw = b"[" * DEEP + raw + b"]" * DEEP
    return raw


@pytest.fixture(scope="module")
def referee() -> ModuleType:
    path = SHARED / "tools" / "check_dispatch.py"
    if not path.exists():
        pytest.skip(f"the referee is not at {path}")
    return load_tool(path, "check_dispatch_main")


def solve_in_process(tmp: Path, raw: bytes) -> tuple[int, str, Path, Path]:
    """Write ``raw`` as an instance, run the CLI on it; its exit code, its output, the instance and answer paths."""
    instance, answer = tmp / "in.json", tmp / "out.json"
    answer.unlink(missing_ok=True)
    instance.write_bytes(raw)
    result = CliRunner().invoke(app, ["solve", str(instance), "-o", str(answer), "--time-limit", "0.2"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output, instance, answer


def check_verdict(referee: ModuleType, code: int, output: str, instance: Path, answer: Path) -> None:
    assert code in (0, 2), output
    assert "Traceback" not in output
    if code == 2:
        assert output.startswith("error: ")
        assert output.count("\n") == 1, output
        assert not answer.exists()
        return
    with contextlib.redirect_stdout(io.StringIO()) as said, contextlib.redirect_stderr(said):
        verdict = referee.main([str(instance), str(answer)])
    assert verdict == 0, f"accepted, but the referee says: {said.getvalue()}"


@settings(
    max_examples=int(os.environ.get("GONGCHE_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    database=None,
)
@given(raw=malformed())
@example(raw=json.dumps(BASE).encode())
def test_cli_exits_0_or_2_and_accepts_nothing_the_referee_refuses(
    referee: ModuleType, tmp_path: Path, raw: bytes
) -> None:
    code, output, instance, answer = solve_in_process(tmp_path, raw)
    event(f"exit {code}")  # --hypothesis-show-statistics: how many files were accepted and checked by the referee
    check_verdict(referee, code, output, instance, answer)


_DELETE = object()


def _stamp(trip: int, field: str) -> int:
    """The trip's time as seconds since 1970, which pydantic alone would take for the same instant."""
    return int(datetime.fromisoformat(BASE["trips"][trip][field]).timestamp())
_LONG = "9" * 5000  # a number longer than Python converts; json.dumps cannot write it, so it is spliced in


def _changed(path: Path_, value: Any) -> bytes:
    document = copy.deepcopy(BASE)
    parent = _get(document, path[:-1])
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(document).replace(json.dumps(_LONG), _LONG).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # each of these was accepted, or ended in a traceback, before the strict reading
        # the referee cannot read these times of a trip the plan serves (T4 is on V3's route)
        (_changed(("trips", 3, "latest_pickup"), _stamp(3, "latest_pickup")), "trips[3].latest_pickup (id 'T4'): a"),
        (_changed(("trips", 3, "earliest_pickup"), str(_stamp(3, "earliest_pickup"))), "(id 'T4'): not an ISO 8601"),
        (_changed(("vehicles", 1, "shift_start"), 1795000000.5), "vehicles[1].shift_start (id 'V2'): a time must"),
        (_changed(("trips", 0, "earliest_pickup"), "0001-01-01T00:00:00+08:00"), "time out of range"),
        (_changed(("vehicles", 0, "shift_end"), "9999-12-31T23:59:59-08:00"), "vehicles[0].shift_end (id 'V1'): time"),
        (_changed(("trips", 0, "priority"), _DELETE), "trips[0].priority (id 'T1'): required field missing"),
        (_changed(("vehicles", 0, "seats"), True), "vehicles[0].seats (id 'V1'): Input should be a valid integer"),
        (_changed(("trips", 1, "passengers"), 2.0), "trips[1].passengers (id 'T2'): Input should be a valid integer"),
        (_changed(("depots", 0, "lat"), "30.5"), "depots[0].lat (id 'D1'): Input should be a valid number"),
        (_changed(("trips", 0, "dwell_min"), False), "trips[0].dwell_min (id 'T1'): Input should be a valid number"),
        (_changed(("road_factor",), True), "road_factor: Input should be a valid number"),
        (_changed(("speed_kmh",), 1e-300), "speed_kmh: Input should be greater than or equal to 1"),
        (_changed(("vehicles", 0, "range_km"), float("inf")), "not JSON: Infinity is not a JSON number"),
        (_changed(("vehicles", 2, "range_km"), 1e308), "vehicles[2].range_km (id 'V3'): Input should be less than"),
        (_changed(("name",), "\ud800"), "name: text is not valid Unicode"),
        (_changed(("trips", 0, "id"), "T\ud800"), "trips[0].id (id 'T\\ud800'): Input should be a valid string"),
        (_changed(("trips", 0, "pickup", "lat"), _LONG), "not JSON: Exceeds the limit"),
        (_changed(("trips", 0, "pickup"), [30.6, 114.3]), "trips[0].pickup (id 'T1'): must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"name": "a", "name": "b"}', "not JSON: key 'name' appears twice in one object"),
        (b"[]", "the instance: must be a JSON object, not an array"),
        ("{\"name\": \"é\"}".encode("latin-1"), "not UTF-8: byte 0xe9 at offset 10"),
        (json.dumps(BASE | {"a\nb": 1}).encode(), "'a\\nb': Extra inputs are not permitted"),
    ],
)
def test_each_hole_found_exits_2_naming_the_field(
    referee: ModuleType, tmp_path: Path, raw: bytes, message: str
) -> None:
    code, output, instance, answer = solve_in_process(tmp_path, raw)
    assert code == 2, output
    assert message in output
    check_verdict(referee, code, output, instance, answer)


def test_unreadable_files_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path, message in [(tmp_path / "absent.json", "cannot read: No such file"), (tmp_path, "cannot read: Is a")]:
        result = CliRunner().invoke(app, ["solve", str(path), "-o", str(tmp_path / "out.json")])
        assert (result.exit_code, result.exception.__class__) == (2, SystemExit), result.output
        assert message in result.output
    monkeypatch.setattr(problem_module, "MAX_BYTES", 100)
    code, output, _, _ = solve_in_process(tmp_path, json.dumps(BASE).encode())
    assert code == 2
    assert "too large: more than" in output


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatch", "solve", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_real_runs_exit_2_with_one_sentence(tmp_path: Path) -> None:
    """A few files through a real ``python -m dispatch``: the reported tracebacks, a sparse oversized file."""
    files = {
        "year1.json": (_changed(("trips", 0, "earliest_pickup"), "0001-01-01T00:00:00+08:00"), "time out of range"),
        "deep.json": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        "number.json": (_changed(("trips", 3, "latest_pickup"), 1795000000), "trips[3].latest_pickup (id 'T4'): a"),
        "huge.json": (b"", "too large"),
    }
    for name, (raw, _) in files.items():
        (tmp_path / name).write_bytes(raw)
    with (tmp_path / "huge.json").open("r+b") as handle:
        handle.truncate(problem_module.MAX_BYTES + 1)  # sparse: no disk written
    for name, (_, message) in files.items():
        done = _run(str(tmp_path / name), "-o", str(tmp_path / "out.json"), "--time-limit", "0.2")
        assert done.returncode == 2, (name, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith(f"error: {tmp_path / name}: ")
        assert message in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr


def test_a_real_run_on_the_example_passes_the_referee(referee: ModuleType, tmp_path: Path) -> None:
    done = _run(str(EXAMPLE), "-o", str(tmp_path / "out.json"), "--time-limit", "0.3")
    assert done.returncode == 0, done.stderr
    check_verdict(referee, 0, done.stdout, EXAMPLE, tmp_path / "out.json")
