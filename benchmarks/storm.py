"""A storm of users: many clients racing for a few vehicles and drivers while dispatch runs solve.

    python benchmarks/storm.py [--databases sqlite,postgresql] [--clients 50] [--requests 1200] [--seconds 300]
                               [--run-seconds 30] [--json storm.json]

A real server (``uvicorn api.app:create_app --factory``, as ``gongche serve`` runs it) on a fresh copy of the API
tests' city (two agencies, 6 vehicles, 4 drivers, one user per role). ``clients`` threads, each on its own
keep-alive connection, send a mix until ``requests`` have been answered or ``seconds`` have passed: bookings,
approvals, manual assigns racing for the same vehicles and drivers, cancellations, starts, emergencies booked by
the dispatcher (placed at once), reads; one client runs dispatch runs, the first with a ``run-seconds`` search.

It reports every answer by status, the connections dropped, latency per kind (p50, p99), the bookings answered
while the long run was solving and their p99, and then checks the database: no vehicle or driver holds two
overlapping assignments, every emergency sent is stored, and ``GET /audit/verify`` (the chain and the rows) is ok.
`storm()` is what the suite's storm test runs at a smaller size.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.api_booking import (  # noqa: E402
    DEFAULT_POSTGRES,
    Database,
    postgresql_database,
    serve,
    sqlite_database,
)

DAY = date(2030, 3, 12)  # the API tests' city books this Tuesday
CHINA_OFFSET = "+08:00"


def at(hour: int, minute: int = 0, day: date = DAY) -> str:
    return datetime.combine(day, clock(hour % 24, minute)).isoformat() + CHINA_OFFSET


# The status a 503 without Retry-After is recorded under: a 503 with it is the documented answer under load.
BARE_503 = 590


@dataclass
class Answer:
    kind: str
    status: int  # 0: the connection dropped before an answer
    began: float
    seconds: float


@dataclass
class Report:
    database: str
    clients: int
    answers: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    server_errors: int = 0  # 5xx other than 503 with Retry-After
    overloaded: int = 0  # 503 with Retry-After: the server shed load and said when to come back
    wall_seconds: float = 0.0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    long_run_seconds: float | None = None
    bookings_during_long_run: int = 0
    booking_p99_during_long_run_ms: float | None = None
    emergencies_sent: int = 0
    emergencies_stored: int = 0
    overlaps: int = 0
    verified: dict[str, Any] = field(default_factory=dict)
    dispatch_runs: dict[int, int] = field(default_factory=dict)


class Client:
    """One user agent on one keep-alive connection; a dropped connection is counted and reopened."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def close(self) -> None:
        self.connection.close()

    def send(self, method: str, path: str, token: str, body: dict[str, Any] | None = None,
             key: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        try:
            self.connection.request(method, f"/api/v1{path}", body=json.dumps(body) if body is not None else None,
                                    headers=headers)
            response = self.connection.getresponse()
            raw = response.read()
            if response.status == 503 and response.getheader("Retry-After") is None:
                return BARE_503, None  # overload must say when to come back: counted as a server error
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            return 0, None
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, None


class Desk:
    """What the clients know of the day, to pick trips to act on (a loose, shared view; races are the point)."""

    def __init__(self, seed: int) -> None:
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        self.trips: dict[str, list[int]] = {"requested": [], "approved": [], "assigned": []}

    def pick(self, state: str) -> int | None:
        with self.lock:
            return self.random.choice(self.trips[state]) if self.trips[state] else None

    def note(self, trip: Any) -> None:
        if not isinstance(trip, dict) or "id" not in trip:
            return
        with self.lock:
            for ids in self.trips.values():
                if trip["id"] in ids:
                    ids.remove(trip["id"])
            if trip.get("status") in self.trips:
                self.trips[trip["status"]].append(trip["id"])


def trip_body(rng: random.Random, *, priority: str = "routine", agency: str | None = None) -> dict[str, Any]:
    hour, minute = rng.randint(7, 17), rng.choice((0, 15, 30, 45))
    lat, lon = 30.5928 + rng.uniform(-0.04, 0.04), 114.3055 + rng.uniform(-0.04, 0.04)
    body: dict[str, Any] = {
        "purpose": f"风暴测试 storm {uuid.uuid4().hex[:8]}", "priority": priority, "passengers": rng.randint(1, 4),
        "pickup": {"lat": round(lat, 5), "lon": round(lon, 5), "address": "江岸区沿江大道"},
        "dropoff": {"lat": round(lat + rng.uniform(-0.05, 0.05), 5), "lon": round(lon + rng.uniform(-0.05, 0.05), 5),
                    "address": "武昌区中北路"},
        "earliest_pickup": at(hour, minute), "latest_pickup": at(hour + 1, minute),
        "dwell_min": rng.choice((15, 30, 45)),
    }
    if priority == "emergency":  # phoned in to the dispatcher: its reason and the agency's approval, recorded
        body["categories"] = ["emergency", "law_enforcement", "general"]
        body["priority_reason"] = "突发事件现场处置"
        body["approval_basis"] = "单位值班负责人电话同意"
    if agency is not None:
        body["agency"] = agency
    return body


def storm(port: int, tokens: dict[str, str], vehicles: list[int], drivers: list[int], *, clients: int,
          requests: int, seconds: float, run_seconds: float, seed: int = 0) -> tuple[list[Answer], list[int]]:
    """Run the mix against the server on ``port``; returns every answer and each emergency's trip id
    (-1: it was not booked)."""
    desk = Desk(seed)
    answers: list[Answer] = []
    emergencies: list[int] = []  # each emergency sent: its trip id, or -1 when it was not booked
    lock = threading.Lock()
    started = time.monotonic()
    stop = threading.Event()

    def record(kind: str, began: float, status: int) -> None:
        with lock:
            answers.append(Answer(kind, status, began - started, time.monotonic() - began))
            if len(answers) >= requests:
                stop.set()

    def user(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        client = Client(port)
        agency, requester = ("WH-GA", "requester-a") if number % 2 else ("WH-CG", "requester-b")
        try:
            act(rng, client, agency, requester)
        finally:
            client.close()

    # What a user does to a trip the desk knows of, and the states it looks for that trip in.
    on_a_trip = {"approve": ("requested",), "assign": ("approved",), "cancel": ("requested", "approved", "assigned"),
                 "start": ("assigned",)}
    mix = ((0.35, "book"), (0.50, "approve"), (0.65, "assign"), (0.70, "cancel"), (0.75, "start"),
           (0.80, "emergency"), (1.0, "read"))

    def trip_action(kind: str, rng: random.Random) -> tuple[str, dict[str, Any]] | None:
        """The path and body of ``kind`` on a trip the desk knows in a state it needs, or None if it knows none."""
        states = on_a_trip[kind]
        trip = desk.pick(rng.choice(states) if len(states) > 1 else states[0])
        if trip is None:
            return None
        body: dict[str, Any]
        if kind == "assign":
            body = {"vehicle_id": rng.choice(vehicles)}
            if rng.random() < 0.5:
                body["driver_id"] = rng.choice(drivers)
        elif kind == "start":
            body = {"odometer_km": 1000 + rng.randint(0, 500)}
        else:
            body = {"note": "同意" if kind == "approve" else "改期"}
        return f"/trips/{trip}/{kind}", body

    def act(rng: random.Random, client: Client, agency: str, requester: str) -> None:
        while not stop.is_set() and time.monotonic() - started < seconds:
            roll = rng.random()
            kind = next(name for bound, name in mix if roll < bound)
            began = time.monotonic()
            if kind == "book":
                status, body = client.send("POST", "/trips", tokens[requester], trip_body(rng),
                                           key=uuid.uuid4().hex)
            elif kind == "emergency":
                emergency, key = trip_body(rng, priority="emergency", agency=agency), uuid.uuid4().hex
                status, body = client.send("POST", "/trips", tokens["dispatcher"], emergency, key=key)
                if status == 503:  # shed under load: a caller with an emergency sends it again, same key
                    record(kind, began, status)
                    time.sleep(1)
                    began = time.monotonic()
                    status, body = client.send("POST", "/trips", tokens["dispatcher"], emergency, key=key)
                with lock:
                    # 200: the retry's replay of a booking the first try stored before it was turned away
                    emergencies.append(body["id"] if status in (200, 201) and isinstance(body, dict) else -1)
            elif kind == "read":
                status, body = client.send("GET", "/trips?limit=20", tokens[rng.choice((requester, "dispatcher"))])
            else:
                action = trip_action(kind, rng)
                if action is None:
                    continue
                status, body = client.send("POST", action[0], tokens["dispatcher"], action[1])
            if isinstance(body, dict) and "status" in body:
                desk.note(body)
            record(kind, began, status)

    def dispatcher() -> None:
        client = Client(port)
        try:
            for index, limit in enumerate([run_seconds, 2.0, 2.0]):
                if stop.is_set():
                    return
                began = time.monotonic()
                day = DAY + timedelta(days=index)
                window = {"start": at(0, day=day), "end": at(0, day=day + timedelta(days=1)), "time_limit": limit}
                status, _ = client.send("POST", "/dispatch", tokens["dispatcher"], window)
                record("dispatch" if index else "dispatch-long", began, status)
                time.sleep(1.0)
        finally:
            client.close()

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(clients - 1)]
    threads.append(threading.Thread(target=dispatcher, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + run_seconds + 120)
    stop.set()
    return answers, emergencies


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(database: str, clients: int, answers: list[Answer], emergencies: list[int]) -> Report:
    report = Report(database, clients)
    report.answers = sum(1 for a in answers if a.status)
    report.by_status = dict(sorted(Counter(a.status for a in answers if a.status).items()))
    report.dropped = sum(1 for a in answers if not a.status)
    report.server_errors = sum(1 for a in answers if a.status >= 500 and a.status != 503)
    report.overloaded = sum(1 for a in answers if a.status == 503)
    report.wall_seconds = round(max((a.began + a.seconds for a in answers), default=0.0), 1)
    for kind in sorted({a.kind for a in answers}):
        times = [a.seconds * 1000 for a in answers if a.kind == kind and a.status]
        report.latency_ms[kind] = {"n": len(times), "p50": round(p(times, 0.5), 1), "p99": round(p(times, 0.99), 1)}
    long = next((a for a in answers if a.kind == "dispatch-long"), None)
    if long is not None:
        report.long_run_seconds = round(long.seconds, 1)
        during = [a.seconds * 1000 for a in answers if a.kind == "book" and a.status and
                  long.began <= a.began and a.began + a.seconds <= long.began + long.seconds]
        report.bookings_during_long_run = len(during)
        report.booking_p99_during_long_run_ms = round(p(during, 0.99), 1) if during else None
    report.dispatch_runs = dict(Counter(a.status for a in answers if a.kind.startswith("dispatch")))
    report.emergencies_sent = len(emergencies)
    return report


def check_database(report: Report, engine: Any, port: int, supervisor: str, emergencies: list[int]) -> None:
    """The invariants after the storm: no overlap, every emergency stored, the audit chain and rows verified."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        for column in ("vehicle_id", "driver_id"):
            report.overlaps += int(conn.execute(sa.text(
                f"SELECT count(*) FROM assignments a JOIN assignments b ON a.id < b.id AND a.active AND b.active "
                f"AND a.{column} = b.{column} AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at")).scalar_one())
        stored = {row[0] for row in conn.execute(sa.text("SELECT id FROM trips WHERE priority = 'emergency'"))}
    report.emergencies_stored = sum(1 for trip in emergencies if trip in stored)
    client = Client(port)
    try:
        status, body = client.send("GET", "/audit/verify", supervisor)
    finally:
        client.close()
    report.verified = body if status == 200 and isinstance(body, dict) else {"status": status, "body": body}


def run_one(database: Database, args: argparse.Namespace, workdir: Path) -> Report:
    from fleet.db import make_engine
    from fleet.settings import audit_key

    # The server MACs its records with the key the seeding used (this process's), or it would refuse to write.
    env = {"GONGCHE_DATABASE_URL": database.url, "GONGCHE_AUDIT_KEY": audit_key().decode(),
           "GONGCHE_AUDIT_CHECKPOINT_FILE": str(workdir / f"checkpoints-{database.name}.jsonl"),
           "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    engine = make_engine(database.url)
    try:
        with engine.connect() as conn:
            import sqlalchemy as sa

            vehicles = [int(v) for v in conn.execute(sa.text("SELECT id FROM vehicles ORDER BY id")).scalars()]
            drivers = [int(d) for d in conn.execute(sa.text("SELECT id FROM drivers ORDER BY id")).scalars()]
        with serve("api.app:create_app", factory=True, workers=1, env=env, logdir=workdir) as served:
            answers, emergencies = storm(served.port, database.tokens, vehicles, drivers, clients=args.clients,
                                         requests=args.requests, seconds=args.seconds,
                                         run_seconds=args.run_seconds, seed=args.seed)
            report = summarise(database.name, args.clients, answers, emergencies)
            check_database(report, engine, served.port, database.tokens["supervisor"], emergencies)
            tracebacks = served.log.read_text(errors="replace").count("Traceback")
            print(f"{database.name}: {tracebacks} tracebacks in the server log {served.log}")
    finally:
        engine.dispose()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--run-seconds", type=float, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    reports = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        for name in args.databases.split(","):
            database = sqlite_database(workdir) if name == "sqlite" else postgresql_database(args.postgres_url)
            try:
                report = run_one(database, args, workdir)
            finally:
                database.drop()
            reports.append(report)
            print(json.dumps(asdict(report), ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], ensure_ascii=False, indent=1))
    ok = all(r.server_errors == 0 and r.dropped == 0 and r.overlaps == 0 and r.verified.get("ok")
             and r.emergencies_stored == r.emergencies_sent for r in reports)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
