"""The benchmark's `.inp` format (Pepin et al. 2009): read instances, write answers, solve one file end to end."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.mdvsp.schedule import InfeasibleScheduleError, Schedule, ScheduleGraph, solve


def _instance_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".inp"):
        name = name.removesuffix(suffix)
    return name


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        raw = gzip.decompress(raw)
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not an ASCII .inp file ({exc.reason} at byte {exc.start})") from None


def parse_inp(text: str, source: str = "<inp>") -> ScheduleGraph:
    """Parse the text of an `.inp` file; ValueError naming the line and field when it is malformed."""
    tokens: list[tuple[int, str]] = [(no, tok) for no, line in enumerate(text.splitlines(), 1) for tok in line.split()]

    def number(i: int, what: str) -> int:
        if i >= len(tokens):
            raise ValueError(f"{source}: file ends before {what}")
        line, tok = tokens[i]
        try:
            return int(tok)
        except ValueError:
            raise ValueError(f"{source}, line {line}: {what} is {tok!r}, not an integer") from None

    m, n = number(0, "the number of depots m"), number(1, "the number of trips n")
    if m < 1:
        raise ValueError(f"{source}, line {tokens[0][0]}: the number of depots m is {m}, must be >= 1")
    if n < 0:
        raise ValueError(f"{source}, line {tokens[1][0]}: the number of trips n is {n}, must be >= 0")
    vehicles = [number(2 + k, f"r_{k + 1} (vehicles at depot {k + 1})") for k in range(m)]
    for k, r in enumerate(vehicles):
        if r < 0:
            raise ValueError(f"{source}, line {tokens[2 + k][0]}: r_{k + 1} is {r}, must be >= 0")
    size = m + n
    first = 2 + m
    if len(tokens) != first + size * size:
        raise ValueError(
            f"{source}: the cost matrix has {len(tokens) - first} entries, expected {size} x {size} = {size * size}"
        )
    try:
        matrix = np.array([tok for _, tok in tokens[first:]], dtype=np.int64).reshape(size, size)
    except ValueError:
        for i in range(first, len(tokens)):
            number(i, f"cost entry ({(i - first) // size + 1}, {(i - first) % size + 1})")
        raise
    bad = np.argwhere(matrix < -1)
    if len(bad):
        a, b = (int(x) for x in bad[0])
        line = tokens[first + a * size + b][0]
        raise ValueError(f"{source}, line {line}: cost entry ({a + 1}, {b + 1}) is {matrix[a, b]}, must be >= -1")
    trips = matrix[m:, m:]
    tail, head = np.nonzero(trips >= 0)
    if (tail == head).any():
        t = int(tail[tail == head][0])
        raise ValueError(f"{source}, line {tokens[first + (m + t) * (size + 1)][0]}: trip {t + 1} may follow itself")
    return ScheduleGraph(
        depot_vehicles=np.array(vehicles, dtype=np.int64),
        pull_out=matrix[:m, m:],
        pull_in=matrix[m:, :m],
        arc_tail=tail.astype(np.int32),
        arc_head=head.astype(np.int32),
        arc_cost=trips[tail, head],
    )


def read_inp(path: str | Path) -> tuple[str, ScheduleGraph]:
    """Read an `.inp` (or gzipped `.inp.gz`) instance: its name and its scheduling graph."""
    path = Path(path)
    return _instance_name(path), parse_inp(_read_text(path), str(path))


def answer(name: str, schedule: Schedule) -> dict[str, Any]:
    """The benchmark's answer format: depots and trips numbered from 1."""
    return {
        "instance": name,
        "cost": schedule.cost,
        "lower_bound": schedule.lower_bound,
        "vehicles": [{"depot": k + 1, "trips": [t + 1 for t in trips]} for k, trips in schedule.vehicles],
    }


def gap_percent(cost: int, bound: int) -> float:
    """Relative gap between a cost and a lower bound, in percent of the cost."""
    return 100.0 * (cost - bound) / cost if cost else 0.0


def main(path_in: str | Path, path_out: str | Path, time_limit: float, seed: int) -> int:
    """Solve one instance, write the answer as JSON and print cost, bound and gap; the exit status."""
    try:
        name, graph = read_inp(path_in)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        schedule = solve(graph, time_limit=time_limit, seed=seed)
    except InfeasibleScheduleError as exc:
        print(f"error: {name}: {exc}", file=sys.stderr)
        return 1
    Path(path_out).write_text(json.dumps(answer(name, schedule)) + "\n", encoding="utf-8")
    print(
        f"{name}: cost {schedule.cost}, lower bound {schedule.lower_bound}, "
        f"gap {gap_percent(schedule.cost, schedule.lower_bound):.4f} %"
        f"{' (optimal)' if schedule.optimal else ''}, {len(schedule.vehicles)} vehicles, {schedule.seconds:.1f} s"
    )
    return 0

