"""The track audit's cost: N vehicles' day of fixes every S seconds.

Pure (no database): the synthetic tracks built, cut into drives and audited in memory.

``--database``: the end-to-end figure the issue asks for. A fresh database (a SQLite file in a temporary folder,
or a new schema ``bench_tracks`` of the PostgreSQL database named, dropped at the end unless ``--keep``) is
migrated and seeded: one jurisdiction, four agencies, N vehicles with home yards spread over the city and a
terminal each, and a day of fixes per vehicle every S seconds — parked (ignition off) at night, four drives of
20-40 min, three of them booked trips (started, completed, assigned: pickup and drop-off where the drive begins and
ends), one unbooked; the terminal's odometer counts along. Fixes go through ``fleet.positions.store`` in batches
(``--writer store``, the default on SQLite) or, for seeding speed, as binary COPY straight into ``positions``
(``--writer copy``, the default on PostgreSQL; the month partition made by ``fleet.positions`` first). Then
``fleet.usage_audit.findings(session, start=day, end=day + 1)`` runs in a fresh process (so that its peak RSS is
its own), timed end to end with the tracks' load and each rule apart.

    .venv/bin/python -m benchmarks.track_audit --vehicles 3000 --step 10            # pure: tracks + rules
    .venv/bin/python -m benchmarks.track_audit --vehicles 300 --database sqlite
    .venv/bin/python -m benchmarks.track_audit --vehicles 3000 \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from fleet.clock import CHINA
from fleet.enums import VehicleStatus
from fleet.tracks import Track, drives
from fleet.usage_audit import default_rules, track_checks
from fleet.usage_audit.evidence import VehicleRow

if TYPE_CHECKING:
    import psycopg

DAY = datetime(2026, 3, 9, tzinfo=CHINA)  # a Monday
YARD = (30.5928, 114.3055)
SCHEMA = "bench_tracks"


@dataclass
class Day:
    """One vehicle's synthetic day: columns and the (first, last) fix index of each drive."""

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray
    acc: np.ndarray
    mileage: np.ndarray
    spans: list[tuple[int, int]]


def synthetic_day(step: int, rng: np.random.Generator, home: tuple[float, float] = YARD) -> Day:
    """A day: parked (ignition off) with four drives of 20-40 min at 20-60 km/h on random headings."""
    t = DAY.timestamp() + np.arange(0, 86400, step, dtype=np.float64)
    speed = np.zeros(t.size)
    acc = np.zeros(t.size, dtype=np.int8)
    spans = []
    for start_h in rng.choice(np.arange(7, 20), 4, replace=False):
        a = int(start_h * 3600 / step)
        b = a + int(rng.integers(20, 40) * 60 / step)
        speed[a:b] = rng.uniform(20, 60)
        acc[a - 6:b + 6] = 1
        spans.append((a, b))
    heading = np.radians(np.cumsum(rng.normal(0, 10, t.size)))
    metres = speed / 3.6 * step
    lat = home[0] + np.cumsum(metres * np.cos(heading)) / 111_000
    lon = home[1] + np.cumsum(metres * np.sin(heading)) / (111_000 * np.cos(np.radians(home[0])))
    mileage = 30_000 + np.cumsum(metres) / 1000
    return Day(t, lat, lon, speed, acc, mileage, sorted(spans))


def synthetic(vehicle_id: int, step: int, rng: np.random.Generator) -> Track:
    day = synthetic_day(step, rng)
    return Track.build(vehicle_id, day.t, day.lat, day.lon, day.speed, day.acc)


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


# --- The database mode ---------------------------------------------------------------------------------------------


def _engine(url: str, *, pool: bool = True) -> Any:
    from sqlalchemy.pool import NullPool

    from fleet.db import make_engine

    kwargs: dict[str, Any] = {} if pool else {"poolclass": NullPool}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"options": f"-csearch_path={SCHEMA}"}
    return make_engine(url, **kwargs)


def _vin(serial: int) -> str:
    from fleet.schemas import vin_check_digit

    body = f"LGBH52E00X{serial:07d}"[-17:]
    return body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]


def _plate(serial: int) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"鄂{letters[serial // 100000 % 24]}{serial % 100000:05d}"


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
_COPY_COLUMNS = ("vehicle_id", "fixed_at", "received_at", "lat", "lon", "speed_kmh", "acc", "alarm", "mileage_km",
                 "source", "backfill")
_COPY_ROW = np.dtype([
    ("n", ">i2"), ("vid_l", ">i4"), ("vid", ">i4"), ("fixed_l", ">i4"), ("fixed", ">i8"), ("recv_l", ">i4"),
    ("recv", ">i8"), ("lat_l", ">i4"), ("lat", ">f8"), ("lon_l", ">i4"), ("lon", ">f8"), ("speed_l", ">i4"),
    ("speed", ">f8"), ("acc_l", ">i4"), ("acc", "u1"), ("alarm_l", ">i4"), ("alarm", ">i8"), ("mileage_l", ">i4"),
    ("mileage", ">f8"), ("source_l", ">i4"), ("source", "S5"), ("backfill_l", ">i4"), ("backfill", "u1"),
])


def _copy_rows(vehicle_id: int, day: Day) -> bytes:
    """One vehicle's fixes as binary COPY tuples (PostgreSQL's wire format: big-endian, each field's length)."""
    rows = np.zeros(day.t.size, dtype=_COPY_ROW)
    rows["n"] = len(_COPY_COLUMNS)
    for name, size in (("vid", 4), ("fixed", 8), ("recv", 8), ("lat", 8), ("lon", 8), ("speed", 8), ("acc", 1),
                       ("alarm", 8), ("mileage", 8), ("source", 5), ("backfill", 1)):
        rows[f"{name}_l"] = size
    micros = np.round((day.t - _PG_EPOCH) * 1e6).astype(np.int64)
    rows["vid"] = vehicle_id
    rows["fixed"] = micros
    rows["recv"] = micros + 2_000_000
    rows["lat"], rows["lon"], rows["speed"] = day.lat, day.lon, day.speed
    rows["acc"] = day.acc == 1
    rows["mileage"] = day.mileage
    rows["source"] = b"jt808"
    return rows.tobytes()


def _fixes(vehicle_id: int, day: Day) -> Iterator[Any]:
    from fleet.positions import Fix

    for t, lat, lon, speed, acc, mileage in zip(day.t.tolist(), day.lat.tolist(), day.lon.tolist(),
                                                day.speed.tolist(), day.acc.tolist(), day.mileage.tolist(),
                                                strict=True):
        yield Fix(vehicle_id, datetime.fromtimestamp(t, UTC), lat, lon, speed, acc=bool(acc), mileage_km=mileage)


def seed(url: str, vehicles: int, step: int, writer: str) -> dict[str, Any]:
    """Migrate and fill the database (see the module's docstring); what was written and how long it took."""
    import sqlalchemy as sa

    from fleet import positions, registry
    from fleet.audit import Actor
    from fleet.db import unit_of_work
    from fleet.enums import AssignmentSource, Category, Powertrain, Priority, TripStatus
    from fleet.migrate import upgrade
    from fleet.models import Assignment, LatestPosition, Trip, Vehicle
    from fleet.schemas import AgencyIn, JurisdictionIn

    admin = Actor("bench", "admin")
    started = time.perf_counter()
    engine = _engine(url)
    upgrade(engine)
    rng = np.random.default_rng(1)
    homes = np.random.default_rng(2)
    agencies: list[int] = []
    with unit_of_work(engine) as session:
        for code, name, level, parent in (("420000", "湖北省", "province", None),
                                          ("420100", "武汉市", "city", "420000")):
            registry.create_jurisdiction(session, admin, data=JurisdictionIn(
                code=code, name=name, level=level, parent=parent, live_on=date(2025, 1, 1)))
        for n in range(4):
            agencies.append(registry.create_agency(session, admin, data=AgencyIn(
                code=f"WH-B{n}", name=f"基准单位 {n}", jurisdiction="420100")).id)
    registered = time.perf_counter()
    days: dict[int, Day] = {}
    with unit_of_work(engine) as session:
        rows: list[dict[str, Any]] = []
        for serial in range(1, vehicles + 1):
            home = (YARD[0] + homes.uniform(-0.1, 0.1), YARD[1] + homes.uniform(-0.1, 0.1))
            rows.append({"plate": _plate(serial), "vin": _vin(serial), "model": "基准车型",
                         "category": Category.general, "powertrain": Powertrain.ice, "seats": 5,
                         "price_cny": Decimal(150000), "displacement_l": Decimal("1.5"),
                         "acquired_on": date(2023, 3, 1), "odometer_km": 30000,
                         "status": VehicleStatus.active, "home_lat": home[0], "home_lon": home[1],
                         "agency_id": agencies[serial % len(agencies)], "terminal_id": f"1380000{serial:05d}"})
        session.execute(sa.insert(Vehicle), rows)
        ids = {plate: vid for plate, vid in session.execute(sa.select(Vehicle.plate, Vehicle.id))}
        agency_of = {r["plate"]: r["agency_id"] for r in rows}
        trips: list[dict[str, Any]] = []
        spans: list[tuple[int, int]] = []
        for r in rows:
            vid = ids[r["plate"]]
            day = synthetic_day(step, rng, (r["home_lat"], r["home_lon"]))
            days[vid] = day
            for a, b in day.spans[:3]:  # three booked, the fourth unbooked
                begin = datetime.fromtimestamp(float(day.t[a]), UTC)
                end = datetime.fromtimestamp(float(day.t[b]), UTC)
                trips.append({"agency_id": agency_of[r["plate"]], "purpose": "公务出行", "priority": Priority.routine,
                              "categories": ["general"], "passengers": 1, "pickup_lat": float(day.lat[a]),
                              "pickup_lon": float(day.lon[a]), "pickup_address": "上车点",
                              "dropoff_lat": float(day.lat[b]), "dropoff_lon": float(day.lon[b]),
                              "dropoff_address": "目的地", "earliest_pickup": begin - timedelta(minutes=5),
                              "latest_pickup": begin + timedelta(minutes=10), "dwell_min": 0,
                              "planned_km": float(day.mileage[b] - day.mileage[a]),
                              "status": TripStatus.completed, "started_at": begin - timedelta(minutes=1),
                              "completed_at": end + timedelta(minutes=1),
                              "odometer_start_km": int(day.mileage[a]), "odometer_end_km": int(day.mileage[b]) + 1})
                spans.append((vid, a))
        session.execute(sa.insert(Trip), trips)
        trip_ids = list(session.scalars(sa.select(Trip.id).order_by(Trip.id)))
        session.execute(sa.insert(Assignment), [
            {"trip_id": tid, "vehicle_id": vid, "starts_at": trip["started_at"] - timedelta(minutes=9),
             "ends_at": trip["completed_at"] + timedelta(minutes=9), "source": AssignmentSource.dispatch,
             "active": True}
            for tid, trip, (vid, _) in zip(trip_ids, trips, spans, strict=True)])
    booked = time.perf_counter()
    fixes = 0
    batch = max(1, 200_000 * step // 86400)  # vehicles per store() batch: ~200k fixes
    order = sorted(days)
    if writer == "store":
        for i in range(0, len(order), batch):
            with unit_of_work(engine) as session:
                fixes += positions.store(session, [f for vid in order[i:i + batch] for f in _fixes(vid, days[vid])],
                                         received_at=DAY + timedelta(days=1))
    else:
        assert url.startswith("postgresql"), "--writer copy is for PostgreSQL"
        with unit_of_work(engine) as session:
            positions.ensure_partitions(session, {positions.month_of(DAY)})
        header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
        for i in range(0, len(order), 100):
            with unit_of_work(engine) as session:
                raw = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
                with raw.cursor() as cursor, cursor.copy(
                        f"COPY positions ({', '.join(_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(header)
                    for vid in order[i:i + 100]:
                        copy.write(_copy_rows(vid, days[vid]))
                        fixes += days[vid].t.size
                    copy.write(struct.pack(">h", -1))
                session.execute(sa.insert(LatestPosition), [
                    {"vehicle_id": vid, "fixed_at": datetime.fromtimestamp(float(days[vid].t[-1]), UTC),
                     "received_at": DAY + timedelta(days=1), "lat": float(days[vid].lat[-1]),
                     "lon": float(days[vid].lon[-1]), "speed_kmh": 0.0, "acc": False, "alarm": 0,
                     "source": "jt808"} for vid in order[i:i + 100]])
    written = time.perf_counter()
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) positions")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    analysed = time.perf_counter()
    engine.dispose()
    return {"vehicles": vehicles, "trips": len(trips), "fixes": fixes, "writer": writer,
            "registry_s": registered - started, "trips_s": booked - registered, "fixes_s": written - booked,
            "analyse_s": analysed - written}


def _timed(name: str, fn: Callable[..., Any], times: dict[str, float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        if isinstance(out, Iterator):
            out = list(out)
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        return out
    return wrapper


def audit(url: str, results: Any, dump: str | None = None, batch: int | None = None) -> None:
    """``findings()`` for the day, end to end, in this (fresh) process: the time, its split, the peak RSS;
    ``batch`` vehicles' tracks read and judged at once (None: the shipped `usage_audit.AUDIT_BATCH`)."""
    from fleet import usage_audit
    from fleet.db import unit_of_work
    from fleet.usage_audit import evidence

    if batch is not None:
        usage_audit.AUDIT_BATCH = batch
    times: dict[str, float] = {}
    evidence.tracks = _timed("load tracks", evidence.tracks, times)
    for kind in track_checks.TRACK_KINDS:
        setattr(track_checks, kind.value, _timed(kind.value, getattr(track_checks, kind.value), times))
    track_checks.trip_km = _timed("trip_km", track_checks.trip_km, times)
    engine = _engine(url)
    before = _peak_rss_mb()
    with unit_of_work(engine, readonly=True) as session:
        t0 = time.perf_counter()
        found = usage_audit.findings(session, start=DAY, end=DAY + timedelta(days=1))
        total = time.perf_counter() - t0
    if dump:
        Path(dump).write_text("".join(f.model_dump_json() + "\n" for f in found), encoding="utf-8")
    counts: dict[str, int] = {}
    for f in found:
        counts[f.kind.value] = counts.get(f.kind.value, 0) + 1
    engine.dispose()
    results.put({"total_s": total, "times": times, "findings": len(found), "by_kind": counts,
                 "rss_before_mb": before, "peak_rss_mb": _peak_rss_mb()})


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM on Linux (ru_maxrss carries a fork's parent's peak over the exec), else
    ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _audit_apart(ctx: Any, url: str, dump: str | None, batch: int | None, label: str) -> None:
    """`audit` in a fresh process (so that its peak RSS is its own), and what it measured, printed."""
    queue = ctx.Queue()
    child = ctx.Process(target=audit, args=(url, queue, dump, batch))
    child.start()
    result = queue.get()
    child.join()
    split = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result["times"].items())
    rest = result["total_s"] - sum(result["times"].values())
    print(f"{label}: findings() end to end {result['total_s']:.1f} s ({split}; the rest {rest:.1f} s); "
          f"{result['findings']:,} findings {result['by_kind']}; peak RSS {result['peak_rss_mb']:,.0f} MB "
          f"(before the audit {result['rss_before_mb']:,.0f} MB)", flush=True)


def database(url: str, vehicles: int, step: int, writer: str | None, keep: bool, runs: int, reuse: bool,
             dump: str | None = None, batches: list[int | None] | None = None) -> None:
    import sqlalchemy as sa

    folder = None
    if url == "sqlite":
        folder = tempfile.mkdtemp(prefix="track_audit_")
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
    elif url.startswith("postgresql") and not reuse:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{SCHEMA}"')
    writer = writer or ("copy" if url.startswith("postgresql") else "store")
    try:
        seeded = None if reuse else seed(url, vehicles, step, writer)
        if seeded is not None:
            print(f"seeded {seeded['vehicles']:,} vehicles, {seeded['trips']:,} trips, {seeded['fixes']:,} fixes "
                  f"({writer}): registry {seeded['registry_s']:.1f} s, trips {seeded['trips_s']:.1f} s, fixes "
                  f"{seeded['fixes_s']:.1f} s ({seeded['fixes'] / max(seeded['fixes_s'], 1e-9):,.0f}/s), "
                  f"analyse {seeded['analyse_s']:.1f} s", flush=True)
        if url.startswith("postgresql"):
            with sa.create_engine(url).connect() as conn:
                size = conn.execute(sa.text(
                    "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname LIKE 'positions%'"
                ), {"schema": SCHEMA}).scalar()
            print(f"positions on disk: {size}")
        ctx = multiprocessing.get_context("spawn")
        for run in range(1, runs + 1):
            for batch in batches or [None]:
                _audit_apart(ctx, url, dump, batch, f"run {run}" + ("" if batch is None else
                                                                    f", {batch:,} vehicles at a time"))
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        elif url.startswith("postgresql") and not keep:
            with sa.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=3000)
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--database", metavar="URL", help="'sqlite' (a temporary file) or a PostgreSQL URL")
    parser.add_argument("--writer", choices=("store", "copy"), help="how fixes are seeded (default: store on "
                        "SQLite, copy on PostgreSQL)")
    parser.add_argument("--runs", type=int, default=2, help="audits timed, each in a fresh process")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--reuse", action="store_true", help="audit the kept PostgreSQL schema, no seeding")
    parser.add_argument("--batches", metavar="N,N", help="vehicles read and judged at once, each in turn "
                        "(usage_audit.AUDIT_BATCH; default: as shipped), side by side in each run")
    parser.add_argument("--dump", metavar="FILE", help="write the findings there, one JSON a line (to compare)")
    args = parser.parse_args()
    if args.database:
        database(args.database, args.vehicles, args.step, args.writer, args.keep or args.reuse, args.runs,
                 args.reuse, args.dump, [int(n) for n in args.batches.split(",")] if args.batches else None)
    else:
        pure(args.vehicles, args.step)


if __name__ == "__main__":
    main()
