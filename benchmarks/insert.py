"""Urgent insertion: time `dispatch.insert` placing emergencies, one after another, into a solved city day.

    python benchmarks/insert.py [--vehicles 1000] [--trips 5000] [--time-limit 10] [--inserts 20] [--seed 0]

Each emergency is picked up where a random trip drops off, within 15 minutes of that trip's earliest pickup; every
resulting plan is checked by the referee (../shared/tools/check_dispatch.py) when it is there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import time
from datetime import timedelta
from pathlib import Path

from dispatch import MaxRuntime, Problem, insert, solve
from dispatch.synthetic import city_instance

REFEREE = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_dispatch.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--trips", type=int, default=5000)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--inserts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    check = None
    if REFEREE.exists():
        spec = importlib.util.spec_from_file_location("check_dispatch", REFEREE)
        assert spec is not None
        assert spec.loader is not None
        referee = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(referee)
        check = referee.check
    problem = Problem.parse(city_instance(args.vehicles, args.trips, seed=args.seed))
    plan = solve(problem, stop=MaxRuntime(args.time_limit), seed=args.seed)
    rng = random.Random(args.seed)
    times: list[float] = []
    placed_count = displaced = 0
    for number in range(args.inserts):
        base = problem.trips[rng.randrange(len(problem.trips))]
        urgent = {
            "id": f"URGENT-{number}",
            "priority": "emergency",
            "categories": ["emergency", "law_enforcement"],
            "passengers": 2,
            "pickup": base.dropoff.model_dump(),
            "dropoff": base.pickup.model_dump(),
            "earliest_pickup": base.earliest_pickup.isoformat(),
            "latest_pickup": (base.earliest_pickup + timedelta(minutes=15)).isoformat(),
            "dwell_min": 20,
        }
        started = time.perf_counter()
        placement = insert(plan, problem, urgent)
        times.append(time.perf_counter() - started)
        placed_count += placement.vehicle is not None
        displaced += len(placement.displaced)
        plan, problem = placement.plan, placement.problem
        if check is not None:
            errors, _ = check(json.loads(problem.model_dump_json()), plan.exchange())
            assert not errors, errors[:3]
    times_ms = sorted(t * 1000 for t in times)
    print(
        f"{args.vehicles}x{args.trips}: {args.inserts} insertions, {placed_count} placed, {displaced} trips displaced; "
        f"median {statistics.median(times_ms):.1f} ms, max {times_ms[-1]:.1f} ms"
        + ("; every plan feasible by the referee" if check is not None else "; referee not found, not checked")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
