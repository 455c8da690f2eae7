"""Engines, sessions and the unit of work, one code path for SQLite and PostgreSQL.

SQLite is run the way an embedded system of record must be: WAL, ``synchronous=FULL`` (NORMAL can lose
acknowledged commits on power loss), foreign keys on, and writers serialised with ``BEGIN IMMEDIATE`` so that
a check-then-write (quota headroom, audit chain head) cannot interleave with another writer. pysqlite's own
transaction handling is switched off so that SAVEPOINT works (SQLAlchemy's documented recipe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from fleet.settings import get_settings

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: settings), with the SQLite durability and locking set-up applied."""
    url = url or get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
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


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see below)
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


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
