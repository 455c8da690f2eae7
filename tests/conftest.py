"""Shared fixtures: a migrated database per backend, one rolled-back transaction per test.

SQLite always runs. PostgreSQL runs when ``GONGCHE_TEST_POSTGRES_URL`` (default: the local server's ``test``
database) answers; otherwise its tests are skipped with the reason — unless ``GONGCHE_REQUIRE_POSTGRES=1``
(set by CI), where an unreachable server fails the run instead of hiding it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import clock
from fleet.db import make_engine
from fleet.migrate import upgrade

POSTGRES_URL = os.environ.get("GONGCHE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Every commit MACs its audit records with the audit key, fixtures' commits included, so the whole session (and the
# servers and commands it starts) shares one key; automatic checkpoints are off unless a test turns them on, so that
# no commit appends to a checkpoint file that another database is checked against (or to var/ of the checkout).
TEST_AUDIT_KEY = "test-audit-key"
os.environ["GONGCHE_AUDIT_KEY"] = TEST_AUDIT_KEY
os.environ["GONGCHE_AUDIT_CHECKPOINT_EVERY_RECORDS"] = "0"
os.environ["GONGCHE_AUDIT_CHECKPOINT_EVERY_MINUTES"] = "0"
# The live days' keeper (`api.keeper`) reads the database from a thread of its own: off unless a test turns it on,
# so that no test's database (an in-memory one shares a single connection) is read behind its back.
os.environ["GONGCHE_LIVE_DAY_KEEP_SECONDS"] = "0"


# Tests read "today" at different moments: a module's TODAY at import, a session's city seeded live from the day it
# was seeded, a test's own clock.today(). A run that crosses China's midnight (16:00 UTC) would mix two days, so a
# run that starts late in China's day runs on the platform's clock moved back to 21:00 of that day, ticking: two hours
# and more before midnight. GONGCHE_TEST_START (an aware ISO instant) starts the run's clock there instead, to replay a
# date-dependent failure (1 January, say); it moves only this process's clock, not a browser's or a command's.
LATE_IN_THE_DAY, MOVED_TO = time(22), time(21)


def run_start(start: str | None, now: datetime) -> datetime | None:
    """Where the run's platform clock starts: None to leave it on the wall clock."""
    moment = datetime.fromisoformat(start) if start else now
    if moment.tzinfo is None:
        raise pytest.UsageError(f"GONGCHE_TEST_START={start!r}: give the instant's UTC offset, e.g. +08:00")
    local = moment.astimezone(clock.CHINA)
    if local.time() >= LATE_IN_THE_DAY:
        return clock.local_moment(local.date(), MOVED_TO)
    return moment if start else None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow (benchmarks)")


def pytest_configure(config: pytest.Config) -> None:
    # Before collection: test modules read clock.today() when they are imported.
    start = run_start(os.environ.get("GONGCHE_TEST_START"), clock.now())
    if start is not None:
        moved: AbstractContextManager[None] = clock.travel(start)
        moved.__enter__()
        config.add_cleanup(lambda: moved.__exit__(None, None, None))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow benchmark: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("GONGCHE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here but unavailable: {reason}")
    pytest.skip(f"PostgreSQL not available at {POSTGRES_URL}: {reason}")


@contextmanager
def postgres_schema(prefix: str, **engine_kwargs: Any) -> Iterator[Engine]:
    """An engine confined to a new schema of the test database, migrated to head; the schema is dropped after."""
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any failure to reach the server means "not here"
        _postgres_unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}, **engine_kwargs)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgresql_engine() -> Iterator[Engine]:
    """The session's PostgreSQL schema, shared by the rolled-back tests."""
    with postgres_schema("gongche_test") as engine:
        yield engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each database-backed test runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside one transaction that is rolled back after the test (services' own savepoints nest)."""
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            yield s
        outer.rollback()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own, migrated and empty, for tests that commit (concurrency, durability)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("postgresql_engine")  # skips or fails the same way when the server is missing
    with postgres_schema("gongche_fresh", pool_size=10) as engine:
        yield engine
