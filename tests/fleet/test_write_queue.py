"""SQLite writers of one process wait in a first-come, first-served line for the write lock, and every way a
transaction ends hands the turn on (issue 12): no `database is locked`, no writer overtaken, no turn left held."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fleet import db
from fleet.db import WriteQueue, make_engine, unit_of_work, write_queue
from fleet.errors import Busy

WRITERS = 10  # within the pool (5 + 10), one connection of which the holder below keeps


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file with one table, made by make_engine as the app's are."""
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE arrivals (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)")
    yield engine
    engine.dispose()


def line_of(engine: Engine) -> WriteQueue:
    queue = write_queue(engine)
    assert queue is not None, "a SQLite engine from make_engine has a write queue"
    return queue


def wait_until(condition: Callable[[], bool], seconds: float = 5.0, *, strict: bool = True) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            assert not strict, "timed out waiting"
            return
        time.sleep(0.002)


def free_within(engine: Engine, seconds: float = 0.5) -> bool:
    """Whether a new writer gets the write lock within ``seconds`` (the turn was handed on)."""
    queue = line_of(engine)
    before, queue.timeout = queue.timeout, seconds
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO arrivals (writer) VALUES (-1)")
        return True
    except Busy:
        return False
    finally:
        queue.timeout = before


def test_concurrent_writers_commit_in_arrival_order(scratch: Engine) -> None:
    """While one transaction holds the lock, ten writers arrive one after another; each is let in the moment the
    one before it commits, in the order they came, and none is refused."""
    queue = line_of(scratch)
    failures: list[str] = []

    def write(number: int) -> None:
        try:
            with scratch.begin() as conn:
                conn.exec_driver_sql(f"INSERT INTO arrivals (writer) VALUES ({number})")
                time.sleep(0.002)  # some work under the lock
        except Exception as exc:  # the assertion below shows it
            failures.append(f"{number}: {type(exc).__name__}: {exc}")

    holder = scratch.connect()
    holder.begin()
    holder.exec_driver_sql("INSERT INTO arrivals (writer) VALUES (0)")
    writers = []
    for number in range(1, WRITERS + 1):
        writers.append(threading.Thread(target=write, args=(number,)))
        writers[-1].start()
        # It is in line before the next one arrives (or, with no line to see, has had time to start waiting).
        wait_until(lambda: queue.waiting >= len(writers), 0.1, strict=False)
    started = time.monotonic()
    holder.commit()
    holder.close()
    for thread in writers:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    assert failures == []
    with scratch.connect() as conn:
        order = conn.exec_driver_sql("SELECT writer FROM arrivals ORDER BY id").scalars().all()
    assert order == list(range(WRITERS + 1))
    assert elapsed < 5, f"ten short writers took {elapsed:.1f} s after the lock came free"
    assert queue.waiting == 0
    assert free_within(scratch)


def test_readers_do_not_queue_behind_a_writer(scratch: Engine) -> None:
    with scratch.connect() as holder:
        holder.begin()
        holder.exec_driver_sql("INSERT INTO arrivals (writer) VALUES (1)")
        started = time.monotonic()
        with unit_of_work(scratch, readonly=True) as session:
            assert session.scalar(sa.text("SELECT count(*) FROM arrivals")) == 0  # WAL: the committed state
        assert time.monotonic() - started < 0.5
        holder.rollback()


def _commit(conn: sa.Connection) -> None:
    conn.commit()


def _rollback(conn: sa.Connection) -> None:
    conn.rollback()


def _close(conn: sa.Connection) -> None:
    conn.close()  # with the transaction still open


def _invalidate(conn: sa.Connection) -> None:
    conn.invalidate()


@pytest.mark.parametrize("end", [_commit, _rollback, _close, _invalidate], ids=lambda f: f.__name__.strip("_"))
def test_every_end_of_a_transaction_hands_the_turn_on(scratch: Engine, end: Callable[[sa.Connection], None]) -> None:
    conn = scratch.connect()
    conn.begin()
    conn.exec_driver_sql("INSERT INTO arrivals (writer) VALUES (1)")
    assert not free_within(scratch, 0.05)  # held
    end(conn)
    assert free_within(scratch)
    conn.close()


def test_an_exception_in_a_unit_of_work_hands_the_turn_on(scratch: Engine) -> None:
    def crash() -> None:
        with unit_of_work(scratch) as session:
            session.execute(sa.text("INSERT INTO arrivals (writer) VALUES (1)"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        crash()
    assert free_within(scratch)


def test_a_failed_begin_leaves_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the lock past busy_timeout: BEGIN IMMEDIATE fails, and the turn is not kept."""
    monkeypatch.setattr(db, "SQLITE_PRAGMAS", (*db.SQLITE_PRAGMAS[:-1], "PRAGMA busy_timeout=50"))
    path = tmp_path / "other.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE arrivals (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sa.exc.OperationalError, match="locked") as refused, engine.begin():
            pass
        assert db.busy_reason(refused.value) is not None  # the API answers it 503
        other.execute("ROLLBACK")
        assert free_within(engine)
    finally:
        other.close()
        engine.dispose()


def test_a_writer_past_the_bound_is_told_busy_and_the_line_stays_sound(scratch: Engine) -> None:
    queue = line_of(scratch)
    queue.timeout = 0.2
    outcome: list[BaseException] = []

    def late() -> None:
        try:
            with scratch.begin() as conn:
                conn.exec_driver_sql("INSERT INTO arrivals (writer) VALUES (2)")
        except Exception as exc:
            outcome.append(exc)

    with scratch.connect() as holder:
        holder.begin()
        holder.exec_driver_sql("INSERT INTO arrivals (writer) VALUES (1)")
        started = time.monotonic()
        thread = threading.Thread(target=late)
        thread.start()
        thread.join(timeout=10)
        assert 0.15 < time.monotonic() - started < 2
        holder.commit()
    assert len(outcome) == 1, outcome
    assert isinstance(outcome[0], Busy), outcome
    assert outcome[0].status == 503
    assert outcome[0].retry_after >= 0
    assert queue.waiting == 0
    assert free_within(scratch)
    with scratch.connect() as conn:
        assert conn.exec_driver_sql("SELECT writer FROM arrivals ORDER BY id").scalars().all() == [1, -1]


def test_a_turn_is_handed_over_and_the_line_ends_free() -> None:
    """Leaving hands the lock to the waiter without freeing it in between; the last to leave frees it."""
    queue = WriteQueue(timeout=0.05)
    queue.enter()
    got: list[str] = []

    def waiter() -> None:
        try:
            queue.enter()
            got.append("turn")
        except Busy:
            got.append("busy")

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: queue.waiting == 1)
    queue.leave()  # hand-over, well before the timeout
    thread.join()
    assert got == ["turn"]
    queue.leave()
    queue.enter()  # free again: taken at once
    queue.leave()
