"""``python -m dispatch``: solve exchange-format instances and multi-depot scheduling benchmarks.

Exit codes: 0 solved, 2 bad input (the message names the file and field), 1 anything else that went wrong.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from dispatch.problem import Problem, ProblemError
from dispatch.solve import solve as run
from dispatch.stop import MaxRuntime

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

TimeLimit = Annotated[float, typer.Option("--time-limit", min=0.0, help="seconds of optimisation (build time extra)")]
Seed = Annotated[int, typer.Option("--seed", help="same seed and limit, same plan")]
Output = Annotated[Path, typer.Option("-o", "--out", help="where to write the answer (JSON)")]
Workers = Annotated[
    int | None, typer.Option("--workers", min=1, help="processes the search may use (default: every core); the plan "
                                                      "is the same whatever the number")
]
BoundSeconds = Annotated[
    float | None, typer.Option("--bound-seconds", min=0.0, help="seconds of the time limit for the bounds' LP "
                                                               "relaxation (default: what the search leaves)")
]


def _fail(message: str) -> typer.Exit:
    # One line whatever the file held: its keys and ids (and the path) may carry newlines or lone surrogates.
    line = message.encode("utf-8", "backslashreplace").decode("utf-8")
    line = re.sub(r"[\x00-\x1f\x7f]", lambda control: f"\\x{ord(control[0]):02x}", line)
    typer.echo(f"error: {line}", err=True)
    return typer.Exit(2)


@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(help="instance in the dispatch exchange format")],
    out: Output,
    time_limit: TimeLimit = 10.0,
    seed: Seed = 0,
    workers: Workers = None,
    bound_seconds: BoundSeconds = None,
) -> None:
    """Assign vehicles to trips; write the solution and print its objective, bounds and gap."""
    try:
        problem = Problem.read(instance)
    except ProblemError as exc:
        raise _fail(f"{instance}: {exc}") from None
    plan = run(problem, stop=MaxRuntime(time_limit), seed=seed, workers=workers, bound_seconds=bound_seconds)
    _write(out, plan.exchange())
    served, offered, upper = plan.objective.served, plan.objective.offered, plan.bounds.served_upper
    typer.echo(
        f"{plan.status}: "
        + ", ".join(f"{p.value} {served[p]}/{offered[p]} (at most {upper[p]})" for p in served)
        + f"; empty {plan.objective.deadhead_km:.1f} km (at least {plan.bounds.deadhead_lower_km:.1f}, "
        f"gap {plan.gap['deadhead']:.2%}); {plan.objective.vehicles_used} vehicles; "
        f"build {plan.build_seconds:.2f} s, solve {plan.solve_seconds:.2f} s ({plan.stopped_by}, "
        f"{plan.workers} process{'es' if plan.workers > 1 else ''}); bounds {plan.bounds.seconds:.2f} s"
    )


@app.command()
def mdvsp(
    instance: Annotated[Path, typer.Argument(help="multi-depot vehicle scheduling instance (.inp)")],
    out: Output,
    time_limit: TimeLimit = 60.0,
    seed: Seed = 0,
) -> None:
    """Solve a multi-depot vehicle scheduling benchmark; print cost, lower bound and gap."""
    from dispatch.mdvsp import main as bench

    try:
        code = bench(instance, out, time_limit, seed)
    except (OSError, ValueError) as exc:
        raise _fail(f"{instance}: {exc}") from None
    raise typer.Exit(code)


def _write(path: Path, document: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{path}: cannot write: {exc.strerror or exc}") from None


def main() -> None:
    """Console entry point (typer exits 2 on usage errors, as on bad input)."""
    app(prog_name="python -m dispatch")
