"""Engines, sessions and the unit of work, one code path for SQLite and PostgreSQL.

SQLite is run the way an embedded system of record must be: WAL, ``synchronous=FULL`` (NORMAL can lose
acknowledged commits on power loss), foreign keys on, and writers serialised with ``BEGIN IMMEDIATE`` so that
a check-then-write (quota headroom, audit chain head) cannot interleave with another writer. pysqlite's own
transaction handling is switched off so that SAVEPOINT works (SQLAlchemy's documented recipe).

Writers of one process do not poll for SQLite's write lock: each takes its place in the engine's ``WriteQueue``
before ``BEGIN IMMEDIATE`` and leaves it when its connection commits, rolls back or closes, so the lock passes
from one writer to the next in arrival order with no one asleep in between. ``busy_timeout`` stays as the fallback
between processes (``gongche serve`` workers, ``gongche ingest``). A writer that waits longer than
``db_wait_seconds`` is refused with ``Busy`` (503 with Retry-After in the API).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from fleet.errors import Busy
from fleet.i18n import msg
from fleet.settings import get_settings

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: settings), with the SQLite durability and locking set-up applied."""
    settings = get_settings()
    url = url or settings.database_url
    parsed = make_url(url)
    on_file = parsed.get_backend_name() == "postgresql" or parsed.database not in (None, "", ":memory:")
    if on_file and "poolclass" not in kwargs:
        # A request that cannot get a connection is told so (503) in the same time it would wait anywhere else.
        kwargs.setdefault("pool_size", settings.db_pool_size)
        kwargs.setdefault("max_overflow", settings.db_max_overflow)
        kwargs.setdefault("pool_timeout", settings.db_wait_seconds)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Connections that leave the write queue whenever their transaction ends, however it ends.
        connect_args = {**kwargs.pop("connect_args", {}), "factory": _QueuedConnection}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, WriteQueue(settings.db_wait_seconds, settings.db_retry_after_seconds))
        return engine
    if parsed.get_backend_name() == "postgresql":
        # synchronous_commit=on: a commit is acknowledged only once it is on disk.
        # Options given in the URL (``?options=-csearch_path%3Dx``) are kept: connect_args would replace them.
        connect_args = kwargs.pop("connect_args", {})
        in_url = parsed.query.get("options", "")
        in_url = " ".join(in_url) if isinstance(in_url, tuple) else in_url
        options = " ".join(part for part in (in_url, connect_args.get("options", "")) if part)
        connect_args["options"] = f"{options} -c synchronous_commit=on".strip()
        return create_engine(url, connect_args=connect_args, pool_pre_ping=True, **kwargs)
    return create_engine(url, **kwargs)


class WriteQueue:
    """A first-come, first-served line for one engine's write lock, within the process.

    Ownership belongs to a connection, not a thread: it is handed to the next in line by whichever thread ends the
    holder's transaction. The queue only orders writers of this process; SQLite's lock stays the authority, so a
    release that comes early or late can cost a wait, never correctness.
    """

    def __init__(self, timeout: float, retry_after: int = 1) -> None:
        self.timeout = timeout
        self.retry_after = retry_after
        self._mutex = threading.Lock()
        self._line: deque[threading.Lock] = deque()
        self._held = False

    @property
    def waiting(self) -> int:
        """How many writers are in line behind the holder."""
        return len(self._line)

    def enter(self) -> None:
        """Wait for this writer's turn; ``Busy`` if it does not come within ``timeout`` seconds."""
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._line.append(turn)
            ahead = len(self._line)
        started = time.monotonic()
        if turn.acquire(timeout=self.timeout):
            return
        with self._mutex:
            try:
                self._line.remove(turn)
            except ValueError:  # handed over between the timeout and here: the turn is ours after all
                return
        raise Busy(msg("the database is busy: this write waited {seconds:.1f} s in line behind {ahead} other(s) "
                       "without its turn; send it again", seconds=time.monotonic() - started, ahead=ahead),
                   retry_after=self.retry_after)

    def leave(self) -> None:
        """Hand the lock to the next writer in line (it stays held), or free it."""
        with self._mutex:
            if self._line:
                self._line.popleft().release()
            else:
                self._held = False


class _QueuedConnection(sqlite3.Connection):
    """A pysqlite connection that leaves its engine's write queue once its transaction ends: on commit, rollback
    (which SQLAlchemy also issues when a connection goes back to the pool) and close (invalidation)."""

    write_queue: WriteQueue | None = None
    in_line = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_line()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_line()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_line()

    def enter_line(self) -> None:
        if self.write_queue is not None and not self.in_line:
            self.write_queue.enter()
            self.in_line = True

    def leave_line(self) -> None:
        if self.in_line:
            self.in_line = False
            assert self.write_queue is not None
            self.write_queue.leave()


_WRITE_QUEUES: WeakKeyDictionary[Engine, WriteQueue] = WeakKeyDictionary()


def write_queue(engine: Engine) -> WriteQueue | None:
    """The write queue of a SQLite engine made by ``make_engine`` (None for other engines)."""
    return _WRITE_QUEUES.get(engine)


def _configure_sqlite(engine: Engine, queue: WriteQueue) -> None:
    _WRITE_QUEUES[engine] = queue

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see below)
        if isinstance(dbapi_connection, _QueuedConnection):
            dbapi_connection.write_queue = queue
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN DEFERRED")  # WAL readers never wait for the write lock: no queue
            return
        raw = conn.connection.dbapi_connection
        queued = isinstance(raw, _QueuedConnection)
        if queued:
            raw.enter_line()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if queued:
                raw.leave_line()
            raise


# SQLSTATEs PostgreSQL answers when load, not the request, is at fault: the same request may succeed if sent again.
_TRANSIENT_SQLSTATES = {
    "40001": msg("a serialization failure"),
    "40P01": msg("a deadlock"),
    "55P03": msg("a lock that could not be taken"),
    "57014": msg("a statement timeout"),
    "53300": msg("too many connections"),
    "57P03": msg("a server not yet accepting connections"),
}
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def busy_reason(exc: BaseException) -> str | None:
    """Why the database turned ``exc``'s work away under load (so that a retry may succeed), or None."""
    if isinstance(exc, sa_exc.TimeoutError):
        return msg("no pooled connection came free in time")
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and sqlstate in _TRANSIENT_SQLSTATES:
        return _TRANSIENT_SQLSTATES[sqlstate]
    code = getattr(orig, "sqlite_errorcode", None)  # extended codes keep the primary code in the low byte
    if isinstance(orig, sqlite3.OperationalError) and isinstance(code, int) and code & 0xFF in (
            _SQLITE_BUSY, _SQLITE_LOCKED):
        return msg("the write lock, held by another process")
    return None


@event.listens_for(Session, "do_orm_execute")
def _locked_reads_are_fresh(state: ORMExecuteState) -> None:
    """A row read FOR UPDATE is read as committed now, even if the session holds it from an earlier read.

    Services check a row's state under its lock (a trip's status, a vehicle's), and callers often read the row
    first (a route's "may the caller see it?", `bookings.approve`'s first look). Without this the ORM hands back
    the object as it first read it, the lock taken but the values stale: on PostgreSQL a trip rejected meanwhile
    was then approved too (a vehicle sealed meanwhile could be assigned). SQLite's single writer reads nothing
    stale."""
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)


def make_sessionmaker(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    bind = engine.execution_options(readonly=True) if readonly else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back whole if it raises."""
    with make_sessionmaker(engine, readonly=readonly)() as session, session.begin():
        yield session


P = ParamSpec("P")
R = TypeVar("R")


def atomic(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    """Make a service call all-or-nothing inside the caller's transaction (a SAVEPOINT): a refused operation
    leaves neither its change nor its audit record, even when the caller goes on using the session."""

    @wraps(fn)
    def wrapper(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with session.begin_nested():
            return fn(session, *args, **kwargs)

    return wrapper
