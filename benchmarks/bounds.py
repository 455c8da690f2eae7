"""How tight the bounds are: per day, the plan's served trips and empty km against the old and the new bounds.

    python benchmarks/bounds.py /tmp/bounds/city-100x500-s1.json ... [--plans DIR] [--budget 10] [--start cheapest]
        [--duties 60]

A day's plan is read from ``DIR/<day>.plan.json`` (as ``python -m dispatch solve IN -o OUT`` writes it) when
present, otherwise solved here with ``--time-limit``. The new bounds get ``--budget`` seconds of their own.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from dispatch import bounds, relaxation
from dispatch.network import Network
from dispatch.problem import PRIORITIES, Problem
from dispatch.routes import Routes
from dispatch.solve import plan_of, solve


def _gap(bound: float, plan: float) -> str:
    return f"{(bound - plan) / plan:.1%}" if plan else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("days", nargs="+", type=Path)
    parser.add_argument("--plans", type=Path, help="folder of <day>.plan.json files")
    parser.add_argument("--time-limit", type=float, default=10.0, help="search seconds when no plan file is given")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds the new bounds may take")
    parser.add_argument("--start", choices=("dual", "cheapest"), default="dual",
                        help="the Lagrangian's first prices: the assignment relaxation's duals (the default), or each "
                             "trip's cheapest way in and out (before 2026-12-03)")
    parser.add_argument("--duties", type=float, default=0.0, metavar="SECONDS",
                        help="also the served bounds by column generation over duties, SECONDS a stage")
    args = parser.parse_args()
    bounds.DUAL_START = args.start == "dual"
    print("| day | plan E/L/R | old bound E/L/R | new bound E/L/R | served gap new (E/L/R) | empty km plan | "
          "old bound (gap) | new bound (gap) | bound s |")
    print("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
    for day in args.days:
        problem = Problem.read(day)
        stored = (args.plans or day.parent) / f"{day.stem}.plan.json"
        if stored.exists():
            routes = {r["vehicle"]: r["trips"] for r in json.loads(stored.read_text())["routes"]}
            plan = plan_of(problem, routes)
        else:
            plan = solve(problem, time_limit=args.time_limit)
        state = plan._state
        net = state.net
        able = bounds.servable(net)
        old = bounds.served_upper(net, able)
        served = state.where >= 0
        old_km = bounds.deadhead_lower(net, np.flatnonzero(served))
        plan_km = state.empty_km()
        started = time.perf_counter()
        new = bounds.compute(net, state, deadline=started + args.budget)
        counts = np.bincount(net.tier[served], minlength=3)
        e_l_r = "/".join(str(int(c)) for c in counts)
        print(
            f"| {day.stem} | {e_l_r} | {'/'.join(str(old[p]) for p in PRIORITIES)} | "
            f"{'/'.join(str(new.served_upper[p]) for p in PRIORITIES)} | "
            f"{' / '.join(_gap(new.served_upper[p], int(counts[i])) for i, p in enumerate(PRIORITIES))} | "
            f"{plan_km:,.1f} | {old_km:,.1f} ({1 - old_km / plan_km:.1%}) | "
            f"{new.deadhead_lower_km:,.1f} ({1 - new.deadhead_lower_km / plan_km:.1%}) | {new.seconds:.2f} |",
            flush=True,
        )
        print(f"  method: {new.method}", flush=True)
        if args.duties:
            print(f"  duties: {_duties(net, state, counts, args.duties)}", flush=True)


def _duties(net: Network, state: Routes, counts: np.ndarray, budget: float) -> str:
    """The served bound per priority by column generation over duties (`dispatch.duties`), ``budget`` s a stage,
    the plan's routes as its first columns."""
    able = bounds.servable(net)
    floor = (int(counts[0]), int(counts[1]), int(counts[2]))
    out = []
    for tier, priority in enumerate(PRIORITIES):
        started = time.perf_counter()
        try:
            value, rounds = bounds.duty_stage(net, able, tier, floor, state, started + budget)
            found = f"{math.floor(value + 1e-6)} ({value:.2f}, {rounds} rounds)"
        except relaxation.Skipped as why:
            found = f"skipped ({why})"
        out.append(f"{priority} {found} in {time.perf_counter() - started:.1f} s")
    return "; ".join(out)


if __name__ == "__main__":
    main()
