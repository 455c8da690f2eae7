"""Run the fixed-time scheduling core on every MDVSP instance available and print a markdown table.

    python benchmarks/mdvsp.py [--time-limit 60] [--seed 0] [--only PATTERN] [--json OUT.jsonl]

Instances: /work/shared/benchmarks/mdvsp/*.inp and benchmarks/mdvsp/data/*.inp.gz (published bounds in
benchmarks/mdvsp/data/bounds.txt, from rafaelmartinelli/MDVSP.jl). Each instance runs in its own process so that
its peak memory is its own; answers are checked with /work/shared/tools/check_mdvsp.py when that exists.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "mdvsp" / "data"
SHARED = Path("/work/shared/benchmarks/mdvsp")
CHECKER = Path("/work/shared/tools/check_mdvsp.py")

sys.path.insert(0, str(ROOT))

from dispatch.mdvsp import answer, gap_percent, lower_bound, read_inp, solve  # noqa: E402


def instances() -> list[Path]:
    """Every instance file, the shared ones first, each name once."""
    found: dict[str, Path] = {}
    for path in [*sorted(SHARED.glob("*.inp")), *sorted(DATA.glob("*.inp.gz")), *sorted(DATA.glob("*.inp"))]:
        found.setdefault(path.name.removesuffix(".gz").removesuffix(".inp"), path)
    return list(found.values())


def published() -> dict[str, tuple[int, int]]:
    """Published (lower bound, best known) per instance; lower bound 0 when none was published."""
    path = DATA / "bounds.txt"
    if not path.exists():
        return {}
    rows = (line.split() for line in path.read_text(encoding="ascii").splitlines() if line.strip())
    return {name: (int(lb), int(ub)) for name, lb, ub in rows}


def run_one(path: Path, time_limit: float, seed: int) -> dict[str, Any]:
    """Solve one instance in this process and measure it."""
    name, graph = read_inp(path)
    began = time.monotonic()
    flow_bound = lower_bound(graph)
    lb_seconds = time.monotonic() - began
    schedule = solve(graph, time_limit=time_limit, seed=seed)
    result = answer(name, schedule)
    checked: str = "n/a"
    if CHECKER.exists():
        spec = importlib.util.spec_from_file_location("check_mdvsp", CHECKER)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {CHECKER}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / f"{name}.inp"
            plain.write_text(_text(path), encoding="ascii")
            errors, total, _ = module.check(str(plain), result)
        checked = "ok" if not errors and total == schedule.cost else f"FAILED: {errors[:3]}"
    return {
        "instance": name,
        "n": graph.n_trips,
        "m": graph.n_depots,
        "cost": schedule.cost,
        "lower_bound": schedule.lower_bound,
        "optimal": schedule.optimal,
        "flow_bound": flow_bound,
        "lb_seconds": lb_seconds,
        "seconds": schedule.seconds,
        "vehicles": len(schedule.vehicles),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "checked": checked,
    }


def _text(path: Path) -> str:
    import gzip

    raw = path.read_bytes()
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("ascii")


def row(result: dict[str, Any], bounds: dict[str, tuple[int, int]]) -> str:
    """One markdown table row."""
    lb_pub, best = bounds.get(result["instance"], (0, 0))
    if best:
        kind = "opt" if lb_pub == best else "best"
        ref = f"{best:,} ({kind})"
        to_ref = f"{100.0 * (result['cost'] - best) / best:+.4f}"
    else:
        ref, to_ref = "-", "-"
    gap = gap_percent(result["cost"], result["lower_bound"])
    return (
        f"| {result['instance']} | {result['n']} | {result['m']} | {result['cost']:,} | {result['lower_bound']:,} "
        f"| {gap:.4f}{' (opt)' if result['optimal'] else ''} | {ref} | {to_ref} | {result['lb_seconds']:.3f} "
        f"| {result['seconds']:.1f} | {result['peak_mb']:.0f} | {result['checked']} |"
    )


def main() -> int:
    """Run the selected instances, one subprocess each, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="*", help="instance name pattern, e.g. 'm4n500*'")
    parser.add_argument("--json", type=Path, help="also append one JSON line per instance here")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.time_limit, args.seed)))
        return 0
    bounds = published()
    print(
        "| instance | n | m | cost | lower bound | gap % | published | gap to it % | LB s | total s | peak MB | check |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    failed = 0
    for path in instances():
        if not fnmatch.fnmatch(path.name, args.only + ".inp*"):
            continue
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(path),
            "--time-limit",
            str(args.time_limit),
            "--seed",
            str(args.seed),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            failed += 1
            print(f"| {path.name} | error: {done.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        failed += result["checked"] not in ("ok", "n/a")
        print(row(result, bounds), flush=True)
        if args.json:
            with args.json.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(result) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
