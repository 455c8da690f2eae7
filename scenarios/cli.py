"""``python -m scenarios``: simulate reform scenarios and compare them side by side.

Exit codes: 0 done, 2 a bad scenario file or option (the message names the file, line and field), 1 anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scenarios import demand, report, runner
from scenarios.spec import Scenario, ScenarioError, chain, load

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(width=None if sys.stdout.isatty() else 160)  # a log or a pipe gets the whole table

Out = Annotated[Path, typer.Option("--out", help="folder under which each run gets its own results folder")]
Workers = Annotated[int | None, typer.Option("--workers", min=1, help="local processes (default: one per core)")]
Ray = Annotated[str | None, typer.Option("--ray", help="Ray cluster address ('local' starts one on this machine)")]
Days = Annotated[int | None, typer.Option("--days", min=1, max=366, help="override the calendar's number of days")]
Replications = Annotated[int | None, typer.Option("--replications", min=1, max=100, help="override replications")]
NoSweep = Annotated[bool, typer.Option("--no-sweep", help="skip the fleet-size sweeps")]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _prepare(path: Path, days: int | None, replications: int | None, no_sweep: bool) -> Scenario:
    scenario = load(path)
    update: dict[str, object] = {}
    if days is not None:
        update["calendar"] = scenario.calendar.model_copy(update={"days": days})
    if replications is not None:
        update["replications"] = replications
    if no_sweep:
        update["sweep"] = None
    scenario = scenario.model_copy(update=update)
    demand.check(scenario)
    return scenario


def _simulate(files: list[Path], out: Path, workers: int | None, ray: str | None, days: int | None,
              replications: int | None, no_sweep: bool, label: str) -> None:
    try:
        scenarios = [_prepare(path, days, replications, no_sweep) for path in files]
    except (ScenarioError, ValueError) as exc:
        raise _fail(str(exc)) from None
    names = [s.name for s in scenarios]
    if len(set(names)) < len(names):
        raise _fail(f"two scenarios are named {next(n for n in names if names.count(n) > 1)!r}; names must differ")
    total = sum(len(runner.tasks_of(s)) for s in scenarios)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("simulating days", total=total)
        try:
            outcomes = runner.run(scenarios, workers=workers, ray_address=ray,
                                  progress=lambda _: progress.advance(bar))
        except RuntimeError as exc:
            raise _fail(str(exc)) from None
    console.print(report.rich_table(outcomes))
    folder = report.write(outcomes, _sources(files), out, label)
    console.print(f"results: {folder}", highlight=False)


def _sources(files: list[Path]) -> list[Path]:
    """The scenario files and every file they extend, for the results folder."""
    seen: list[Path] = []
    for path in files:
        for link, _, _ in chain(path, []):
            if link.resolve() not in [s.resolve() for s in seen]:
                seen.append(link)
    return seen


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="a scenario file (scenarios/*.yaml)")],
    out: Out = Path("results"),
    workers: Workers = None,
    ray: Ray = None,
    days: Days = None,
    replications: Replications = None,
    no_sweep: NoSweep = False,
) -> None:
    """Simulate one scenario: its days and replications, and its fleet-size sweep if it has one."""
    _simulate([scenario], out, workers, ray, days, replications, no_sweep, scenario.stem)


@app.command()
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario files to compare side by side")],
    out: Out = Path("results"),
    workers: Workers = None,
    ray: Ray = None,
    days: Days = None,
    replications: Replications = None,
    no_sweep: NoSweep = False,
) -> None:
    """Simulate several scenarios and compare them in one table and one set of plots."""
    _simulate(scenarios, out, workers, ray, days, replications, no_sweep, "compare")


def main() -> None:
    app()
