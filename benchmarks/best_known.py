"""The best plan known of a day: a long search begun from a plan, to measure the served bounds against.

    python benchmarks/best_known.py /tmp/rep/city-100x500-s100.json ... --plans DIR --seconds 600 [--seed 1]
        [--out DIR2] [--workers 1]

Issue 16 measures a served bound against the best plan anyone found, not against the plan at hand. Each day's plan
is read from ``DIR/<day>.plan.json`` (as ``python -m dispatch solve IN -o OUT`` writes it) and searched
``--seconds`` more from its routes (`dispatch.solve(start=...)`); the better of the two is written to
``DIR2/<day>.plan.json`` (``--out``, default ``DIR``), ready for ``benchmarks/bounds.py --plans DIR2``. Another
``--seed`` moves the search into another basin where one seed stalls.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dispatch.plan import Plan
from dispatch.problem import PRIORITIES, Problem
from dispatch.routes import better as is_better
from dispatch.solve import plan_of, solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("days", nargs="+", type=Path)
    parser.add_argument("--plans", type=Path, required=True, help="folder of <day>.plan.json files to begin from")
    parser.add_argument("--seconds", type=float, default=600.0, help="search seconds a day")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, help="folder for the better plans (default: --plans)")
    args = parser.parse_args()
    out = args.out or args.plans
    out.mkdir(parents=True, exist_ok=True)
    print("| day | from E/L/R, empty km | after E/L/R, empty km | kept |")
    print("| --- | --- | --- | --- |")
    for day in args.days:
        problem = Problem.read(day)
        document = json.loads((args.plans / f"{day.stem}.plan.json").read_text(encoding="utf-8"))
        routes = {route["vehicle"]: route["trips"] for route in document["routes"]}
        before = plan_of(problem, routes)
        after = solve(problem, start=routes, time_limit=args.seconds, seed=args.seed, workers=args.workers,
                      bound_seconds=0)
        better = is_better(after._state.objective(), before._state.objective())
        (out / f"{day.stem}.plan.json").write_text(
            json.dumps(after.exchange() if better else document, ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8")
        print(f"| {day.stem} | {_counts(before)} | {_counts(after)} | {'the search' if better else 'the start'} |",
              flush=True)


def _counts(plan: Plan) -> str:
    served = "/".join(str(plan.objective.served[p]) for p in PRIORITIES)
    return f"{served}, {plan.objective.deadhead_km:,.1f}"


if __name__ == "__main__":
    main()
