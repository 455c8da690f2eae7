"""Sustained position ingest: many simulated JT/T 808 terminals over real TCP against `gongche ingest` in its own
process(es), each fix acknowledged (0x8001) only once it is durable in the database.

    python benchmarks/ingest.py [--backend postgresql|sqlite|both] [--terminals 2000] [--interval 0.4]
                                [--duration 30] [--processes 1] [--postgres-url URL]

For each backend: a fresh database (a new schema of the PostgreSQL database, or a SQLite file in a temporary
folder), migrated, with ``terminals`` vehicles whose registry records a terminal number; ``processes`` ingest
processes (`gongche ingest`, the terminals dealt round-robin between them); the simulator (telematics.simulator.load,
in this process) registers and authenticates every terminal, then each sends a 0x0200 every ``interval`` seconds
for ``duration`` seconds, with up to four awaiting their answer. Measured over the sending phase: fixes
acknowledged per second, the ingest processes' CPU seconds per fix (from /proc/<pid>/stat), the acknowledgement
latency (send -> 0x8001) p50/p99, and the rows stored against the fixes acknowledged (must be equal).
The simulator shares the machine's cores with the ingest and the database: its cost is in every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

POSTGRES_URL = os.environ.get("GONGCHE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    backend: str
    processes: int
    terminals: int
    acknowledged: int
    stored: int
    seconds: float
    cpu_seconds: float
    p50_ms: float
    p99_ms: float
    unanswered: int
    refused: int
    register_seconds: float
    simulator_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0


def seed(engine: Engine, terminals: int) -> list[tuple[str, str]]:
    """A jurisdiction, an agency and ``terminals`` vehicles with terminal numbers: (number, plate) pairs. The
    vehicles are inserted in bulk (their registration is not what is measured)."""
    from fleet import clock, registry
    from fleet.audit import Actor
    from fleet.clock import CHINA
    from fleet.db import unit_of_work
    from fleet.enums import Category, Powertrain, VehicleSource, VehicleStatus
    from fleet.models import Agency, Vehicle
    from fleet.schemas import AgencyIn, JurisdictionIn

    admin = Actor("bench-admin", "admin")
    live = date.today() - timedelta(days=30)
    with clock.travel(datetime.combine(live, datetime.min.time(), CHINA)), unit_of_work(engine) as session:
        for code, name, level, parent in (("420000", "湖北省", "province", None),
                                          ("420100", "武汉市", "city", "420000")):
            registry.create_jurisdiction(session, admin, data=JurisdictionIn(code=code, name=name, level=level,
                                                                              parent=parent, live_on=live))
        registry.create_agency(session, admin, data=AgencyIn(code="WH-BENCH", name="基准测试单位",
                                                             jurisdiction="420100"))
    with unit_of_work(engine) as session:
        agency_id = session.scalar(sa.select(Agency.id).where(Agency.code == "WH-BENCH"))
        rows = [{"plate": f"鄂Z{n:06d}", "vin": f"LBENCH{n:011d}", "model": "bench", "agency_id": agency_id,
                 "category": Category.general, "powertrain": Powertrain.ice, "seats": 5,
                 "price_cny": Decimal(150000), "displacement_l": Decimal("1.5"), "acquired_on": live,
                 "odometer_km": 10000, "status": VehicleStatus.active, "source": VehicleSource.retained,
                 "home_lat": 30.58, "home_lon": 114.30, "terminal_id": f"1450{n:07d}"}
                for n in range(terminals)]
        session.execute(sa.insert(Vehicle), rows)
    return [(row["terminal_id"], row["plate"]) for row in rows]  # type: ignore[misc]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def start_ingest(url: str, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "GONGCHE_DATABASE_URL": url}
    child = subprocess.Popen([sys.executable, "-m", "gongche.cli", "ingest", "--host", "127.0.0.1", "--jt808-port",
                              str(port), "--osmand-port", "-1"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if line.startswith("ingest ready"):
            return child
        if not line and child.poll() is not None:
            raise RuntimeError(f"gongche ingest exited with {child.returncode}")
    raise RuntimeError("gongche ingest did not start within 60 s")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(backend: str, url: str, engine: Engine, args: argparse.Namespace) -> Result:
    from fleet.models import Position
    from telematics import simulator

    terminals = seed(engine, args.terminals)
    ports = [free_port() for _ in range(args.processes)]
    children = [start_ingest(url, port) for port in ports]
    cpu: dict[str, float] = {}
    try:
        def on_start() -> None:
            cpu["start"] = sum(cpu_seconds(c.pid) for c in children)
            cpu["simulator"] = time.process_time()

        report = asyncio.run(simulator.load(
            [("127.0.0.1", port) for port in ports], 0, terminals, interval_s=args.interval,
            duration_s=args.duration, device_start=datetime.now(UTC) - timedelta(hours=3),
            device_step_s=args.step, window=args.window, on_start=on_start))
        cpu["end"] = sum(cpu_seconds(c.pid) for c in children)
        cpu["simulator"] = time.process_time() - cpu.get("simulator", time.process_time())
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(60)
    with engine.connect() as conn:
        stored = int(conn.scalar(sa.select(sa.func.count()).select_from(Position)) or 0)
    return Result(backend, args.processes, report.registered, report.acknowledged, stored, report.wall_seconds,
                  cpu["end"] - cpu.get("start", cpu["end"]), report.percentile(50), report.percentile(99),
                  report.unanswered, report.refused, report.register_seconds, cpu["simulator"])


def run_postgresql(args: argparse.Namespace) -> Result:
    from fleet.db import make_engine
    from fleet.migrate import upgrade

    schema = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.postgres_url}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        return measure("postgresql", url, engine, args)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def run_sqlite(args: argparse.Namespace) -> Result:
    from fleet.db import make_engine
    from fleet.migrate import upgrade

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/ingest.db"
        engine = make_engine(url)
        try:
            upgrade(engine)
            return measure("sqlite", url, engine, args)
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--terminals", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.4, help="wall seconds between a terminal's fixes")
    parser.add_argument("--duration", type=float, default=30.0, help="wall seconds of sending")
    parser.add_argument("--step", type=int, default=10, help="device seconds between a terminal's fixes")
    parser.add_argument("--window", type=int, default=4, help="fixes a terminal may have awaiting their answer")
    parser.add_argument("--processes", type=int, default=1, help="ingest processes (the terminals split)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    if args.duration / args.interval * args.step > 3 * 3600:
        parser.error("--duration / --interval x --step must stay under 3 h of device time (kept in the past)")
    results = []
    for backend in (("postgresql", "sqlite") if args.backend == "both" else (args.backend,)):
        results.append(run_postgresql(args) if backend == "postgresql" else run_sqlite(args))
    offered = args.terminals / args.interval
    print(f"\n{args.terminals} terminals x 1 fix / {args.interval} s (offered {offered:,.0f} fixes/s) for "
          f"{args.duration:.0f} s, window {args.window}, {args.processes} ingest process(es), simulator in-process")
    print("| backend | ingest processes | fixes acknowledged | stored | fixes/s | ingest CPU µs/fix "
          "| simulator CPU µs/fix | p50 ms | p99 ms | unanswered | refused | registration s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        per_fix = r.cpu_seconds / r.acknowledged * 1e6 if r.acknowledged else float("nan")
        simulated = r.simulator_cpu_seconds / r.acknowledged * 1e6 if r.acknowledged else float("nan")
        print(f"| {r.backend} | {r.processes} | {r.acknowledged:,} | {r.stored:,} | {r.rate:,.0f} | {per_fix:,.0f} "
              f"| {simulated:,.0f} | {r.p50_ms:.0f} | {r.p99_ms:.0f} | {r.unanswered} | {r.refused} "
              f"| {r.register_seconds:.1f} |")
    return 0 if all(r.stored == r.acknowledged and r.unanswered == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
