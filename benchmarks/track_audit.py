"""The track audit's cost: N vehicles' day of fixes every S seconds, cut and audited in memory (the pure part),
(database seeding and ``findings()`` end to end: not yet, see /tmp/notes/tracks.md).

    .venv/bin/python -m benchmarks.track_audit --vehicles 3000 --step 10            # pure: tracks + rules
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta

import numpy as np

from fleet.clock import CHINA
from fleet.enums import VehicleStatus
from fleet.tracks import Track, drives
from fleet.usage_audit import default_rules, track_checks
from fleet.usage_audit.evidence import VehicleRow

DAY = datetime(2026, 3, 9, tzinfo=CHINA)
YARD = (30.5928, 114.3055)


def synthetic(vehicle_id: int, step: int, rng: np.random.Generator) -> Track:
    """A day: parked (ignition off) with four drives of 20-40 min at 20-60 km/h on random headings."""
    t = DAY.timestamp() + np.arange(0, 86400, step, dtype=np.float64)
    speed = np.zeros(t.size)
    acc = np.zeros(t.size, dtype=np.int8)
    for start_h in rng.choice(np.arange(7, 20), 4, replace=False):
        a = int(start_h * 3600 / step)
        b = a + int(rng.integers(20, 40) * 60 / step)
        speed[a:b] = rng.uniform(20, 60)
        acc[a - 6:b + 6] = 1
    heading = np.radians(np.cumsum(rng.normal(0, 10, t.size)))
    metres = speed / 3.6 * step
    lat = YARD[0] + np.cumsum(metres * np.cos(heading)) / 111_000
    lon = YARD[1] + np.cumsum(metres * np.sin(heading)) / (111_000 * np.cos(np.radians(YARD[0])))
    return Track.build(vehicle_id, t, lat, lon, speed, acc)


def pure(vehicles: int, step: int) -> None:
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    tracks = [synthetic(v, step, rng) for v in range(1, vehicles + 1)]
    fixes = sum(len(tr) for tr in tracks)
    t1 = time.perf_counter()
    rules = default_rules()
    days = [track_checks.VehicleDay(
        VehicleRow(tr.vehicle_id, f"V{tr.vehicle_id}", 1, "A", YARD, VehicleStatus.active, "1"), tr, [], rules,
        DAY, DAY + timedelta(days=1), DAY + timedelta(days=1)) for tr in tracks]
    cut = sum(len(drives(tr, rules.tracks.drive_rules())) for tr in tracks)
    t2 = time.perf_counter()
    found = 0
    for kind in track_checks.TRACK_KINDS:
        found += sum(1 for _ in getattr(track_checks, kind.value)(days))
    t3 = time.perf_counter()
    print(f"{vehicles} vehicles x a day every {step} s: {fixes:,} fixes built in {t1 - t0:.1f} s; "
          f"{cut:,} drives cut in {t2 - t1:.1f} s; seven track rules ({found:,} findings) in {t3 - t2:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=3000)
    parser.add_argument("--step", type=int, default=10)
    args = parser.parse_args()
    pure(args.vehicles, args.step)


if __name__ == "__main__":
    main()
