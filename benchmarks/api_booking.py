"""Booking API throughput and latency, on SQLite and PostgreSQL, beside a trivial FastAPI endpoint.

    python benchmarks/api_booking.py [--clients 8,32] [--workers 1,2] [--databases sqlite,postgresql]
                                     [--seconds 20] [--warmup 3] [--baseline-seconds 10] [--json results.json]
                                     [--tcp-nodelay] [--sqlite-fifo-pool] [--server-env GONGCHE_NAME=VALUE ...]

For every (workers, clients) pair: a trivial FastAPI app (``trivial`` below: ``POST /ping`` taking the same JSON
body, a sync endpoint like the app's) is served by ``uvicorn benchmarks.api_booking:trivial`` with the same
uvicorn settings; then for each database a fresh, seeded database (SQLite: a file in a temporary folder;
PostgreSQL: a new schema and login role, dropped afterwards) is served by ``uvicorn api.app:create_app --factory``
as ``gongche serve`` runs it, and loaded with ``GET /healthz`` and then ``POST /api/v1/trips`` (requester-a, a
unique Idempotency-Key and purpose per booking). Each load runs ``clients`` threads, each on one keep-alive
connection, back to back for warmup + seconds; what completes inside the last ``seconds`` counts.

The load generator (stdlib http.client, the cheapest client at hand) runs on the same machine as the server and
takes CPU from it: the table gives both processes' CPU use over the window.

Two experiments, off by default (the default measures the app exactly as shipped and served):
--tcp-nodelay      serve with ``NoDelayH11Protocol`` below. uvicorn's ``--workers N`` (N > 1) listener has
                   ``proto`` 0, so asyncio never sets TCP_NODELAY on its connections and every keep-alive response
                   waits ~40 ms for the client's delayed ACK (Kludex/uvicorn#3149); one worker is unaffected.
--sqlite-fifo-pool serve ``experiment_app`` below: the app over a SQLite engine whose pool holds one connection, so
                   that concurrent requests queue in SQLAlchemy's pool (FIFO, woken at once) instead of polling in
                   SQLite's busy handler (sleeps of up to 100 ms, no order) for ``BEGIN IMMEDIATE``. Issue 4's
                   experiment: since issue 12 the shipped app queues its writers itself (``fleet.db.WriteQueue``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES = os.environ.get("GONGCHE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

trivial = FastAPI()


@trivial.post("/ping")
def ping(body: Annotated[dict[str, Any], Body()]) -> dict[str, bool]:
    """Parse the booking's JSON and answer: HTTP, routing, body parsing and a threadpool hop, no database."""
    return {"ok": True}


@trivial.get("/healthz")
def trivial_health() -> dict[str, str]:
    return {"status": "ok"}


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with TCP_NODELAY set on every connection (``--http`` takes an import path)."""

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def experiment_app() -> FastAPI:
    """The app as ``create_app()`` builds it, except that a SQLite engine pools a single connection."""
    from api.app import create_app
    from fleet.db import make_engine
    from fleet.settings import get_settings

    url = get_settings().database_url
    if not url.startswith("sqlite"):
        return create_app()
    return create_app(make_engine(url, pool_size=1, max_overflow=0, pool_timeout=120))


@dataclass
class Result:
    label: str  # "trivial POST /ping", "GET /healthz", "POST /trips"
    database: str  # "-" for the trivial app
    variant: str  # "shipped", or the experiments: "nodelay", "fifo-pool", "nodelay+fifo-pool"
    workers: int
    clients: int
    seconds: float
    completed: int
    errors: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float  # CPU seconds of the server (all its processes) per wall second: 1.0 = one core
    client_cpu: float  # the same for the load generator
    error_samples: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in the process group (uvicorn's supervisor and its workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@dataclass
class Served:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serve(target: str, *, factory: bool, workers: int, env: dict[str, str], logdir: Path,
          nodelay: bool = False) -> Iterator[Served]:
    port = free_port()
    log = logdir / f"uvicorn-{port}.log"
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    if nodelay:
        command += ["--http", "benchmarks.api_booking:NoDelayH11Protocol"]
    with log.open("wb") as out:
        process = subprocess.Popen(command + (["--factory"] if factory else []), cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{target} exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target} did not answer /healthz in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Served("127.0.0.1", port, process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


Request = Callable[[], tuple[bytes | None, dict[str, str]]]


def load(served: Served, label: str, method: str, path: str, make: Request, expected: int, *, database: str,
         variant: str, workers: int, clients: int, warmup: float, seconds: float) -> tuple[Result, int]:
    """``clients`` threads back to back for warmup + seconds; returns the window's result and all 2xx answers."""
    start = time.perf_counter()
    window_start, stop_at = start + warmup, start + warmup + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    answered = [0]
    cpu: dict[str, float] = {}

    def client() -> None:
        mine: list[float] = []
        ok_total = 0
        connection = http.client.HTTPConnection(served.host, served.port, timeout=120)
        while (sent := time.perf_counter()) < stop_at:
            body, headers = make()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = http.client.HTTPConnection(served.host, served.port, timeout=120)
                status, payload = -1, f"{type(exc).__name__}: {exc}".encode()
            done = time.perf_counter()
            ok_total += 200 <= status < 300
            if window_start <= done <= stop_at:
                if status == expected:
                    mine.append(done - sent)
                else:
                    with lock:
                        errors.append(f"{status} {payload[:160].decode(errors='replace')}")
        connection.close()
        with lock:
            latencies.extend(mine)
            answered[0] += ok_total

    def meter() -> None:  # CPU of both sides over the measured window only
        time.sleep(max(0.0, window_start - time.perf_counter()))
        server0, client0, wall0 = group_cpu_seconds(served.process.pid), time.process_time(), time.perf_counter()
        time.sleep(max(0.0, stop_at - time.perf_counter()))
        wall = time.perf_counter() - wall0
        cpu["server"] = (group_cpu_seconds(served.process.pid) - server0) / wall
        cpu["client"] = (time.process_time() - client0) / wall

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)] + [
        threading.Thread(target=meter, daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()

    def pct(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    result = Result(
        label=label, database=database, variant=variant, workers=workers, clients=clients, seconds=seconds,
        completed=len(latencies), errors=len(errors), per_second=len(latencies) / seconds,
        p50_ms=1000 * statistics.median(latencies) if latencies else float("nan"), p95_ms=pct(0.95),
        p99_ms=pct(0.99), max_ms=1000 * latencies[-1] if latencies else float("nan"),
        server_cpu=cpu.get("server", float("nan")), client_cpu=cpu.get("client", float("nan")),
        error_samples=errors[:3])
    return result, answered[0]


# --- Databases -----------------------------------------------------------------------------------------------------


@dataclass
class Database:
    name: str
    url: str  # what the server gets as GONGCHE_DATABASE_URL
    tokens: dict[str, str]
    count_trips: Callable[[], int]
    drop: Callable[[], None]


def _clear_settings() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from fleet.settings import get_settings

    get_settings.cache_clear()


def _seed(engine: Any) -> dict[str, str]:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from fleet.migrate import upgrade
    from tests.api.conftest import seed_city  # the API tests' small city: two agencies, vehicles, users

    upgrade(engine)
    return seed_city(engine).tokens


def _counter(engine: Any) -> Callable[[], int]:
    import sqlalchemy as sa

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM trips")).scalar_one())

    return count


def sqlite_database(folder: Path) -> Database:
    from fleet.db import make_engine

    path = folder / f"bench-{uuid.uuid4().hex[:8]}.db"
    engine = make_engine(f"sqlite:///{path}")
    tokens = _seed(engine)
    engine.dispose()
    return Database("sqlite", f"sqlite:///{path}", tokens, _counter(engine), engine.dispose)


def postgresql_database(admin_url: str) -> Database:
    """A fresh schema, and a login role of the same name whose search_path it is: the server connects as that
    role, with the grants ``gongche db grant`` gives the application in production (read and append on the audit
    log, read and write elsewhere)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from fleet.db import make_engine
    from fleet.migrate import grant_application_role

    name = f"gongche_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    engine = make_engine(admin_url, connect_args={"options": f"-csearch_path={name}"})

    def drop() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                         {"r": name})
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()

    try:
        tokens = _seed(engine)
        grant_application_role(engine, name)
        with admin.begin() as conn:
            conn.execute(sa.text(f'ALTER ROLE "{name}" SET search_path = "{name}"'))
    except BaseException:
        drop()
        raise
    url = make_url(admin_url).set(username=name, password=None).render_as_string(hide_password=False)
    return Database("postgresql", url, tokens, _counter(engine), drop)


# --- The run -------------------------------------------------------------------------------------------------------


def booking_requests(token: str) -> Request:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.api.conftest import trip_body

    template = json.dumps(trip_body(purpose="@PURPOSE@"), ensure_ascii=False)

    def make() -> tuple[bytes | None, dict[str, str]]:
        key = uuid.uuid4().hex
        body = template.replace("@PURPOSE@", f"压测 bench {key}").encode()
        return body, {"Authorization": f"Bearer {token}", "Idempotency-Key": key,
                      "Content-Type": "application/json"}

    return make


def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GONGCHE_")}
    with tempfile.TemporaryDirectory(prefix="gongche-bench-") as tmp:
        folder = Path(tmp)
        base_env |= {"GONGCHE_AUDIT_KEY": "bench", "GONGCHE_AUDIT_CHECKPOINT_FILE": str(folder / "ckpt.jsonl")}
        base_env |= dict(args.server_env)
        # The seeding below writes MACed audit records in this process: with the server's key, or it refuses them.
        os.environ.update({k: base_env[k] for k in ("GONGCHE_AUDIT_KEY", "GONGCHE_AUDIT_CHECKPOINT_FILE")})
        _clear_settings()
        ping_body = booking_requests("unused")()[0]
        nodelay = args.tcp_nodelay
        variant = "+".join(name for name, on in (("nodelay", nodelay), ("fifo-pool", args.sqlite_fifo_pool)) if on)
        app = "benchmarks.api_booking:experiment_app" if args.sqlite_fifo_pool else "api.app:create_app"
        for workers in args.workers:
            for clients in args.clients:
                common = {"workers": workers, "clients": clients, "warmup": args.warmup,
                          "variant": variant or "shipped"}
                with serve("benchmarks.api_booking:trivial", factory=False, workers=workers, env=base_env,
                           logdir=folder, nodelay=nodelay) as served:
                    result, _ = load(served, "trivial POST /ping", "POST", "/ping",
                                     lambda: (ping_body, {"Content-Type": "application/json"}), 200,
                                     database="-", seconds=args.baseline_seconds, **common)
                    report(result, args)
                    results.append(result)
                for name in args.databases:
                    database = sqlite_database(folder) if name == "sqlite" else postgresql_database(args.postgres_url)
                    try:
                        env = base_env | {"GONGCHE_DATABASE_URL": database.url}
                        with serve(app, factory=True, workers=workers, env=env, logdir=folder,
                                   nodelay=nodelay) as served:
                            result, _ = load(served, "GET /healthz", "GET", "/healthz", lambda: (None, {}), 200,
                                             database=name, seconds=args.baseline_seconds, **common)
                            report(result, args)
                            results.append(result)
                            result, answered = load(served, "POST /trips", "POST", "/api/v1/trips",
                                                    booking_requests(database.tokens["requester-a"]), 201,
                                                    database=name, seconds=args.seconds, **common)
                            report(result, args)
                            results.append(result)
                        stored = database.count_trips()
                        if stored != answered:  # every 201 must be a stored trip, and nothing else
                            print(f"  !! {answered} bookings answered 2xx but {stored} trips stored", flush=True)
                    finally:
                        database.drop()
    return results


def report(result: Result, args: argparse.Namespace) -> None:
    if not args.quiet:
        print(f"  {result.variant} {result.database:10s} w={result.workers} c={result.clients:<3d} {result.label:20s} "
              f"{result.per_second:8.1f}/s p50 {result.p50_ms:6.1f} p99 {result.p99_ms:6.1f} ms "
              f"errors {result.errors}", flush=True)


def table(results: list[Result]) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title="Booking API: throughput and latency (completed requests in the measured window)")
    for column in ("variant", "database", "workers", "clients", "endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms",
                   "max ms", "errors", "server CPU", "client CPU"):
        out.add_column(column, justify="left" if column in ("variant", "database", "endpoint") else "right")
    for r in results:
        out.add_row(r.variant, r.database, str(r.workers), str(r.clients), r.label, f"{r.per_second:.1f}",
                    f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p99_ms:.1f}", f"{r.max_ms:.1f}", str(r.errors),
                    f"{r.server_cpu:.2f}", f"{r.client_cpu:.2f}")
    ratios = Table(title="Overhead of a booking against the trivial endpoint (same workers and clients)")
    for column in ("variant", "database", "workers", "clients", "trivial req/s ÷ booking req/s",
                   "booking p99 ÷ trivial p99", "healthz req/s ÷ booking req/s"):
        ratios.add_column(column, justify="left" if column in ("variant", "database") else "right")
    for r in results:
        if r.label != "POST /trips":
            continue
        same = [o for o in results if (o.workers, o.clients) == (r.workers, r.clients)]
        base = next(o for o in same if o.label.startswith("trivial"))
        health = next(o for o in same if o.label == "GET /healthz" and o.database == r.database)
        if not r.completed:  # nothing finished inside the window: there is no ratio to give
            ratios.add_row(r.variant, r.database, str(r.workers), str(r.clients), "-", "-", "-")
            continue
        ratios.add_row(r.variant, r.database, str(r.workers), str(r.clients), f"{base.per_second / r.per_second:.1f}",
                       f"{r.p99_ms / base.p99_ms:.1f}", f"{health.per_second / r.per_second:.1f}")
    console = Console(width=160)
    console.print(out)
    console.print(ratios)
    print("server CPU / client CPU: CPU seconds per wall second (1.00 = one of the machine's "
          f"{os.cpu_count()} cores); the load generator shares the cores with the server.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])

    def ints(text: str) -> list[int]:
        return [int(part) for part in text.split(",")]

    def names(text: str) -> list[str]:
        chosen = [part.strip() for part in text.split(",") if part.strip()]
        unknown = set(chosen) - {"sqlite", "postgresql"}
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown database(s): {', '.join(sorted(unknown))}")
        return chosen

    parser.add_argument("--clients", type=ints, default=[8, 32], help="concurrent clients, comma-separated")
    parser.add_argument("--workers", type=ints, default=[1, 2], help="uvicorn worker processes, comma-separated")
    parser.add_argument("--databases", type=names, default=["sqlite", "postgresql"])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds of bookings")
    parser.add_argument("--baseline-seconds", type=float, default=None,
                        help="measured seconds of the trivial endpoint and /healthz (default: --seconds)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds run and discarded before measuring")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--tcp-nodelay", action="store_true",
                        help="experiment: serve with NoDelayH11Protocol (TCP_NODELAY on every connection)")
    parser.add_argument("--sqlite-fifo-pool", action="store_true",
                        help="experiment: serve experiment_app (one pooled SQLite connection per worker)")
    parser.add_argument("--quiet", action="store_true", help="no line per measurement as it finishes")

    def setting(text: str) -> tuple[str, str]:
        name, sep, value = text.partition("=")
        if not sep or not name.startswith("GONGCHE_"):
            raise argparse.ArgumentTypeError(f"expected GONGCHE_NAME=VALUE, got {text!r}")
        return name, value

    parser.add_argument("--server-env", type=setting, action="append", default=[], metavar="GONGCHE_NAME=VALUE",
                        help="a setting for the served app (repeatable), e.g. GONGCHE_DB_POOL_SIZE=40; the "
                             "benchmark's own environment is not passed on")
    args = parser.parse_args()
    args.baseline_seconds = args.baseline_seconds or args.seconds
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start", flush=True)
    results = run(args)
    table(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
