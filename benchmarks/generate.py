"""Write the synthetic benchmark days, one JSON per (city, seed, size).

    python benchmarks/generate.py --out benchmarks/instances [--city wuhan[,xian]] [--seeds 0[,1,2]]
                                  [--sizes 20x80,100x500]
    python benchmarks/generate.py --set tuning|reporting --out DIR      # the days benchmarks/days.toml lists

Wuhan's files keep their historical names, ``city-{vehicles}x{trips}.json`` (``city-{V}x{T}-s{seed}.json`` for
other seeds); the other cities' are ``{city}-{V}x{T}-s{seed}.json``. A day is reproducible from (city, seed, size)
alone, so the files are not committed (``benchmarks/instances/`` is in ``.gitignore``).

Tuning days are seeds 1-9 of any city; reporting days are seeds 100 and up, and are never used for tuning (see
``benchmarks/days.toml``). ``--set`` writes the days that file lists and refuses a seed outside its range.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from dispatch.synthetic import CITIES, SIZES, city_instance

DAYS = Path(__file__).resolve().parent / "days.toml"
#: Which seeds each set may use: tuning 1-9, reporting 100 and up (never tuned on).
SEED_RANGES = {"tuning": range(1, 10), "reporting": range(100, 2**31)}
SOLVERS = frozenset({"engine", "pyvrp", "vroom", "ortools"})  # what compare.py runs
HISTORICAL = "wuhan"  # its files keep the names they had before there were other cities


@dataclass(frozen=True)
class Day:
    """One benchmark day; from a set also the limits (seconds) and solvers it is run with, and why not others."""

    city: str
    vehicles: int
    trips: int
    seed: int
    limits: tuple[float, ...] = ()
    solvers: tuple[str, ...] = ()  # empty: every solver
    note: str = ""

    @property
    def name(self) -> str:
        return instance_name(self.vehicles, self.trips, self.seed, self.city)


def instance_name(vehicles: int, trips: int, seed: int, city: str = HISTORICAL) -> str:
    """The name (and file stem) of the instance of one city, size and seed."""
    if city == HISTORICAL:
        return f"city-{vehicles}x{trips}" + (f"-s{seed}" if seed else "")
    return f"{city}-{vehicles}x{trips}-s{seed}"


def parse_sizes(text: str | None) -> list[tuple[int, int]]:
    """``"20x80,100x500"`` -> [(20, 80), (100, 500)]; None -> all benchmark sizes."""
    if not text:
        return list(SIZES)
    sizes = []
    for part in text.split(","):
        vehicles, _, trips = part.strip().lower().partition("x")
        sizes.append((int(vehicles), int(trips)))
    return sizes


def parse_cities(text: str | None) -> list[str]:
    """``"xian,Lanzhou"`` -> ["xian", "lanzhou"]; None -> ["wuhan"]. Unknown names raise ValueError."""
    if not text:
        return [HISTORICAL]
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in CITIES]
    if unknown:
        raise ValueError(f"unknown cities {unknown}; known: {', '.join(CITIES)}")
    return names


def parse_ints(text: str) -> list[int]:
    """``"1,2,3"`` -> [1, 2, 3]."""
    return [int(part) for part in text.split(",") if part.strip()]


def load_set(which: str, path: Path = DAYS) -> list[Day]:
    """The days of one set of ``days.toml`` (its main block and its ``extra`` blocks), seeds checked."""
    if which not in SEED_RANGES:
        raise ValueError(f"unknown set {which!r}; choose from {sorted(SEED_RANGES)}")
    with path.open("rb") as handle:
        table: dict[str, Any] = tomllib.load(handle)[which]
    days: list[Day] = []
    for block in [table, *table.get("extra", [])]:
        limits = tuple(float(limit) for limit in block.get("limits", ()))
        solvers = tuple(str(solver) for solver in block.get("solvers", ()))
        if set(solvers) - SOLVERS:
            raise ValueError(f"{path}: unknown solvers {sorted(set(solvers) - SOLVERS)}; choose from {sorted(SOLVERS)}")
        note = str(block.get("note", ""))
        for city in parse_cities(",".join(block["cities"])):
            for seed in block["seeds"]:
                if seed not in SEED_RANGES[which]:
                    raise ValueError(
                        f"{path}: {which} seed {seed} is outside {SEED_RANGES[which].start}"
                        f"-{SEED_RANGES[which].stop - 1}: tuning and reporting days must not meet"
                    )
                for vehicles, trips in parse_sizes(",".join(block["sizes"])):
                    days.append(Day(city, vehicles, trips, int(seed), limits, solvers, note))
    return days


def days_of(cities: list[str], seeds: list[int], sizes: list[tuple[int, int]]) -> Iterator[Day]:
    """Every (city, seed, size) combination, city by city."""
    for city in cities:
        for seed in seeds:
            for vehicles, trips in sizes:
                yield Day(city, vehicles, trips, seed)


def write(out: Path, vehicles: int, trips: int, seed: int, city: str = HISTORICAL) -> Path:
    """Generate one instance and write it to ``out``; returns the file."""
    name = instance_name(vehicles, trips, seed, city)
    path = out / f"{name}.json"
    instance = city_instance(vehicles, trips, seed=seed, name=name, city=city)
    path.write_text(json.dumps(instance, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/instances"), help="directory to write into")
    parser.add_argument("--city", help=f"comma-separated cities of {', '.join(CITIES)} (default: wuhan)")
    parser.add_argument("--seed", type=int, default=None, help="one seed (default 0)")
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3")
    parser.add_argument("--sizes", help="comma-separated VxT, e.g. 20x80,100x500 (default: all benchmark sizes)")
    parser.add_argument("--set", choices=sorted(SEED_RANGES), help="the days benchmarks/days.toml lists")
    parser.add_argument("--days", type=Path, default=DAYS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.set:
            if args.city or args.seeds or args.seed is not None or args.sizes:
                parser.error("--set takes its cities, seeds and sizes from days.toml; give none of them")
            days = load_set(args.set, args.days)
        else:
            seeds = parse_ints(args.seeds) if args.seeds else [0 if args.seed is None else args.seed]
            days = list(days_of(parse_cities(args.city), seeds, parse_sizes(args.sizes)))
    except (ValueError, OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        parser.error(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    written: set[Path] = set()
    for day in days:
        path = args.out / f"{day.name}.json"
        if path in written:
            continue
        write(args.out, day.vehicles, day.trips, day.seed, day.city)
        written.add(path)
        print(f"{path}  ({day.vehicles} vehicles, {day.trips} trips, {path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
