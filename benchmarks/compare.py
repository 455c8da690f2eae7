"""Run our engine and the peers side by side on the benchmark instances, check every answer with the referee.

    python benchmarks/compare.py [INSTANCE.json ...] [--sizes 20x80,100x500] [--time-limit 60] [--seed 0]
                                 [--solvers engine,pyvrp,vroom,ortools] [--memory-gib 12] [--out results.json]

Without instance files it takes ``benchmarks/instances/city-{V}x{T}.json`` for each size (all benchmark sizes by
default), generating any that are missing. Every solver runs in its own subprocess with the same time limit and
an address-space cap (``RLIMIT_AS``), so its peak RSS is its own (``wait4`` rusage of that child) and a crash or an
out-of-memory in one does not end the run. Our engine runs as ``python -m dispatch solve IN -o OUT --time-limit T
--seed S`` (skipped with a note if it is not there); each peer as ``benchmarks/peers.py``'s ``solve_with_<peer>``.
All solvers get the whole time limit for their search; reading the instance and building the model come on
top (as for our engine's ``--time-limit``), and the wall time column shows the total. A child that overruns
the time limit by far (3x + 120 s) is killed and reported as such.

Prints a markdown table (served emergency / law-enforcement / routine of offered, deadhead km, vehicles used, wall
time, peak RSS, referee verdict) and writes every figure to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REFEREE = ROOT.parent / "shared" / "tools" / "check_dispatch.py"
SOLVERS = ("engine", "pyvrp", "vroom", "ortools")
OOM_EXIT = 3  # a worker that ran out of memory exits with this


def _referee(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_dispatch", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the referee from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _limit_memory(gib: float) -> None:
    cap = int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _engine_available() -> bool:
    return (ROOT / "dispatch" / "__main__.py").exists()


def run_child(command: list[str], *, memory_gib: float, wall_limit: float) -> dict[str, Any]:
    """Run one solver process; return its exit status, wall seconds, peak RSS (MiB) and stderr tail."""
    with tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=lambda: _limit_memory(memory_gib),  # the parent runs no threads
            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"},
        )
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - began > wall_limit and not killed:
                proc.send_signal(signal.SIGKILL)
                killed = True
            time.sleep(0.05)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting on a reaped pid
        err.seek(0)
        tail = err.read().decode("utf-8", "replace")[-2000:]
    return {
        "exit": proc.returncode,
        "killed_after_wall_limit": killed,
        "wall_seconds": round(wall, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        "stderr_tail": tail,
    }


def _status(run: dict[str, Any], memory_gib: float) -> str | None:
    """Why a run produced no answer, or None when it exited normally."""
    if run["killed_after_wall_limit"]:
        return "killed: over the wall limit"
    code = run["exit"]
    if code == 0:
        return None
    if code == OOM_EXIT or "MemoryError" in run["stderr_tail"] or "bad_alloc" in run["stderr_tail"]:
        return f"out of memory (cap {memory_gib:g} GiB)"
    if code < 0:
        return f"crashed ({signal.Signals(-code).name})"
    return f"failed (exit {code})"


def solve_one(
    solver: str, instance_path: Path, *, time_limit: float, seed: int, memory_gib: float, workdir: Path
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run one solver on one instance in a subprocess; returns the run record and the solution (if any)."""
    out = workdir / f"{instance_path.stem}.{solver}.solution.json"
    out.unlink(missing_ok=True)
    if solver == "engine":
        command = [sys.executable, "-m", "dispatch", "solve", str(instance_path), "-o", str(out)]
        command += ["--time-limit", f"{time_limit:g}", "--seed", str(seed)]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", solver, str(instance_path), str(out)]
        command += ["--time-limit", f"{time_limit:g}", "--seed", str(seed)]
    run = run_child(command, memory_gib=memory_gib, wall_limit=3 * time_limit + 120)
    run["status"] = _status(run, memory_gib)
    solution = None
    if run["status"] is None:
        try:
            solution = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            run["status"] = f"no readable answer ({exc.__class__.__name__})"
    return run, solution


def worker(peer: str, instance_path: Path, out: Path, time_limit: float, seed: int) -> int:
    """Child process: solve with one peer and write the answer."""
    sys.path.insert(0, str(HERE))
    import peers

    instance = json.loads(instance_path.read_text(encoding="utf-8"))
    try:
        solution = peers.PEERS[peer](instance, time_limit, seed)
    except MemoryError:
        print(f"{peer}: MemoryError", file=sys.stderr)
        return OOM_EXIT
    out.write_text(json.dumps(solution, ensure_ascii=False), encoding="utf-8")
    return 0


def instance_files(paths: list[Path], sizes: str | None, seed: int) -> list[Path]:
    """The files given, or the benchmark instances of `sizes` (generated when missing)."""
    if paths:
        return paths
    sys.path.insert(0, str(HERE))
    import generate

    folder = HERE / "instances"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for vehicles, trips in generate.parse_sizes(sizes):
        path = folder / f"{generate.instance_name(vehicles, trips, 0)}.json"
        if not path.exists():
            generate.write(folder, vehicles, trips, 0)
        files.append(path)
    del seed  # instances are always the seed-0 ones; --seed is the solvers' seed
    return files


def _cell(served: dict[str, int], offered: dict[str, int], key: str) -> str:
    return f"{served[key]}/{offered[key]}"


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| instance | solver | emergency | law enf. | routine | deadhead km | vehicles | wall s | peak RSS MiB"
        " | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        if row.get("objective"):
            obj = row["objective"]
            s, o = obj["served"], obj["offered"]
            figures = [_cell(s, o, "emergency"), _cell(s, o, "law_enforcement"), _cell(s, o, "routine")]
            figures += [f"{obj['deadhead_km']:.1f}", str(obj["vehicles_used"])]
        else:
            figures = ["-"] * 5
        wall = f"{row['wall_seconds']:.1f}" if "wall_seconds" in row else "-"
        rss = f"{row['peak_rss_mib']:.0f}" if "peak_rss_mib" in row else "-"
        cells = [row["instance"], row["solver"], *figures, wall, rss, row["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="*", type=Path, help="instance files (default: the benchmark sizes)")
    parser.add_argument("--sizes", help="comma-separated VxT, e.g. 20x80,100x500 (default: all benchmark sizes)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solver and instance")
    parser.add_argument("--seed", type=int, default=0, help="solver seed")
    parser.add_argument("--solvers", default=",".join(SOLVERS), help=f"comma-separated subset of {SOLVERS}")
    parser.add_argument("--memory-gib", type=float, default=12.0, help="address-space cap per solver process")
    parser.add_argument("--referee", type=Path, default=REFEREE)
    parser.add_argument("--out", type=Path, help="write all figures to this JSON file")
    parser.add_argument("--keep", type=Path, help="keep the solutions in this directory")
    parser.add_argument("--worker", nargs=3, metavar=("PEER", "IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        peer, instance_path, out = args.worker
        return worker(peer, Path(instance_path), Path(out), args.time_limit, args.seed)

    referee = _referee(args.referee)
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = set(solvers) - set(SOLVERS)
    if unknown:
        parser.error(f"unknown solvers {sorted(unknown)}; choose from {SOLVERS}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        for path in instance_files(args.instances, args.sizes, args.seed):
            instance = json.loads(path.read_text(encoding="utf-8"))
            name = instance.get("name", path.stem)
            for solver in solvers:
                row: dict[str, Any] = {"instance": name, "solver": solver, "time_limit": args.time_limit}
                if solver == "engine" and not _engine_available():
                    row["verdict"] = "skipped: python -m dispatch not there yet"
                    rows.append(row)
                    print(f"{name} {solver}: {row['verdict']}", file=sys.stderr)
                    continue
                print(f"{name} {solver} ...", file=sys.stderr, flush=True)
                run, solution = solve_one(
                    solver,
                    path,
                    time_limit=args.time_limit,
                    seed=args.seed,
                    memory_gib=args.memory_gib,
                    workdir=workdir,
                )
                row.update(run)
                if solution is None:
                    row["verdict"] = run["status"]
                else:
                    errors, objective = referee.check(instance, solution)
                    row["objective"] = objective
                    row["solve_seconds"] = solution.get("solve_seconds")
                    row["referee_errors"] = errors[:20]
                    row["verdict"] = "feasible" if not errors else f"INFEASIBLE ({len(errors)} errors)"
                if not row.get("stderr_tail") or row["verdict"] == "feasible":
                    row.pop("stderr_tail", None)
                rows.append(row)
                print(f"{name} {solver}: {row['verdict']} in {row['wall_seconds']:.1f} s", file=sys.stderr)
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
