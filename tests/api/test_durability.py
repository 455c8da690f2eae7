"""Nothing acknowledged is lost: ``kill -9`` of a real server in the middle of a burst of bookings.

A uvicorn subprocess serves the app on a seeded database; client threads book trips, each with its own
Idempotency-Key, and the server is SIGKILLed once about fifty bookings have been answered, with more in flight.
After a restart on the same database every booking that was answered 2xx is there with its data and its one audit
record, the audit chain verifies (against a signed checkpoint taken before the burst), and retries are safe: an
answered key replays its trip, an unanswered key either replays (its commit beat the kill) or books once; no key
ends up with two trips. On SQLite and on PostgreSQL.

On SQLite a dispatch run is solving when the kill lands: its window is free again at once after the restart (its
holder process is gone), and a new run over it assigns without an overlap.

``kill -9`` keeps the operating system's page cache, so this proves that a 2xx is sent only after the commit; that
the commit is on disk (``synchronous=FULL``, ``synchronous_commit=on``) is checked on the app's own engine below.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from api.deps import SessionDep, get_engine
from fleet import audit, bookings
from fleet.db import make_engine, unit_of_work
from fleet.enums import RunStatus
from fleet.migrate import upgrade
from fleet.models import AuditRecord, DispatchRun, Trip
from fleet.schemas import TripIn
from fleet.settings import get_settings
from tests.api.conftest import City, seed_city, trip_body
from tests.conftest import POSTGRES_URL, TEST_AUDIT_KEY, postgres_schema
from tests.factories import ADMIN

REPO = Path(__file__).resolve().parents[2]
AUDIT_KEY = TEST_AUDIT_KEY  # the key the seeded city's audit records were MAC'd with
CLIENTS = 8
KILL_AFTER = 50  # acknowledged bookings before the SIGKILL


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """``uvicorn api.app:create_app --factory`` in a subprocess, as ``gongche serve`` runs it."""

    database_url: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "GONGCHE_DATABASE_URL": self.database_url, "GONGCHE_AUDIT_KEY": AUDIT_KEY,
                "GONGCHE_AUDIT_CHECKPOINT_FILE": str(self.workdir / "checkpoints.jsonl")}

    def start(self) -> None:
        self.starts += 1
        log = (self.workdir / f"server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log()}")
                try:
                    if client.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        pytest.fail(f"the server did not answer /healthz within 30 s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no connection-pool cleanup, no WAL checkpoint."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def log(self) -> str:
        path = self.workdir / f"server-{self.starts}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.kill()


@dataclass
class Burst:
    preseeded: list[int] = field(default_factory=list)  # approved trips for the dispatch run, booked before
    acked: dict[str, int] = field(default_factory=dict)  # key -> trip id, answered 2xx
    unanswered: set[str] = field(default_factory=set)  # the connection broke before an answer
    refused: list[str] = field(default_factory=list)  # answered, but not 2xx (should not happen)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    committed_unanswered: int = 0  # unanswered, yet committed before the kill: what the retry must replay


def headers(city: City, user: str, key: str | None = None) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {city.tokens[user]}"}
    if key is not None:
        sent["Idempotency-Key"] = key
    return sent


RUN_WINDOW = {"start": "2030-03-12T00:00:00+08:00", "end": "2030-03-13T00:00:00+08:00"}


def preseed_approved(engine: Engine, count: int) -> list[int]:
    """Approved trips on the conftest city's day, for a dispatch run to solve over."""
    with unit_of_work(engine) as session:
        return [bookings.book(session, ADMIN, agency="WH-GA", approved=True, data=TripIn.parse(trip_body(
            purpose=f"待调度 {n}", earliest_pickup=f"2030-03-12T{8 + n % 9:02d}:00:00+08:00",
            latest_pickup=f"2030-03-12T{8 + n % 9:02d}:40:00+08:00")))[0].id for n in range(count)]


def run_in_flight(server: Server, engine: Engine, city: City) -> threading.Thread:
    """POST /dispatch with a long limit, returning once its run is solving (claimed, holding its window)."""
    def post() -> None:
        with contextlib.suppress(httpx.TransportError), httpx.Client(base_url=server.base_url, timeout=90) as http:
            http.post("/api/v1/dispatch", json={**RUN_WINDOW, "time_limit": 60}, headers=headers(city, "dispatcher"))

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.scalar(sa.select(sa.func.count()).select_from(DispatchRun)
                           .where(DispatchRun.status == RunStatus.running)):
                return thread
        time.sleep(0.05)
    pytest.fail(f"the dispatch run never started:\n{server.log()}")


def burst_then_kill(server: Server, city: City) -> Burst:
    """Book from CLIENTS threads; the thread that receives the KILL_AFTER-th acknowledgement SIGKILLs the server
    at once, so that the kill lands while the server is still finishing the requests just answered."""
    burst, lock, stop = Burst(), threading.Lock(), threading.Event()
    assert server.process is not None
    pid = server.process.pid

    def client(number: int) -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            sent = 0
            while not stop.is_set():
                sent += 1
                key = f"dur-{number}-{sent}-{uuid.uuid4().hex[:12]}"
                body = trip_body(purpose=f"耐久测试 durability {key}", passengers=1 + sent % 4)
                with lock:
                    burst.bodies[key] = body
                try:
                    answer = http.post("/api/v1/trips", json=body, headers=headers(city, "requester-a", key))
                except httpx.TransportError:
                    with lock:
                        burst.unanswered.add(key)
                    continue
                with lock:
                    if answer.status_code == 201:
                        burst.acked[key] = answer.json()["id"]
                        if len(burst.acked) == KILL_AFTER:
                            stop.set()  # no new requests: what fails from here on was in flight at the kill
                            os.kill(pid, signal.SIGKILL)
                    else:
                        burst.refused.append(f"{answer.status_code} {answer.text[:200]}")
                        stop.set()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        stop.wait(timeout=20)
        server.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not burst.refused, f"bookings refused before the kill: {burst.refused[:5]}\n{server.log()}"
    assert len(burst.acked) >= KILL_AFTER, f"only {len(burst.acked)} bookings acknowledged in 20 s"
    assert burst.unanswered, "the kill found no booking in flight"
    return burst


def stored_keys(engine: Engine, keys: set[str]) -> dict[str, list[int]]:
    """key -> ids of the trips stored under it (several would be a double booking)."""
    found: dict[str, list[int]] = {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Trip.idempotency_key, Trip.id).where(Trip.idempotency_key.in_(keys)))
        for key, trip_id in rows:
            found.setdefault(key, []).append(trip_id)
    return found


def check_after_restart(server: Server, engine: Engine, city: City, burst: Burst) -> None:
    all_keys = set(burst.bodies)
    stored = stored_keys(engine, all_keys)
    lost = {k: v for k, v in burst.acked.items() if stored.get(k) != [v]}
    assert not lost, f"{len(lost)} acknowledged bookings missing or changed after kill -9: {list(lost.items())[:5]}"
    with engine.connect() as conn:  # and no trip came from anywhere else
        assert conn.scalar(sa.select(sa.func.count()).select_from(Trip)) == \
            sum(map(len, stored.values())) + len(burst.preseeded)
    burst.committed_unanswered = len(set(stored) & burst.unanswered)

    with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=30) as http:
        # Every acknowledged booking, through the API, with the data it was booked with.
        for key, trip_id in burst.acked.items():
            answer = http.get(f"/trips/{trip_id}", headers=headers(city, "requester-a"))
            assert answer.status_code == 200, answer.text
            trip, body = answer.json(), burst.bodies[key]
            assert (trip["purpose"], trip["passengers"], trip["agency"], trip["status"], trip["requested_by"]) == (
                body["purpose"], body["passengers"], "WH-GA", "requested", "requester-a")
            assert trip["pickup"]["address"] == body["pickup"]["address"]
            assert datetime.fromisoformat(trip["earliest_pickup"]) == datetime.fromisoformat(body["earliest_pickup"])

        # Each trip in the database has exactly one booking record in the chain, and the chain verifies.
        with engine.connect() as conn:
            trip_ids = set(conn.scalars(sa.select(Trip.id)))
            booked = list(conn.scalars(sa.select(AuditRecord.entity_id).where(AuditRecord.action == "trip.booked")))
        assert sorted(booked) == sorted(str(t) for t in trip_ids)
        verified = http.get("/audit/verify", headers=headers(city, "supervisor")).json()
        assert verified["ok"], verified
        assert verified["checkpoint"] is not None  # the pre-burst checkpoint was checked too

        # Retries: an acknowledged key replays its trip; an unanswered one replays its commit or books once.
        retried = sorted(burst.acked)[:10] + sorted(burst.unanswered)
        for key in retried:
            earlier = stored.get(key, [None])[0]
            for attempt in (1, 2):
                answer = http.post("/trips", json=burst.bodies[key], headers=headers(city, "requester-a", key))
                if earlier is None:
                    assert answer.status_code == 201, answer.text
                    assert "Idempotent-Replayed" not in answer.headers
                    earlier = answer.json()["id"]
                else:
                    assert answer.status_code == 200, (key, attempt, answer.text)
                    assert answer.headers["Idempotent-Replayed"] == "true"
                    assert answer.json()["id"] == earlier
        after = stored_keys(engine, all_keys)
        assert all(len(ids) == 1 for ids in after.values()), {k: v for k, v in after.items() if len(v) > 1}
        assert set(burst.unanswered) <= set(after)
        verified = http.get("/audit/verify", headers=headers(city, "supervisor")).json()
        assert verified["ok"], verified

    with engine.connect() as conn:
        doubles = conn.execute(sa.select(Trip.idempotency_key).where(Trip.idempotency_key.is_not(None))
                               .group_by(Trip.requested_by_id, Trip.idempotency_key).having(sa.func.count() > 1)).all()
    assert doubles == []
    with unit_of_work(engine, readonly=True) as session:
        assert audit.verify(session).ok


def checkpoint(engine: Engine, workdir: Path) -> None:
    with unit_of_work(engine, readonly=True) as session:
        audit.write_checkpoint(session, workdir / "checkpoints.jsonl", AUDIT_KEY.encode())


def check_the_run_after_restart(server: Server, engine: Engine, city: City, burst: Burst) -> None:
    """The run the kill interrupted holds nothing; a new run over its window is answered and overlaps nothing."""
    with engine.connect() as conn:
        interrupted = conn.execute(sa.select(DispatchRun.id, DispatchRun.status)).all()
    assert [status for _, status in interrupted] == [RunStatus.running]  # claimed, never finished
    with httpx.Client(base_url=f"{server.base_url}/api/v1", timeout=60) as http:
        again = http.post("/dispatch", json={**RUN_WINDOW, "time_limit": 2}, headers=headers(city, "dispatcher"))
        assert again.status_code == 200, again.text
        assert again.json()["served"]["routine"] + again.json()["served"]["law_enforcement"] > 0
        verified = http.get("/audit/verify", headers=headers(city, "supervisor")).json()
        assert verified["ok"], verified
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(DispatchRun.id, DispatchRun.status)).all())
        overlaps = conn.execute(sa.text(
            "SELECT count(*) FROM assignments a JOIN assignments b ON a.id < b.id AND a.active AND b.active "
            "AND a.vehicle_id = b.vehicle_id AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at")).scalar()
    assert statuses[interrupted[0][0]] is RunStatus.failed
    assert overlaps == 0


def crash_and_recover(server: Server, engine: Engine, city: City, *, with_run: bool = False) -> Burst:
    preseeded = preseed_approved(engine, 24) if with_run else []
    checkpoint(engine, server.workdir)
    with running(server):
        solving = run_in_flight(server, engine, city) if with_run else None
        burst = burst_then_kill(server, city)
    burst.preseeded = preseeded
    assert server.process is not None
    assert server.process.returncode == -signal.SIGKILL
    if solving is not None:
        solving.join(timeout=30)
    with running(server):
        check_after_restart(server, engine, city, burst)
        if with_run:
            check_the_run_after_restart(server, engine, city, burst)
    return burst


def test_sqlite_kill_9_loses_no_acknowledged_booking(tmp_path: Path) -> None:
    path = tmp_path / "gongche.db"
    seeding = make_engine(f"sqlite:///{path}")
    upgrade(seeding)
    city = seed_city(seeding)
    seeding.dispose()
    engine = make_engine(f"sqlite:///{path}")
    try:
        burst = crash_and_recover(Server(f"sqlite:///{path}", tmp_path), engine, city, with_run=True)
    finally:
        engine.dispose()
    print(f"sqlite: {len(burst.acked)} acknowledged, {len(burst.unanswered)} in flight at the kill, "
          f"{burst.committed_unanswered} of which had committed")


def schema_url(engine: Engine) -> str:
    """POSTGRES_URL confined to ``engine``'s schema through the URL alone, as GONGCHE_DATABASE_URL can carry it."""
    with engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


@pytest.mark.postgres
def test_postgresql_kill_9_loses_no_acknowledged_booking(postgresql_engine: Engine, tmp_path: Path) -> None:
    with postgres_schema("gongche_dur") as engine:
        city = seed_city(engine)
        burst = crash_and_recover(Server(schema_url(engine), tmp_path), engine, city)
    print(f"postgresql: {len(burst.acked)} acknowledged, {len(burst.unanswered)} in flight at the kill, "
          f"{burst.committed_unanswered} of which had committed")


@pytest.mark.postgres
def test_a_search_path_in_the_url_reaches_the_server(postgresql_engine: Engine) -> None:
    """The server above finds its schema through the URL's options only if make_engine keeps them beside its
    own ``-c synchronous_commit=on``."""
    url = schema_url(postgresql_engine)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
            assert f"-csearch_path%3D{conn.exec_driver_sql('SHOW search_path').scalar()}" in url
            assert conn.exec_driver_sql("SELECT to_regclass('trips') IS NOT NULL").scalar()
    finally:
        engine.dispose()


def _probe(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Build the app as the server's factory does (no engine given: GONGCHE_DATABASE_URL) and read the
    durability settings on a connection from ``get_engine``'s engine and on the request session's own."""
    monkeypatch.setenv("GONGCHE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        app = create_app()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    sqlite = database_url.startswith("sqlite")
    queries = ("PRAGMA journal_mode", "PRAGMA synchronous") if sqlite else ("SHOW synchronous_commit",)

    @app.get("/_durability")
    def durability(engine: Annotated[Engine, Depends(get_engine)], session: SessionDep) -> dict[str, Any]:
        with engine.connect() as conn:  # closed before the session takes its own (BEGIN IMMEDIATE) connection
            from_engine = [conn.exec_driver_sql(q).scalar() for q in queries]
        from_session = [session.connection().exec_driver_sql(q).scalar() for q in queries]
        return {"engine": from_engine, "session": from_session, "url": str(engine.url)}

    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the console's catch-all, which comes last
    try:
        with TestClient(app) as client:
            answer = client.get("/_durability")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())
    finally:
        app.state.engine.dispose()


def test_the_served_apps_sqlite_engine_is_wal_with_full_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    probed = _probe(url, monkeypatch)
    assert probed["url"] == url
    assert probed["engine"] == ["wal", 2]  # 2: FULL
    assert probed["session"] == ["wal", 2]


@pytest.mark.postgres
def test_the_served_apps_postgresql_engine_commits_synchronously(
    postgresql_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed = _probe(POSTGRES_URL, monkeypatch)
    assert probed["engine"] == ["on"]
    assert probed["session"] == ["on"]


def test_the_session_dependency_is_scoped_to_the_endpoint() -> None:
    """The commit runs before the response is sent only while the session dependency is function-scoped."""
    dependency = SessionDep.__metadata__[0]
    assert dependency.scope == "function"
