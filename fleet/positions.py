"""Positions: the one writer of fixes (``store``), whatever protocol brought them.

A fix is acknowledged to its terminal only after ``store`` committed it (the ingest's group commit calls it once
per batch), so a crash loses nothing a terminal was told is kept; a resent fix (same vehicle, same device time)
is stored once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from fleet import clock
from fleet.clock import CHINA
from fleet.enums import PositionSource
from fleet.i18n import msg
from fleet.models import RawFrame
from fleet.settings import get_settings

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True, slots=True)
class Fix:
    """One position of a vehicle, as every source delivers it and the tracks read it."""

    vehicle_id: int
    fixed_at: datetime  # the device's time, timezone-aware
    lat: float
    lon: float
    speed_kmh: float = 0.0
    course: int | None = None
    altitude_m: int | None = None
    accuracy_m: float | None = None
    acc: bool | None = None  # ignition on; None when the source does not say
    alarm: int = 0
    status: int | None = None
    mileage_km: float | None = None
    source: PositionSource = PositionSource.jt808
    backfill: bool = False
    extras: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Raw:
    """A frame as it arrived, kept beside the fixes it carried for ``telematics_raw_retention_days``."""

    received_at: datetime
    source: PositionSource
    device: str  # the terminal phone number or OsmAnd device id, as sent
    payload: bytes


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # a terminal without a time yet sends zeros or its epoch


def refusal(fixed_at: datetime, now: datetime, skew_minutes: float | None = None) -> str | None:
    """Why a fix with this device time is not stored, or None: later than ``clock_skew_minutes`` after now (a clock
    gone wrong), or before 2000 (no time yet)."""
    if fixed_at.tzinfo is None:
        return msg("a fix's time must carry its time zone")
    skew = get_settings().clock_skew_minutes if skew_minutes is None else skew_minutes
    if fixed_at > now + timedelta(minutes=skew):
        return msg("the fix's time {at} is ahead of the platform's clock", at=fixed_at.isoformat())
    if fixed_at < EARLIEST:
        return msg("the fix's time {at} is before 2000: the terminal has no time yet", at=fixed_at.isoformat())
    return None


def split_refused(fixes: Iterable[Fix], now: datetime | None = None) -> tuple[list[Fix], list[Fix]]:
    """(the fixes ``store`` keeps, those it refuses for their time: see ``refusal``)."""
    now = now or clock.now()
    skew = get_settings().clock_skew_minutes
    kept: list[Fix] = []
    refused: list[Fix] = []
    for fix in fixes:
        (refused if refusal(fix.fixed_at, now, skew) else kept).append(fix)
    return kept, refused


# --- Partitions (PostgreSQL) -------------------------------------------------------------------------------------

# Months whose partition this process knows to exist, per database and schema.
_known_partitions: dict[tuple[str, str], set[tuple[int, int]]] = {}
_partitions_lock = threading.Lock()


def month_of(moment: datetime) -> tuple[int, int]:
    """The China-time (year, month) a fix's partition is named for: a month as the reports count it."""
    local = moment.astimezone(CHINA)
    return local.year, local.month


def partition_name(year: int, month: int) -> str:
    return f"positions_{year:04d}_{month:02d}"


def _partition_ddl(year: int, month: int) -> str:
    following = (year + month // 12, month % 12 + 1)
    start = f"{year:04d}-{month:02d}-01 00:00:00+08"
    end = f"{following[0]:04d}-{following[1]:02d}-01 00:00:00+08"
    return (f"CREATE TABLE IF NOT EXISTS {partition_name(year, month)} PARTITION OF positions "
            f"FOR VALUES FROM ('{start}') TO ('{end}')")


def ensure_partitions(session: Session, months: Iterable[tuple[int, int]]) -> None:
    """Create the month partitions of positions that ``months`` need (PostgreSQL; nothing to do elsewhere).

    Two processes creating one partition at once: the second waits for the first's lock and may then fail on the
    catalogue's unique index; it retries in its SAVEPOINT and finds the partition there.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    schema = connection.exec_driver_sql("SELECT current_schema()").scalar() or ""
    key = (connection.engine.url.render_as_string(hide_password=True), schema)
    with _partitions_lock:
        missing = sorted(set(months) - _known_partitions.get(key, set()))
    for year, month in missing:
        for attempt in range(3):
            try:
                with session.begin_nested():
                    session.execute(sa.text(_partition_ddl(year, month)))
                break
            except (sa_exc.IntegrityError, sa_exc.ProgrammingError):
                if attempt == 2:
                    raise
        # Known once committed: a transaction rolled back takes its partitions with it.
        session.info.setdefault(_PENDING_PARTITIONS, set()).add((key, (year, month)))


_PENDING_PARTITIONS = "gongche.positions.partitions"
_COMMITTING_PARTITIONS = "gongche.positions.partitions.committing"


@event.listens_for(Session, "before_commit")
def _partitions_committing(session: Session) -> None:
    if not session.in_nested_transaction():  # after_commit also follows a SAVEPOINT's release
        session.info[_COMMITTING_PARTITIONS] = session.info.pop(_PENDING_PARTITIONS, None)


@event.listens_for(Session, "after_commit")
def _partitions_committed(session: Session) -> None:
    pending = session.info.pop(_COMMITTING_PARTITIONS, None)
    if pending:
        with _partitions_lock:
            for key, month in pending:
                _known_partitions.setdefault(key, set()).add(month)


@event.listens_for(Session, "after_rollback")
def _partitions_rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING_PARTITIONS, None)
        session.info.pop(_COMMITTING_PARTITIONS, None)


def forget_partitions() -> None:
    """Forget which partitions exist (after partitions were dropped: they are checked again)."""
    with _partitions_lock:
        _known_partitions.clear()


# --- The writer --------------------------------------------------------------------------------------------------

_POSITION_COLUMNS = ("vehicle_id", "fixed_at", "received_at", "lat", "lon", "speed_kmh", "course", "altitude_m",
                     "accuracy_m", "acc", "alarm", "status", "mileage_km", "source", "backfill", "extras")
_LATEST_COLUMNS = ("vehicle_id", "fixed_at", "received_at", "lat", "lon", "speed_kmh", "course", "acc", "alarm",
                   "source")


def store(session: Session, fixes: Iterable[Fix], raw: Iterable[Raw] = (),
          received_at: datetime | None = None) -> int:
    """Write a batch in the caller's transaction: the fixes (a fix already stored — same vehicle, same device
    time — is left as it is), each vehicle's latest fix (only if newer by device time), the raw frames. Fixes that
    ``refusal`` turns away are skipped (the listeners check first and answer FAILURE). How many fixes were new."""
    now = clock.now()
    kept, _ = split_refused(fixes, now)
    received = received_at or now
    # One row per (vehicle, time) in a batch, in key order: two writers then take row locks in the same order. The
    # first of a batch's fixes at one time stays, as the first of two batches' does: how the listeners' group commit
    # happened to batch the fixes must not decide which one is kept.
    unique: dict[tuple[int, datetime], Fix] = {}
    for fix in kept:
        unique.setdefault((fix.vehicle_id, fix.fixed_at), fix)
    ordered = [unique[key] for key in sorted(unique)]
    raws = list(raw)
    if session.connection().dialect.name == "postgresql":
        return _store_postgresql(session, ordered, raws, received)
    return _store_generic(session, ordered, raws, received)


def _located(fix: Fix) -> bool:
    """Whether the fix is a place: a JT/T 808 terminal says when it is not (status bit 1 clear, 未定位); OsmAnd does
    not. The live map shows a vehicle at its newest located fix, not where a terminal without a position says."""
    return fix.status is None or bool(fix.status & 0b10)


def _newest(fixes: Sequence[Fix]) -> list[Fix]:
    newest: dict[int, Fix] = {}
    for fix in filter(_located, fixes):
        seen = newest.get(fix.vehicle_id)
        if seen is None or fix.fixed_at > seen.fixed_at:
            newest[fix.vehicle_id] = fix
    return [newest[v] for v in sorted(newest)]


def _store_generic(session: Session, fixes: Sequence[Fix], raws: Sequence[Raw], received: datetime) -> int:
    # SQLite: executemany of plain tuples on the session's DBAPI connection, values in the column types' stored
    # forms (UTC text as SQLAlchemy writes it): the ORM's per-row processing would be most of the batch's time.
    connection = session.connection()
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    inserted = 0
    try:
        if fixes:
            placeholders = ", ".join("?" for _ in _POSITION_COLUMNS)
            cursor.executemany(
                f"INSERT INTO positions ({', '.join(_POSITION_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT (vehicle_id, fixed_at) DO NOTHING",
                [_sqlite_row(fix, received) for fix in fixes])
            inserted = cursor.rowcount
            latest = [_sqlite_row(fix, received) for fix in _newest(fixes)]
            columns = ", ".join(_LATEST_COLUMNS)
            updates = ", ".join(f"{c} = excluded.{c}" for c in _LATEST_COLUMNS[1:])
            cursor.executemany(
                f"INSERT INTO latest_positions ({columns}) VALUES ({', '.join('?' for _ in _LATEST_COLUMNS)}) "
                f"ON CONFLICT (vehicle_id) DO UPDATE SET {updates} WHERE excluded.fixed_at > latest_positions.fixed_at",
                [tuple(row[_POSITION_COLUMNS.index(c)] for c in _LATEST_COLUMNS) for row in latest])
        if raws:
            cursor.executemany(
                "INSERT INTO raw_frames (received_at, source, device, payload) VALUES (?, ?, ?, ?)",
                [(_sqlite_time(r.received_at), r.source.value, r.device[:64], r.payload) for r in raws])
    finally:
        cursor.close()
    return inserted


def _sqlite_time(moment: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME storage format, in UTC (what UTCDateTime binds): comparisons stay textual.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_row(fix: Fix, received: datetime) -> tuple[Any, ...]:
    return (fix.vehicle_id, _sqlite_time(fix.fixed_at), _sqlite_time(received), fix.lat, fix.lon, fix.speed_kmh,
            fix.course, fix.altitude_m, fix.accuracy_m, None if fix.acc is None else int(fix.acc), fix.alarm,
            fix.status, fix.mileage_km, fix.source.value, int(fix.backfill),
            _json(fix.extras))


def _store_postgresql(session: Session, fixes: Sequence[Fix], raws: Sequence[Raw], received: datetime) -> int:
    # COPY into a temporary table (one per connection, emptied at commit), then one INSERT … SELECT … ON CONFLICT:
    # the fastest path PostgreSQL has for a batch that may hold rows already stored.
    ensure_partitions(session, {month_of(fix.fixed_at) for fix in fixes})
    pooled = session.connection().connection
    raw_connection = cast("psycopg.Connection[Any]", pooled.dbapi_connection)
    inserted = 0
    with raw_connection.cursor() as cursor:
        if fixes:
            # Made once per connection (a rolled-back transaction takes it away again, hence IF NOT EXISTS).
            cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS positions_in "
                           "(LIKE positions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            columns = ", ".join(_POSITION_COLUMNS)
            with cursor.copy(f"COPY positions_in ({columns}) FROM STDIN") as copy:
                for fix in fixes:
                    copy.write_row(_pg_row(fix, received))
            latest = ", ".join(_LATEST_COLUMNS)
            updates = ", ".join(f"{c} = excluded.{c}" for c in _LATEST_COLUMNS[1:])
            try:
                cursor.execute(
                    f"INSERT INTO positions ({columns}) SELECT {columns} FROM positions_in "
                    f"ORDER BY vehicle_id, fixed_at ON CONFLICT (vehicle_id, fixed_at) DO NOTHING")
            except Exception as error:
                if getattr(error, "sqlstate", None) == "23514":  # no partition for a row: one was dropped since
                    forget_partitions()  # the next batch (the terminals resend) makes it again
                raise
            inserted = cursor.rowcount
            # One round trip for the rest: the latest fixes, and the temporary table emptied for a second batch in
            # the same transaction.
            cursor.execute(
                f"INSERT INTO latest_positions ({latest}) SELECT DISTINCT ON (vehicle_id) {latest} FROM positions_in "
                f"WHERE status IS NULL OR status & 2 <> 0 "  # located fixes only, as _located
                f"ORDER BY vehicle_id, fixed_at DESC ON CONFLICT (vehicle_id) DO UPDATE SET {updates} "
                f"WHERE excluded.fixed_at > latest_positions.fixed_at; DELETE FROM positions_in")
        if raws:
            with cursor.copy("COPY raw_frames (received_at, source, device, payload) FROM STDIN") as copy:
                for r in raws:
                    copy.write_row((r.received_at, r.source.value, r.device[:64], r.payload))
    return inserted


def _pg_row(fix: Fix, received: datetime) -> tuple[Any, ...]:
    return (fix.vehicle_id, fix.fixed_at, received, fix.lat, fix.lon, fix.speed_kmh, fix.course, fix.altitude_m,
            fix.accuracy_m, fix.acc, fix.alarm, fix.status, fix.mileage_km, fix.source.value, fix.backfill,
            _json(fix.extras))


def _json(extras: dict[str, Any] | None) -> str | None:
    """The extras as JSON text every reader takes: a NUL (``\\u0000``) or a lone surrogate (``\\ud800``), which a
    device's free-form attributes may carry, is stored by PostgreSQL's ``json`` but then breaks every ``->>`` and
    ``::jsonb`` on the row (UntranslatableCharacter): such characters become U+FFFD."""
    if extras is None:
        return None
    text = json.dumps(extras, separators=(",", ":"))
    if "\\u0000" in text or "\\ud" in text:
        text = json.dumps(_clean(extras), separators=(",", ":"))
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_clean(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def prune_raw(session: Session, before: datetime) -> int:
    """Delete the raw frames received before ``before``; how many."""
    result = session.execute(sa.delete(RawFrame).where(RawFrame.received_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
