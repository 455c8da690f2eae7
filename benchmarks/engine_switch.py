"""The engine with one of its moves switched on and off, or one of its settings changed, side by side, on the same
days and limit.

    python benchmarks/engine_switch.py --switch EJECT --time-limit 10 /tmp/tuning/*-100x500-s*.json
    python benchmarks/engine_switch.py --switch OFFLOAD --work 5 DAY.json ...       # a work budget: repeatable
    python benchmarks/engine_switch.py --switch _WHOLE_WORK_PER_SECOND=3500 --time-limit 10 DAY.json ...

``--switch`` names a module-level flag of ``dispatch.improve`` (``EJECT``, ``OFFLOAD``, ``WHOLE``), run on, then
off; or ``NAME=VALUE`` for a numeric setting of it, run at VALUE ("on"), then as it stands ("off"). Each day runs
both ways in this process, one solve at a time; the table gives served emergency / law / routine, empty km, wall
seconds, what stopped the search, and the verdict of "on" against "off" (lexicographic, as everywhere). The module
is left as it was. Run it on tuning days only (``benchmarks/days.toml``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dispatch import Problem, improve  # noqa: E402
from dispatch.routes import better  # noqa: E402
from dispatch.solve import solve  # noqa: E402
from dispatch.stop import MaxRuntime, WorkBudget  # noqa: E402


def key(plan: object) -> tuple[int, int, int, float]:
    objective = plan.objective  # type: ignore[attr-defined]
    missing = [objective.offered[p] - objective.served[p] for p in objective.offered]
    return missing[0], missing[1], missing[2], objective.deadhead_km


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("days", nargs="+", type=Path)
    parser.add_argument("--switch", required=True, help="a flag of dispatch.improve, e.g. EJECT")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--work", type=float, help="a work budget instead of the clock (repeatable runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args(argv)
    name, _, given = args.switch.partition("=")
    standing = getattr(improve, name, None)
    if not given and not isinstance(standing, bool):
        parser.error(f"dispatch.improve has no flag {name!r}")
    if given:
        if isinstance(standing, bool) or not isinstance(standing, int | float):
            parser.error(f"dispatch.improve has no numeric setting {name!r}")
        try:
            value: object = type(standing)(given)
        except ValueError:
            parser.error(f"{name}={given}: expected a {type(standing).__name__}")
        states = {True: value, False: standing}
    else:
        states = {True: True, False: False}
    stop = WorkBudget(args.work) if args.work is not None else MaxRuntime(args.time_limit)
    print(f"| day | {args.switch} | E / L / R | empty km | wall s | stopped by | verdict |")
    print("| --- | --- | --- | ---: | ---: | --- | --- |")
    counts = {"better": 0, "worse": 0, "same": 0}
    try:
        for path in args.days:
            problem = Problem.read(path)
            keys = {}
            for state in (True, False):
                setattr(improve, name, states[state])
                began = time.perf_counter()
                plan = solve(problem, stop=stop, seed=args.seed, workers=args.workers)
                wall = time.perf_counter() - began
                keys[state] = key(plan)
                served = " / ".join(str(plan.objective.served[p]) for p in plan.objective.served)
                verdict = ""
                if not state:
                    on, off = keys[True], keys[False]
                    verdict = "better" if better(on, off) else "worse" if better(off, on) else "same"
                    counts[verdict] += 1
                print(f"| {path.stem} | {'on' if state else 'off'} | {served} | {plan.objective.deadhead_km:,.1f} "
                      f"| {wall:.1f} | {plan.stopped_by} | {verdict} |", flush=True)
    finally:
        setattr(improve, name, standing)
    print(f"\nwith {args.switch} on: better on {counts['better']}, worse on {counts['worse']}, "
          f"the same on {counts['same']} of {len(args.days)} days")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
