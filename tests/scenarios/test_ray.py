"""Ray: where a day is simulated (this process or a Ray worker) never changes its numbers; ``--ray local`` end to end.

Skipped when Ray is not installed (the optional extra ``gongche[ray]``), or when Ray itself cannot start here.
Each test lets the runner start and stop its own local Ray instance (a few seconds each), as ``--ray local`` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from scenarios import runner
from scenarios.cli import app
from scenarios.simulate import DayResult
from scenarios.spec import Scenario

ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra: pip install 'gongche[ray]')")

# Two agencies on a Friday and a Saturday, two replications and a two-point sweep: eight small days (four own, and
# each day's two sweep points as one chain), so that several tasks of different scales, replications and days are in
# flight on Ray at once. The first day serves an emergency,
# so that the CLI's one-day run has a delay to plot (report.plot_delays warns when there is none).
SMALL: dict[str, Any] = {
    "name": "ray-small",
    "seed": 11,
    "replications": 2,
    "calendar": {"start": "2026-11-27", "days": 2},
    "dispatch": {"time_limit_s": 2.0},  # headroom: the work budget, not the clock, must stop each solve
    "fleet": {
        "agencies": [
            {"code": "A", "name": "A", "lat": 30.59, "lon": 114.30, "trips": 14,
             "vehicles": {"general": 4, "emergency": 2}},
            {"code": "B", "name": "B", "lat": 30.62, "lon": 114.27, "trips": 10,
             "vehicles": {"law_enforcement": 3, "general": 1},
             "priorities": {"emergency": 0.1, "law_enforcement": 0.6, "routine": 0.3}},
        ]
    },
    "sweep": {"scales": [0.5, 1.0], "replications": 1},
}

TIMING = ("seconds", "insert_ms")  # wall-clock measurements: differ from run to run wherever the day runs


@pytest.fixture
def ray_or_skip(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A failure of ``ray.init`` itself (no shared memory, no free port, ...) skips the test and names the cause;
    anything that goes wrong once Ray is up still fails it."""
    real_init = ray.init

    def init(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_init(*args, **kwargs)
        except Exception as exc:  # whatever Ray raises when it cannot start, it is "not on this machine"
            ray.shutdown()
            pytest.skip(f"Ray cannot start here: {type(exc).__name__}: {exc}")

    monkeypatch.setattr(ray, "init", init)
    yield
    if ray.is_initialized():  # the runner shuts down what it started; this only tidies up after a failure
        ray.shutdown()


def numbers(days: list[DayResult]) -> list[dict[str, Any]]:
    """Every field of every day but the timings, in (sweep, scale, replication, day) order."""
    rows = []
    for day in sorted(days, key=lambda d: (d.sweep, d.scale, d.replication, d.day)):
        row = dataclasses.asdict(day)
        for name in TIMING:
            del row[name]
        rows.append(row)
    return rows


@pytest.mark.usefixtures("ray_or_skip")
def test_ray_gives_the_same_numbers_as_one_local_process() -> None:
    scenario = Scenario.model_validate(SMALL)
    expected_tasks = len(runner.tasks_of(scenario))

    [local] = runner.run([scenario], workers=1)
    finished: list[DayResult] = []
    [remote] = runner.run([scenario], ray_address="local", progress=finished.append)

    assert not ray.is_initialized(), "the runner started Ray for this run and must shut it down after"
    assert len(finished) == len(remote.days) == len(local.days) == expected_tasks
    assert sorted((d.sweep, d.scale, d.replication, d.day) for d in finished) == [
        (d.sweep, d.scale, d.replication, d.day) for d in remote.days
    ]
    assert numbers(remote.days) == numbers(local.days)
    assert remote.summary == local.summary
    assert remote.frontier == local.frontier


@pytest.mark.usefixtures("ray_or_skip")
def test_cli_run_on_local_ray_writes_the_results_folder(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "results"

    result = CliRunner().invoke(app, ["run", str(path), "--ray", "local", "--days", "1", "--replications", "1",
                                      "--no-sweep", "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert not ray.is_initialized()
    [folder] = out.iterdir()
    assert folder.name.endswith("-small")
    comparison = (folder / "comparison.md").read_text(encoding="utf-8")
    assert "ray-small" in comparison
    assert f"results: {folder}" in result.output
