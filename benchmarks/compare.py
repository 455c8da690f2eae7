"""Run our engine and the peers side by side on the benchmark days, check every answer with the referee.

    python benchmarks/compare.py [INSTANCE.json ...] [--cities wuhan,xian] [--day-seeds 0] [--sizes 20x80,100x500]
                                 [--time-limits 5,10,30] [--seeds 0] [--workers N]
                                 [--solvers engine,pyvrp,vroom,ortools] [--memory-gib 12] [--out results.json]
    python benchmarks/compare.py --set reporting [--seeds 0] [--out results.json]      # the days of days.toml

Without instance files it takes the days of ``--cities`` x ``--day-seeds`` x ``--sizes`` (default: Wuhan's seed-0
days of every benchmark size, ``benchmarks/instances/city-{V}x{T}.json``), or with ``--set`` the days and limits
``benchmarks/days.toml`` lists, generating any file that is missing. ``--time-limit``/``--seed`` still take one
value; ``--time-limits``/``--seeds`` sweep. A block of ``days.toml`` may name its ``solvers`` (with a ``note`` why):
the others are listed as not run on those days. Every solver runs in its own subprocess, one at a time, with the same
time limit and an address-space cap (``RLIMIT_AS``), so its peak RSS is its own (``wait4`` rusage of that child)
and a crash or an out-of-memory in one does not end the run. Our engine runs as ``python -m dispatch solve IN -o OUT
--time-limit T --seed S`` (plus ``--workers N`` when given and the engine has that flag; skipped with a note if the
engine is not there); each peer as ``benchmarks/peers.py``'s ``solve_with_<peer>``. VROOM and plain OR-Tools
routing take no seed, so they run once per day and limit and that answer stands for every solver seed. All solvers
get the whole time limit for their search; reading the instance and building the model come on top (as for our
engine's ``--time-limit``), and the wall time column shows the total. A child that overruns the time limit by far
(3x + 120 s) is killed and reported as such.

Prints a markdown table (served emergency / law-enforcement / routine of offered, deadhead km, vehicles used, wall
time, peak RSS, referee verdict), then a verdict table: per day, limit and solver seed, the engine against the best
peer at that limit (lexicographically: more emergencies, then law enforcement, then routine served, then less empty
km), "ahead", "tied" or "behind" with the margin, and at 10 s the engine against the best peer at 30 s; each side's
wall seconds are shown, since VROOM's construction is not cut by its timeout and can run past the limit. Every day
is reported, not only the wins. Writes every figure to ``--out`` as JSON.
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
    solver: str,
    instance_path: Path,
    *,
    time_limit: float,
    seed: int,
    memory_gib: float,
    workdir: Path,
    extra: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run one solver on one instance in a subprocess; returns the run record and the solution (if any).

    `extra` goes on the engine's command line (e.g. ``--workers 2``).
    """
    out = workdir / f"{instance_path.stem}.{solver}.{time_limit:g}s.seed{seed}.solution.json"
    out.unlink(missing_ok=True)
    if solver == "engine":
        command = [sys.executable, "-m", "dispatch", "solve", str(instance_path), "-o", str(out)]
        command += ["--time-limit", f"{time_limit:g}", "--seed", str(seed), *(extra or [])]
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


def _generate() -> ModuleType:
    sys.path.insert(0, str(HERE))
    import generate

    return generate


def day_files(days: Any, folder: Path = HERE / "instances") -> list[tuple[Path, Any]]:
    """(file, day) for each of `generate.Day`s, writing the files that are missing."""
    generate = _generate()
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, Any]] = []
    for day in days:
        path = folder / f"{day.name}.json"
        if not path.exists():
            generate.write(folder, day.vehicles, day.trips, day.seed, day.city)
        files.append((path, day))
    return files


def engine_has_workers() -> bool:
    """Whether ``python -m dispatch solve`` takes ``--workers`` (it gains the flag under issue 16)."""
    if not _engine_available():
        return False
    done = subprocess.run(
        [sys.executable, "-m", "dispatch", "solve", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return "--workers" in done.stdout


# ------------------------------------------------------------------------------------------------- verdicts

PRIORITIES = ("emergency", "law_enforcement", "routine")
SHORT = {"emergency": "emergency", "law_enforcement": "law", "routine": "routine"}
#: Empty km closer than this count as equal (the tables print one decimal).
KM_TIE = 0.05


def served(row: dict[str, Any]) -> tuple[int, int, int]:
    """A feasible row's served (emergency, law enforcement, routine)."""
    counts = row["objective"]["served"]
    return counts["emergency"], counts["law_enforcement"], counts["routine"]


def feasible(row: dict[str, Any]) -> bool:
    return row.get("verdict") == "feasible" and bool(row.get("objective"))


def better(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether feasible row `a` beats feasible row `b`: more served by priority, then less empty km."""
    if served(a) != served(b):
        return served(a) > served(b)
    return float(a["objective"]["deadhead_km"]) < float(b["objective"]["deadhead_km"]) - KM_TIE


def best_of(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best feasible row (the first of equals), or None when none is feasible."""
    best: dict[str, Any] | None = None
    for row in rows:
        if feasible(row) and (best is None or better(row, best)):
            best = row
    return best


def verdict(engine: dict[str, Any] | None, peer: dict[str, Any] | None) -> tuple[str, str]:
    """("ahead" | "tied" | "behind" | "no comparison", margin) of the engine's row against the best peer's.

    Lexicographic: the first priority where the served counts differ decides, then the empty km (within
    `KM_TIE` is a tie). The margin names that priority's difference, or the km (and per cent) when served ties.
    """
    if engine is None or not feasible(engine):
        if peer is not None and feasible(peer):
            return "behind", "engine: no feasible answer"
        return "no comparison", ""
    if peer is None or not feasible(peer):
        return "ahead", "no peer answer"
    ours, theirs = served(engine), served(peer)
    for priority, mine, other in zip(PRIORITIES, ours, theirs, strict=True):
        if mine != other:
            return ("ahead" if mine > other else "behind"), f"{mine - other:+d} {SHORT[priority]}"
    km, peer_km = float(engine["objective"]["deadhead_km"]), float(peer["objective"]["deadhead_km"])
    diff = km - peer_km
    share = f" ({diff / peer_km:+.1%})" if peer_km else ""
    if abs(diff) <= KM_TIE:
        return "tied", "same served, same empty km"
    return ("ahead" if diff < 0 else "behind"), f"{diff:+.1f} km empty{share}"


def _figures(row: dict[str, Any] | None) -> str:
    """Served E / L / R and empty km, and the wall seconds when known (a peer may overrun its limit: VROOM's
    construction is not cut by its timeout, so its wall time shows what the comparison really granted it)."""
    if row is None or not feasible(row):
        return "-"
    e, law, r = served(row)
    wall = f" in {row['wall_seconds']:.1f} s" if "wall_seconds" in row else ""
    return f"{e} / {law} / {r}, {float(row['objective']['deadhead_km']):,.1f} km{wall}"


def verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per (day, limit, solver seed) that has an engine row, plus 10 s against the peers' 30 s."""
    groups: dict[tuple[str, float, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["instance"], float(row["time_limit"]), int(row["solver_seed"])), []).append(row)
    out: list[dict[str, Any]] = []
    for (day, limit, seed), group in groups.items():
        engines = [row for row in group if row["solver"] == "engine"]
        if not engines or str(engines[0].get("verdict", "")).startswith(("skipped", "not run")):
            continue
        engine = engines[0]
        peers = [row for row in group if row["solver"] != "engine"]
        comparisons = [(limit, best_of(peers))]
        if limit == 10.0 and (day, 30.0, seed) in groups:
            comparisons.append((30.0, best_of([r for r in groups[(day, 30.0, seed)] if r["solver"] != "engine"])))
        for peer_limit, peer in comparisons:
            word, margin = verdict(engine, peer)
            out.append(
                {
                    "instance": day,
                    "time_limit": limit,
                    "peer_time_limit": peer_limit,
                    "solver_seed": seed,
                    "engine": _figures(engine),
                    "best_peer": "-" if peer is None else peer["solver"],
                    "peer": _figures(peer),
                    "verdict": word,
                    "margin": margin,
                }
            )
    return out


def verdict_table(results: list[dict[str, Any]]) -> str:
    """The verdicts as a markdown table, and a count of each verdict."""
    lines = [
        "| day | limit s | seed | engine E / L / R, empty km, wall | best peer (limit s)"
        " | peer E / L / R, empty km, wall | verdict | margin |",
        "| --- | ---: | ---: | --- | --- | --- | --- | --- |",
    ]
    for item in results:
        cells = [
            item["instance"],
            f"{item['time_limit']:g}",
            str(item["solver_seed"]),
            item["engine"],
            f"{item['best_peer']} ({item['peer_time_limit']:g})",
            item["peer"],
            f"**{item['verdict']}**" if item["verdict"] == "behind" else item["verdict"],
            item["margin"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    same = [r for r in results if r["peer_time_limit"] == r["time_limit"]]
    cross = [r for r in results if r["peer_time_limit"] != r["time_limit"]]
    for label, group in (("at the same limit", same), ("engine at 10 s against the peers at 30 s", cross)):
        if group:
            counts = {word: sum(r["verdict"] == word for r in group) for word in ("ahead", "tied", "behind")}
            lines.append(
                f"\n{label}: {counts['ahead']} ahead, {counts['tied']} tied, {counts['behind']} behind of {len(group)}"
            )
    return "\n".join(lines)


def _cell(served: dict[str, int], offered: dict[str, int], key: str) -> str:
    return f"{served[key]}/{offered[key]}"


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| instance | limit s | seed | solver | emergency | law enf. | routine | deadhead km | vehicles | wall s"
        " | peak RSS MiB | verdict |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
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
        seed = f"{row['solver_seed']}" + (" (same run)" if row.get("reused") else "")
        cells = [row["instance"], f"{row['time_limit']:g}", seed, row["solver"], *figures, wall, rss, row["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: Peers whose search takes no seed: one run per day and limit stands for every solver seed.
SEEDLESS = frozenset({"vroom", "ortools"})


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="*", type=Path, help="instance files (default: the benchmark days)")
    parser.add_argument("--set", choices=("tuning", "reporting"), help="the days and limits of benchmarks/days.toml")
    parser.add_argument("--cities", help="comma-separated cities (default: wuhan)")
    parser.add_argument("--day-seeds", default="0", help="comma-separated seeds of the days (default: 0)")
    parser.add_argument("--sizes", help="comma-separated VxT, e.g. 20x80,100x500 (default: all benchmark sizes)")
    parser.add_argument("--time-limit", type=float, help="seconds per solver and instance (default 60)")
    parser.add_argument("--time-limits", help="comma-separated limits to sweep, e.g. 5,10,30")
    parser.add_argument("--seed", type=int, help="solver seed (default 0)")
    parser.add_argument("--seeds", help="comma-separated solver seeds to sweep")
    parser.add_argument("--workers", type=int, help="processes the engine may use (passed on if it takes --workers)")
    parser.add_argument("--solvers", default=",".join(SOLVERS), help=f"comma-separated subset of {SOLVERS}")
    parser.add_argument("--memory-gib", type=float, default=12.0, help="address-space cap per solver process")
    parser.add_argument("--referee", type=Path, default=REFEREE)
    parser.add_argument("--out", type=Path, help="write all figures to this JSON file")
    parser.add_argument("--keep", type=Path, help="keep the solutions in this directory")
    parser.add_argument("--worker", nargs=3, metavar=("PEER", "IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        peer, instance_path, out = args.worker
        limit = 60.0 if args.time_limit is None else args.time_limit
        return worker(peer, Path(instance_path), Path(out), limit, args.seed or 0)

    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = set(solvers) - set(SOLVERS)
    if unknown:
        parser.error(f"unknown solvers {sorted(unknown)}; choose from {SOLVERS}")
    try:
        limits = _floats(args.time_limits) if args.time_limits else [] if args.time_limit is None else [args.time_limit]
        seeds = _generate().parse_ints(args.seeds) if args.seeds else [0 if args.seed is None else args.seed]
        if args.set:
            if args.instances or args.cities or args.sizes:
                parser.error("--set takes its days from days.toml; give no instances, --cities or --sizes")
            days = day_files(_generate().load_set(args.set))
        elif args.instances:
            days = [(path, None) for path in args.instances]
        else:
            generate = _generate()
            cities, day_seeds = generate.parse_cities(args.cities), generate.parse_ints(args.day_seeds)
            chosen = generate.days_of(cities, day_seeds, generate.parse_sizes(args.sizes))
            days = day_files(chosen)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    if any(limit <= 0 for limit in limits):
        parser.error("time limits must be positive")
    workers = []
    if args.workers is not None and "engine" in solvers:
        if engine_has_workers():
            workers = ["--workers", str(args.workers)]
        else:
            print("note: python -m dispatch solve takes no --workers yet; the engine runs without it", file=sys.stderr)

    referee = _referee(args.referee)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        for path, day in days:
            instance = json.loads(path.read_text(encoding="utf-8"))
            name = instance.get("name", path.stem)
            own_limits = list(day.limits) if day is not None else []
            only = set(day.solvers) if day is not None and day.solvers else set(SOLVERS)
            for limit in limits or own_limits or [60.0]:
                for seed in seeds:
                    for solver in solvers:
                        row: dict[str, Any] = {
                            "instance": name,
                            "solver": solver,
                            "time_limit": limit,
                            "solver_seed": seed,
                        }
                        if solver not in only:
                            note = day.note if day is not None else ""
                            row["verdict"] = "not run on this day" + (f" ({note})" if note else "")
                            rows.append(row)
                            continue
                        if solver in SEEDLESS and seed != seeds[0]:
                            first = next(
                                r
                                for r in rows
                                if (r["instance"], r["solver"], r["time_limit"], r["solver_seed"])
                                == (name, solver, limit, seeds[0])
                            )
                            rows.append({**first, "solver_seed": seed, "reused": True})
                            continue
                        rows.append(run_row(row, solver, path, instance, limit, seed, args, workers, referee, workdir))
    print(table(rows))
    results = verdicts(rows)
    if results:
        print()
        print(verdict_table(results))
    if args.out:
        document = {"runs": rows, "verdicts": results}
        args.out.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


def run_row(
    row: dict[str, Any],
    solver: str,
    path: Path,
    instance: dict[str, Any],
    limit: float,
    seed: int,
    args: argparse.Namespace,
    workers: list[str],
    referee: ModuleType,
    workdir: Path,
) -> dict[str, Any]:
    """Run one solver on one day at one limit and seed; the row with its figures and the referee's verdict."""
    name = row["instance"]
    tag = f"{name} {solver} {limit:g} s seed {seed}"
    if solver == "engine" and not _engine_available():
        row["verdict"] = "skipped: python -m dispatch not there yet"
        print(f"{tag}: {row['verdict']}", file=sys.stderr)
        return row
    print(f"{tag} ...", file=sys.stderr, flush=True)
    run, solution = solve_one(
        solver,
        path,
        time_limit=limit,
        seed=seed,
        memory_gib=args.memory_gib,
        workdir=workdir,
        extra=workers if solver == "engine" else [],
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
    print(f"{tag}: {row['verdict']} in {row['wall_seconds']:.1f} s", file=sys.stderr)
    return row


if __name__ == "__main__":
    sys.exit(main())
