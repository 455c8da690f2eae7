"""kill -9 during ingest: every fix the platform acknowledged is in the database after a restart, and a fix sent
again is stored once. The ingest runs as its own process (``gongche ingest``) on a SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fleet import audit, clock
from fleet.db import make_engine, unit_of_work
from fleet.migrate import upgrade
from fleet.models import Position
from telematics.jt808.codec import STATUS_POSITIONED, GeneralAck, Location, MessageId
from tests.telematics.fleet_of import committed_fleet
from tests.telematics.harness import Terminal, close_terminals

PHONES = ["13800000001", "13800000002", "13800000003", "13800000004"]
BASE = clock.now().replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    yield
    close_terminals()


def start_ingest(url: str) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "GONGCHE_DATABASE_URL": url, "GONGCHE_TELEMATICS_BATCH_MAX": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gongche.cli", "ingest", "--host", "127.0.0.1", "--jt808-port", "0",
         "--osmand-port", "-1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # "ingest ready: jt808=PORT"
    process.stdout.close()
    assert line.startswith("ingest ready"), line
    return process, int(line.split("jt808=")[1].split()[0])


def fix(n: int) -> Location:
    return Location(alarm=0, status=STATUS_POSITIONED, lat=30 + n * 1e-5, lon=114.0, altitude_m=0, speed_kmh=40.0,
                    course=0, fixed_at=BASE + timedelta(seconds=n), extras={})


class Reporter:
    """One terminal sending fixes as fast as 32 unanswered ones allow, noting which the platform acknowledged."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.sent: dict[int, int] = {}  # serial -> fix number
        self.acked: set[int] = set()  # fix numbers
        self.window = threading.Semaphore(32)
        self.stop = threading.Event()

    def send(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                if not self.window.acquire(timeout=0.5):
                    continue
                serial, frame = self.terminal.frame(fix(n))
                self.sent[serial] = n
                self.terminal.send_raw(frame)
                n += 1
        except OSError:
            pass

    def read(self) -> None:
        try:
            while True:
                _, answer = self.terminal.receive()
                if isinstance(answer, GeneralAck) and answer.msg_id == MessageId.LOCATION:
                    assert answer.result == 0
                    self.acked.add(self.sent[answer.serial])
                    self.window.release()
        except (OSError, ConnectionError):
            pass


def stored(engine: Engine, vehicle_id: int) -> set[int]:
    with engine.connect() as conn:
        times = conn.execute(sa.select(Position.fixed_at).where(Position.vehicle_id == vehicle_id)).scalars()
        return {int((t.replace(tzinfo=UTC) - BASE).total_seconds()) for t in times}


def test_every_acknowledged_fix_survives_kill_9(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ids = committed_fleet(engine, PHONES)
    process, port = start_ingest(url)
    codes: dict[str, str] = {}
    reporters = []
    try:
        for phone in PHONES:
            terminal = Terminal(port, phone)
            reply = terminal.register()
            assert reply.auth_code
            codes[phone] = reply.auth_code
            assert terminal.authenticate(reply.auth_code).result == 0
            reporters.append(Reporter(terminal))
        threads = [threading.Thread(target=fn, daemon=True) for r in reporters for fn in (r.send, r.read)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while sum(len(r.acked) for r in reporters) < 400 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-stream: frames in flight, a batch perhaps half written
        process.wait(10)
        for r in reporters:
            r.stop.set()
        for thread in threads:
            thread.join(5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    acked_total = sum(len(r.acked) for r in reporters)
    assert acked_total >= 400
    assert any(len(r.sent) > len(r.acked) for r in reporters)  # it really died with fixes unanswered

    process, port = start_ingest(url)  # restart on the same file: the auth codes survive, nothing acked is lost
    try:
        for phone, vehicle_id, reporter in zip(PHONES, ids, reporters, strict=True):
            assert reporter.acked <= stored(engine, vehicle_id), phone
        # The first terminal sends everything again (what a terminal with a resend queue does): stored once.
        first = reporters[0]
        terminal = Terminal(port, PHONES[0])
        assert terminal.authenticate(codes[PHONES[0]]).result == 0
        sent = sorted(first.sent.values())
        for n in sent:
            terminal.send(fix(n))
        for _ in sent:
            assert terminal.ack()[1].result == 0
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(Position).where(
                Position.vehicle_id == ids[0])).scalar_one()
        assert count == len(set(sent))
        with unit_of_work(engine, readonly=True) as session:  # the registrations' records chained whole
            assert audit.verify(session).ok
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        engine.dispose()
