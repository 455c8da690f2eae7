"""Write the synthetic benchmark instances, one JSON per size.

    python benchmarks/generate.py --out benchmarks/instances [--seed 0] [--sizes 20x80,100x500]

Files are named ``city-{vehicles}x{trips}.json`` (``city-{vehicles}x{trips}-s{seed}.json`` for other seeds). They
are reproducible from the seed, so they are not committed (``benchmarks/instances/`` is in ``.gitignore``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from dispatch.synthetic import SIZES, city_instance


def instance_name(vehicles: int, trips: int, seed: int) -> str:
    """The name (and file stem) of the instance of one size and seed."""
    return f"city-{vehicles}x{trips}" + (f"-s{seed}" if seed else "")


def parse_sizes(text: str | None) -> list[tuple[int, int]]:
    """``"20x80,100x500"`` -> [(20, 80), (100, 500)]; None -> all benchmark sizes."""
    if not text:
        return list(SIZES)
    sizes = []
    for part in text.split(","):
        vehicles, _, trips = part.strip().lower().partition("x")
        sizes.append((int(vehicles), int(trips)))
    return sizes


def write(out: Path, vehicles: int, trips: int, seed: int) -> Path:
    """Generate one instance and write it to ``out``; returns the file."""
    name = instance_name(vehicles, trips, seed)
    path = out / f"{name}.json"
    instance = city_instance(vehicles, trips, seed=seed, name=name)
    path.write_text(json.dumps(instance, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/instances"), help="directory to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", help="comma-separated VxT, e.g. 20x80,100x500 (default: all benchmark sizes)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for vehicles, trips in parse_sizes(args.sizes):
        path = write(args.out, vehicles, trips, args.seed)
        print(f"{path}  ({vehicles} vehicles, {trips} trips, {path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
