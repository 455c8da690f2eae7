"""`gongche ingest` and `gongche serve`'s ingest child: a taken port is one sentence and exit 2, a dead child is
restarted (with a back-off); the open-file limit is raised and the connection cap kept below it."""

from __future__ import annotations

import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from fleet.db import make_engine
from fleet.migrate import upgrade
from gongche.cli import _IngestChild
from telematics import ingest
from telematics.throttle import Throttle
from tests.telematics.harness import running_ingest


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    address = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'ingest.db'}"
    engine = make_engine(address)
    upgrade(engine)
    engine.dispose()
    return address


@pytest.mark.parametrize("which", ["jt808", "osmand"])
def test_a_taken_port_is_one_sentence_and_exit_2(url: str, taken: int, which: str) -> None:
    ports = {"jt808": "0", "osmand": "0", which: str(taken)}
    env = {**os.environ, "GONGCHE_DATABASE_URL": url, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "gongche.cli", "ingest", "--host", "127.0.0.1", "--jt808-port", ports["jt808"],
         "--osmand-port", ports["osmand"]], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"127.0.0.1:{taken}" in done.stderr
    assert "in use" in done.stderr


def test_a_dead_ingest_child_is_restarted_with_a_back_off(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_IngestChild, "BACKOFF", 0.05)
    monkeypatch.setattr(_IngestChild, "POLL", 0.02)
    watchdog = _IngestChild([sys.executable, "-c", "import sys; sys.exit(3)"])
    deadline = time.monotonic() + 20
    while watchdog.restarts < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    watchdog.stop()
    assert watchdog.restarts >= 2
    assert watchdog.child.poll() is not None
    assert "exit code 3" in capsys.readouterr().err.replace("\n", " ")
    # A child that keeps running is left alone, and terminated on stop.
    steady = _IngestChild([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(0.3)
    steady.stop()
    assert steady.restarts == 0
    assert steady.child.returncode is not None


def test_the_open_file_limit_is_raised_and_the_cap_kept_below_it() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and hard > 512:
            resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
            assert ingest.raise_fd_limit() == hard
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert ingest.connection_cap(10_000, 1024) == 1024 - ingest.FD_HEADROOM
    assert ingest.connection_cap(100, 1_048_576) == 100
    assert ingest.connection_cap(10_000, 100) == 1
    assert ingest.connection_cap(10_000, 1024, listeners=2) == (1024 - ingest.FD_HEADROOM) // 2


def test_flooding_log_lines_are_throttled_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle = Throttle(1.0, clock=lambda: now[0])
    logger = logging.getLogger("test.throttle")
    with caplog.at_level(logging.INFO, logger="test.throttle"):
        for _ in range(1000):
            throttle.log(logger, logging.WARNING, "refused", "refused: %d open", 7)
        now[0] = 1.5
        throttle.log(logger, logging.WARNING, "refused", "refused: %d open", 7)
        throttle.log(logger, logging.WARNING, "garbage", "garbage")  # another kind: its own line
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["refused: 7 open (1 time(s) since the last such line)",
                     "refused: 7 open (1000 time(s) since the last such line)",
                     "garbage (1 time(s) since the last such line)"]


def test_refused_connections_are_logged_once_a_second(caplog: pytest.LogCaptureFixture, url: str) -> None:
    engine = make_engine(url)
    try:
        with caplog.at_level(logging.INFO, logger="gongche.telematics.jt808"), \
                running_ingest(engine, ingest_max_connections=1) as running:
            port = running.ports["jt808"]
            held = socket.create_connection(("127.0.0.1", port))
            time.sleep(0.1)
            for _ in range(30):
                socket.create_connection(("127.0.0.1", port)).close()
            time.sleep(0.3)
            held.close()
    finally:
        engine.dispose()
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(refused) <= 2
