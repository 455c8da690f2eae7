"""The tamper-evident audit log: one record per state change, chained, keyed, and stating the rows it leaves.

Each record's hash is SHA-256 over a canonical JSON encoding of (seq, at, actor, action, entity, entity_id,
changes, state, prev_hash): altering, removing or reordering a row breaks the chain there, and anyone can check
that without a key. Each record also carries a MAC (HMAC-SHA256 of its hash under the audit key, which the
database never sees): a record written straight into the database, or a chain re-hashed from an altered record
on, is told apart at its first such record. ``state`` maps every audited row the transaction wrote ("trip:5") to a
digest of the row as it stood at commit, so that ``verify`` finds a row changed without a record.

Lock order: ``record`` only notes the record in the session. The transaction's records are chained when it
commits (``before_commit``): rows are read for their digests first, then the chain head is locked (an advisory
lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already made the writer the only one), the head read and the records
inserted, and the commit releases the lock. The head lock is thus always a transaction's last lock, held for one
INSERT. A read of the log inside a writing transaction (``verify``, ``head``, any query on ``audit_log``) chains
what is pending first, as autoflush does for rows; services never do that. ``seq`` is thus the commit order and
``at`` the time of the change; for one row the two agree, its writers being serialised by the row's lock.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import os
import threading
import weakref
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.util import find_tables

from fleet.i18n import msg
from fleet.models import AuditRecord, Base, utcnow
from fleet.settings import audit_key, get_settings

log = logging.getLogger("gongche.audit")

GENESIS = "0" * 64
UPGRADED = "audit.upgraded"  # the action of the records a migration writes to state the rows it found
_HEAD_LOCK_KEY = 0x676F6E67636865  # "gongche": the advisory lock guarding the chain head on PostgreSQL
_LOG_TABLE = AuditRecord.__tablename__
_MAC_CONTEXT = b"gongche audit record\x00"  # keeps a record's MAC apart from a checkpoint's HMAC under one key


@dataclass(frozen=True)
class Actor:
    """Who did it: a user name and the role it acted in."""

    name: str
    role: str = "system"

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


SYSTEM = Actor("system")


def jsonable(value: Any) -> Any:
    """The JSON form of a domain value: enums by value, Decimal and dates as strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot record {type(value).__name__} in the audit log")


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(
    *, seq: int, at: datetime, actor: str, action: str, entity: str, entity_id: str,
    changes: Mapping[str, Any], prev_hash: str, state: Mapping[str, str | None] | None = None,
) -> str:
    """SHA-256 of the record's canonical JSON; ``state`` is left out when absent, as records before 0003 had none."""
    body: dict[str, Any] = {
        "seq": seq, "at": _stamp(at), "actor": actor, "action": action, "entity": entity,
        "entity_id": entity_id, "changes": changes, "prev_hash": prev_hash,
    }
    if state is not None:
        body["state"] = state
    return hashlib.sha256(_canonical(body)).hexdigest()


def record_mac(key: bytes, record_hash: str) -> str:
    """The record's MAC: HMAC-SHA256 of its hash (which covers its content and its place) under the audit key."""
    return hmac.new(key, _MAC_CONTEXT + record_hash.encode(), hashlib.sha256).hexdigest()


# --- Row state: what a record says its rows were ------------------------------------------------------------------


def audited_models() -> dict[str, type[Base]]:
    """The models whose rows the log states, by audit entity name ("trip" -> Trip)."""
    return {m.class_.audit_entity: m.class_ for m in Base.registry.mappers if m.class_.audit_entity}


def stated_columns(model: type[Base]) -> list[str]:
    """The columns a row's digest covers: every column of its table but the model's ``audit_unstated``."""
    return [c.name for c in model.__table__.columns if c.name not in model.audit_unstated]


def _plain(value: Any) -> Any:
    # Values as the driver hands them back (no type processing), so that a value no model type can read is still
    # digested, and reported, instead of failing the check.
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def row_digest(entity: str, row: Mapping[Any, Any]) -> str:
    """SHA-256 of a row's stated columns as stored; NULLs are left out, so that adding a nullable column to a
    table later leaves the digests of its older rows as they were."""
    body = {"entity": entity, "row": {k: _plain(v) for k, v in row.items() if v is not None}}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _state_key(entity: str, row_id: Any) -> str:
    return f"{entity}:{row_id}"


def _pk_column(model: type[Base]) -> sa.Column[Any]:
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table.primary_key.columns.values()[0]


def _raw_select(model: type[Base], columns: Sequence[str]) -> tuple[sa.Select[Any], sa.ColumnClause[Any]]:
    # Untyped columns: the values come back as the driver stores them (see _plain).
    table = sa.table(model.__tablename__, *(sa.column(name) for name in columns))
    pk = table.c[_pk_column(model).name]
    return sa.select(*table.c), pk


def _digests(session: Session, keys: Iterable[str]) -> dict[str, str | None]:
    """The digest of each "entity:id" row as it stands in this transaction; None for a row that is gone."""
    models = audited_models()
    wanted: dict[str, list[str]] = {}
    for key in keys:
        entity, _, row_id = key.partition(":")
        wanted.setdefault(entity, []).append(row_id)
    found: dict[str, str | None] = {}
    for entity, row_ids in wanted.items():
        model = models[entity]
        select, pk = _raw_select(model, stated_columns(model))
        typed = [_pk_column(model).type.python_type(i) for i in row_ids]
        for start in range(0, len(typed), 500):
            for row in session.execute(select.where(pk.in_(typed[start:start + 500]))).mappings():
                found[_state_key(entity, row[pk.name])] = row_digest(entity, row)
        for row_id in row_ids:
            found.setdefault(_state_key(entity, row_id), None)
    return found


def statements(records: Sequence[tuple[str, str]], touched: Iterable[str], audited: Iterable[str]) -> list[list[str]]:
    """Which "entity:id" rows each of a transaction's records states: a row its last record names, and every other
    row the transaction wrote in its last record (a vehicle's odometer moved by a cost entry, an assignment made
    for a trip)."""
    audited = set(audited)
    last: dict[str, int] = {}
    for i, (entity, entity_id) in enumerate(records):
        if entity in audited:
            last[_state_key(entity, entity_id)] = i
    for key in touched:
        last.setdefault(key, len(records) - 1)
    stated: list[list[str]] = [[] for _ in records]
    for key, i in last.items():
        stated[i].append(key)
    return stated


# --- The session's pending records, and the hooks that chain them -------------------------------------------------

_INFO = "gongche.audit"


@dataclass
class _Batch:
    at: int  # the tracker's clock when it was chained
    pending: list[tuple[int, AuditRecord]]
    touched: dict[str, int]


@dataclass
class _Tracker:
    """One session's records not chained yet and the audited rows it wrote, each stamped with a logical clock so
    that a SAVEPOINT rolled back takes back exactly what was noted inside it."""

    clock: int = 0
    pending: list[tuple[int, AuditRecord]] = field(default_factory=list)
    touched: dict[str, int] = field(default_factory=dict)  # "entity:id" -> clock when first written
    batches: list[_Batch] = field(default_factory=list)  # chained inside this transaction (a read of the log)
    head: tuple[int, str] | None = None  # what the commit chained, for the checkpoint after it
    marks: weakref.WeakKeyDictionary[SessionTransaction, int] = field(default_factory=weakref.WeakKeyDictionary)

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def undo(self, mark: int) -> None:
        """Forget what was noted since ``mark``; records chained since then (their rows rolled back with the
        savepoint) are pending again if they were made before it."""
        undone = [b for b in self.batches if b.at >= mark]
        self.batches = [b for b in self.batches if b.at < mark]
        pending = [p for b in undone for p in b.pending] + self.pending
        self.pending = sorted((p for p in pending if p[0] < mark), key=lambda p: p[0])
        touched: dict[str, int] = {}
        for source in [*(b.touched for b in undone), self.touched]:
            for key, when in source.items():
                touched[key] = min(when, touched.get(key, when))
        self.touched = {k: when for k, when in touched.items() if when < mark}


def _tracker(session: Session) -> _Tracker:
    found = session.info.get(_INFO)
    if found is None:
        found = session.info[_INFO] = _Tracker()
    assert isinstance(found, _Tracker)
    return found


def _lock_head(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _HEAD_LOCK_KEY})


class KeyMismatch(RuntimeError):
    """The chain's head carries a MAC this process's audit key does not make: it will not write records after it."""


def _read_head(execute: Session | Connection, key: bytes | None = None) -> tuple[int, str]:
    """(seq, hash) of the newest record; given ``key``, refuses a head whose MAC that key does not make (this
    process has another key than the one the log was written with, or the head was not written by the
    application): records written after it would never verify."""
    row = execute.execute(
        sa.select(AuditRecord.seq, AuditRecord.hash, AuditRecord.mac).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    if row is None:
        return 0, GENESIS
    if key is not None and row[2] is not None and not hmac.compare_digest(record_mac(key, row[1]), row[2]):
        raise KeyMismatch(msg("audit record #{seq}, the head of the chain, has a MAC this process's audit key does "
                              "not make: either the key (GONGCHE_AUDIT_KEY or GONGCHE_AUDIT_KEY_FILE) is not the one "
                              "the log was written with, or the record was not written by the application (run "
                              "`gongche audit verify`); nothing is written until that is settled", seq=row[0]))
    return row[0], row[1]


def _seal(records: Sequence[AuditRecord], head: tuple[int, str], key: bytes) -> tuple[int, str]:
    """Give ``records`` their place after ``head``: seq, prev_hash, hash and MAC; the new head."""
    seq, prev = head
    for rec in records:
        seq += 1
        rec.seq, rec.prev_hash = seq, prev
        rec.hash = compute_hash(seq=seq, at=rec.at, actor=rec.actor, action=rec.action, entity=rec.entity,
                                entity_id=rec.entity_id, changes=rec.changes, prev_hash=prev, state=rec.state)
        rec.mac = record_mac(key, rec.hash)
        prev = rec.hash
    return seq, prev


def _chain(session: Session, tracker: _Tracker) -> tuple[int, str] | None:
    """Chain the pending records; the new head, or None when nothing was pending."""
    if not tracker.pending:
        return None
    session.flush()
    pending, touched = tracker.pending, tracker.touched
    tracker.pending, tracker.touched = [], {}
    tracker.batches.append(_Batch(tracker.tick(), pending, touched))
    records = [rec for _, rec in pending]
    stated = statements([(r.entity, r.entity_id) for r in records], touched, audited_models())
    digests = _digests(session, {k for keys in stated for k in keys})  # rows this transaction holds already
    for rec, keys in zip(records, stated, strict=True):
        rec.state = {k: digests[k] for k in sorted(keys)}
    key = audit_key()
    _lock_head(session)  # the last lock this transaction takes; the commit releases it
    new_head = _seal(records, _read_head(session, key), key)
    session.add_all(records)
    session.flush()
    return new_head


def _touches_log(statement: Any) -> bool:
    if isinstance(statement, sa.TextClause):
        return _LOG_TABLE in statement.text
    if isinstance(statement, sa.ClauseElement):
        return any(t.name == _LOG_TABLE for t in find_tables(statement, include_crud=True))
    return False


@event.listens_for(Session, "after_transaction_create")
def _on_transaction_create(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        tracker = _tracker(session)
        tracker.marks[transaction] = tracker.tick()


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _context: Any) -> None:
    tracker = None
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        entity = getattr(type(obj), "audit_entity", "")
        if not entity:
            continue
        tracker = tracker or _tracker(session)
        row_id = sa.inspect(obj).mapper.primary_key_from_instance(obj)[0]
        tracker.touched.setdefault(_state_key(entity, row_id), tracker.tick())


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    tracker = state.session.info.get(_INFO)
    if isinstance(tracker, _Tracker) and tracker.pending and _touches_log(state.statement):
        _chain(state.session, tracker)


@event.listens_for(Session, "after_soft_rollback")
def _on_rollback(session: Session, transaction: SessionTransaction) -> None:
    tracker = session.info.get(_INFO)
    mark = tracker.marks.get(transaction) if isinstance(tracker, _Tracker) else None
    if tracker is not None and mark is not None:
        tracker.undo(mark)


@event.listens_for(Session, "before_commit")
def _on_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: its records wait for the real commit
        return
    tracker = session.info.get(_INFO)
    if not isinstance(tracker, _Tracker):
        return
    session.flush()
    if not tracker.pending and tracker.touched:
        log.warning("a transaction wrote %s without an audit record; `audit verify` will report them",
                    ", ".join(sorted(tracker.touched)[:10]))
    tracker.head = _chain(session, tracker)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    tracker = session.info.get(_INFO)
    if not isinstance(tracker, _Tracker) or tracker.head is None:
        return
    head, tracker.head = tracker.head, None
    try:  # the commit stands whatever happens to the file: a lost checkpoint only widens the unseen window
        auto_checkpoint(head)
    except Exception:
        log.exception("the automatic audit checkpoint of #%s could not be written", head[0])


@event.listens_for(Session, "after_transaction_end")
def _on_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_INFO, None)


def record(
    session: Session, actor: Actor, action: str, entity: Base, changes: Mapping[str, Any] | None = None
) -> AuditRecord:
    """Note one record for ``action`` on ``entity``; it is chained when the transaction commits, and goes with a
    SAVEPOINT rolled back. The record returned gets its seq, hash and MAC then; ``at`` is now."""
    session.flush()  # the entity needs its id
    model = type(entity)
    rec = AuditRecord(
        at=utcnow(),  # the time of the change: the usage audit reads a vehicle's status history off it
        actor=str(actor),
        action=action,
        entity=model.audit_entity or model.__tablename__,
        entity_id=str(sa.inspect(entity).identity[0]),  # type: ignore[index]
        changes=jsonable(dict(changes or {})),
    )
    tracker = _tracker(session)
    tracker.pending.append((tracker.tick(), rec))
    return rec


def head(session: Session) -> tuple[int, str]:
    """(sequence, hash) of the newest record, or (0, GENESIS) for an empty log."""
    tracker = session.info.get(_INFO)
    if isinstance(tracker, _Tracker):
        _chain(session, tracker)
    return _read_head(session)


# --- Verification -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The outcome of checking the log: ``ok``, how many records (and rows), and the first thing that is wrong:
    a record (``broken_seq``) or a row (``table``, ``row_id``, and the record stating it, if any)."""

    ok: bool
    records: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None
    rows: int | None = None  # rows checked against the log; None when the state was not checked
    table: str | None = None
    row_id: str | None = None

    def __str__(self) -> str:
        if self.ok:
            rows = "" if self.rows is None else msg("; {rows} rows as the log states them", rows=self.rows)
            return msg("audit chain intact: {records} records, head #{seq} {hash}…{rows}", records=self.records,
                       seq=self.head_seq, hash=self.head_hash[:16], rows=rows)
        if self.table is not None:
            return msg("state differs from the audit log: {reason}", reason=self.reason)
        return msg("audit chain broken at record #{seq}: {reason}", seq=self.broken_seq, reason=self.reason)


@dataclass
class _Walk:
    """What reading the chain gives: its verdict and the last state each row was given."""

    result: Verification
    stated: dict[str, tuple[int, str | None]]


def _walk(records: Iterable[AuditRecord], key: bytes | None) -> _Walk:
    expected_seq, prev = 1, GENESIS
    count = 0
    stated: dict[str, tuple[int, str | None]] = {}
    unkeyed: int | None = None  # the first of the records without a MAC (written before migration 0003)
    keyed = False

    def broken(seq: int, reason: str) -> _Walk:
        return _Walk(Verification(False, count, expected_seq - 1, prev, seq, reason), stated)

    for rec in records:
        if rec.seq != expected_seq:
            return broken(rec.seq, msg("sequence jumps from #{last} to #{seq} (records removed)",
                                       last=expected_seq - 1, seq=rec.seq))
        if rec.prev_hash != prev:
            return broken(rec.seq, msg("prev_hash does not match the hash of the record before it"))
        actual = compute_hash(
            seq=rec.seq, at=rec.at, actor=rec.actor, action=rec.action, entity=rec.entity,
            entity_id=rec.entity_id, changes=rec.changes, prev_hash=rec.prev_hash, state=rec.state,
        )
        if actual != rec.hash:
            return broken(rec.seq, msg("content does not match its hash (the record was altered)"))
        if key is not None:
            if rec.mac is None:
                if keyed:
                    return broken(rec.seq, msg("it has no MAC, though records before it have one: not written "
                                               "by the application"))
                unkeyed = unkeyed or rec.seq
            else:
                if not hmac.compare_digest(record_mac(key, rec.hash), rec.mac):
                    return broken(rec.seq, msg("its MAC does not match: not written by the application (a "
                                               "record forged, or the chain rewritten from here)"))
                if not keyed and unkeyed is not None and rec.action != UPGRADED:
                    return broken(unkeyed, _UNKEYED)
                keyed = True
        for row, digest in (rec.state or {}).items():
            stated[row] = (rec.seq, digest)
        count += 1
        expected_seq, prev = rec.seq + 1, rec.hash
    if key is not None and unkeyed is not None and not keyed:
        return broken(unkeyed, _UNKEYED)
    return _Walk(Verification(True, count, expected_seq - 1, prev), stated)


_UNKEYED = msg("it has no MAC and no migration record follows the records without one: not written by the "
               "application")


def _read_chain(session: Session, key: bytes | None, batch: int) -> _Walk:
    tracker = session.info.get(_INFO)
    if isinstance(tracker, _Tracker):
        _chain(session, tracker)
    rows = session.execute(sa.select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=batch))
    try:
        return _walk(rows.scalars(), key)
    finally:
        rows.close()  # a server-side cursor (PostgreSQL) must not outlive an early answer


@dataclass(frozen=True)
class _Finding:
    key: str
    table: str
    row_id: str
    seq: int | None
    reason: str


def _state_findings(session: Session, stated: dict[str, tuple[int, str | None]], batch: int,
                    counted: list[int]) -> Generator[_Finding]:
    """Every audited row whose digest is not the one its last record gives, in table then id order; then every
    row a record states that is gone."""
    models = audited_models()
    stated = dict(stated)
    for entity, model in sorted(models.items(), key=lambda item: item[1].__tablename__):
        table = model.__tablename__
        select, pk = _raw_select(model, stated_columns(model))
        rows = session.execute(select.order_by(pk).execution_options(yield_per=batch)).mappings()
        try:
            for row in rows:
                counted[0] += 1
                row_id = row[pk.name]
                key = _state_key(entity, row_id)
                last = stated.pop(key, None)
                if last is None:
                    yield _Finding(key, table, str(row_id), None,
                                   msg("{table} row {row_id} ({entity} {row_id}) is stated by no audit record: "
                                       "written without one", table=table, row_id=row_id, entity=entity))
                elif last[1] != row_digest(entity, row):
                    yield _Finding(key, table, str(row_id), last[0],
                                   msg("{table} row {row_id} ({entity} {row_id}) is not as audit record #{seq} "
                                       "states it: changed without an audit record", table=table, row_id=row_id,
                                       entity=entity, seq=last[0]))
        finally:
            rows.close()
    for key, (seq, digest) in sorted(stated.items(), key=lambda item: item[1][0]):
        entity, _, row_id = key.partition(":")
        if digest is not None and entity in models:
            table = models[entity].__tablename__
            yield _Finding(key, table, row_id, seq, msg("{table} row {row_id} ({entity} {row_id}), stated by audit "
                                                        "record #{seq}, is gone: deleted without an audit record",
                                                        table=table, row_id=row_id, entity=entity, seq=seq))


def _changed_since(session: Session, seq: int) -> set[str]:
    """The rows stated by records after ``seq``: committed while the check ran (PostgreSQL reads each statement's
    own snapshot), so the rows read may be newer than the chain that was read."""
    changed: set[str] = set()
    for state in session.scalars(sa.select(AuditRecord.state).where(AuditRecord.seq > seq)):
        changed.update(state or {})
    return changed


def _check_state(session: Session, walk: _Walk, batch: int) -> Verification:
    result = walk.result
    counted = [0]
    findings: list[_Finding] = []
    scan = _state_findings(session, walk.stated, batch, counted)  # a generator: close() ends its cursor
    try:
        for finding in scan:
            findings.append(finding)
            if len(findings) >= 1000:  # enough to see past rows changed while the check ran
                break
    finally:
        scan.close()  # and with it the table's server-side cursor
    if findings:
        racing = _changed_since(session, result.head_seq)
        first = next((f for f in findings if f.key not in racing), None)
        if first is not None:
            return Verification(False, result.records, result.head_seq, result.head_hash, first.seq, first.reason,
                                counted[0], first.table, first.row_id)
    return Verification(True, result.records, result.head_seq, result.head_hash, rows=counted[0])


def verify(session: Session, *, key: bytes | None = None, state: bool = True, batch: int = 5000) -> Verification:
    """Re-compute every hash in sequence order (and, given the audit key, every MAC); then, unless ``state`` is
    False, check every audited row against the last record stating it. Names the first thing that does not fit."""
    walk = _read_chain(session, key, batch)
    if not walk.result.ok or not state:
        return walk.result
    return _check_state(session, walk, batch)


# --- Checkpoints: the chain's head, signed, kept outside the database --------------------------------------------
# A chain cut at its tail is still a valid chain, MACs and all. A checkpoint written elsewhere, with an HMAC under a
# key the database never sees, pins the head at that moment; `verify_against` then finds a cut tail. The commit
# hook writes one every GONGCHE_AUDIT_CHECKPOINT_EVERY_RECORDS records or _EVERY_MINUTES minutes.


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str

    def signed(self, key: bytes) -> str:
        return hmac.new(key, f"{self.seq}:{self.hash}:{self.at}".encode(), hashlib.sha256).hexdigest()


def _append_checkpoint(path: Path, point: Checkpoint, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"seq": point.seq, "hash": point.hash, "at": point.at, "hmac": point.signed(key)})
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def write_checkpoint(session: Session, path: Path, key: bytes) -> Checkpoint:
    """Append the current head (sequence, hash) with its HMAC to ``path``, after checking the chain and its MACs."""
    result = verify(session, key=key, state=False)
    if not result.ok:
        raise ValueError(msg("will not checkpoint a broken chain: {result}", result=str(result)))
    point = Checkpoint(result.head_seq, result.head_hash, _stamp(utcnow()))
    _append_checkpoint(path, point, key)
    return point


def latest_checkpoint(path: Path, key: bytes) -> Checkpoint | None:
    """The newest checkpoint in ``path``; a line whose HMAC does not match raises ValueError naming the line."""
    if not path.exists():
        return None
    latest = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            point = Checkpoint(int(row["seq"]), str(row["hash"]), str(row["at"]))
            valid = hmac.compare_digest(point.signed(key), str(row["hmac"]))
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            raise ValueError(msg("{path} line {number}: the checkpoint's HMAC does not match (altered, or another key)",
                                 path=str(path), number=number))
        latest = point
    return latest


def verify_against(session: Session, point: Checkpoint | None, *, key: bytes | None = None,
                   batch: int = 5000) -> Verification:
    """`verify`: the chain (and its MACs, given the key), then that it still holds the checkpointed record with the
    checkpointed hash, then the rows against what the log states."""
    walk = _read_chain(session, key, batch)
    result = walk.result
    if not result.ok:
        return result
    if point is not None:
        if result.head_seq < point.seq:
            return Verification(False, result.records, result.head_seq, result.head_hash, result.head_seq + 1,
                                msg("the chain ends at #{seq} but checkpoint {at} saw #{checkpoint_seq}: records "
                                    "were cut from its tail", seq=result.head_seq, at=point.at,
                                    checkpoint_seq=point.seq))
        stored = session.scalar(sa.select(AuditRecord.hash).where(AuditRecord.seq == point.seq))
        if stored != point.hash:
            return Verification(False, result.records, result.head_seq, result.head_hash, point.seq,
                                msg("record #{seq} differs from checkpoint {at}: the chain was rewritten",
                                    seq=point.seq, at=point.at))
    return _check_state(session, walk, batch)


def checkpoint_due(last: tuple[int, datetime] | None, head_seq: int, now: datetime, *, every_records: int,
                   every_minutes: float) -> bool:
    """Whether a commit that left the chain at ``head_seq`` should checkpoint it, the last checkpoint being
    ``last`` (seq, time): none yet, ``every_records`` records since, or ``every_minutes`` since. 0 turns either off."""
    if head_seq <= 0 or (every_records <= 0 and every_minutes <= 0):
        return False
    if last is None:
        return True
    seq, at = last
    if head_seq <= seq:
        return False
    if every_records > 0 and head_seq - seq >= every_records:
        return True
    return every_minutes > 0 and now - at >= timedelta(minutes=every_minutes)


def _last_point(path: Path) -> tuple[int, datetime] | None:
    # The tail only: read at every commit that chained something, by every process writing the file.
    try:
        with path.open("rb") as source:
            size = source.seek(0, os.SEEK_END)
            source.seek(max(0, size - 4096))
            tail = source.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            row = json.loads(line)
            return int(row["seq"]), datetime.strptime(row["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError):
            continue
    return None


_checkpoint_lock = threading.Lock()  # one writer of the file per process; no database lock is held


def auto_checkpoint(head: tuple[int, str]) -> Checkpoint | None:
    """After a commit that left the chain at ``head``: append it to the checkpoint file if one is due."""
    settings = get_settings()
    path = settings.audit_checkpoint_file
    with _checkpoint_lock:
        now = utcnow()
        if not checkpoint_due(_last_point(path), head[0], now, every_records=settings.audit_checkpoint_every_records,
                              every_minutes=settings.audit_checkpoint_every_minutes):
            return None
        point = Checkpoint(head[0], head[1], _stamp(now))
        _append_checkpoint(path, point, audit_key(settings))
    return point


# --- Migrations: stating the rows a database already holds --------------------------------------------------------


def state_rows(connection: Connection, *, reason: str, entities: Iterable[str] | None = None,
               key: bytes | None = None) -> int:
    """Append one ``audit.upgraded`` record per audited table (or per one of ``entities``) that has rows, stating
    each row as it stands, MAC'd under the audit key; for a migration that wrote rows or columns the log has not
    seen. A log whose newest record has no MAC (written before 0003) gets one record all the same: it closes the
    records without a MAC. Returns how many records were appended."""
    models = audited_models()
    chosen = sorted(models if entities is None else entities)
    present = set(sa.inspect(connection).get_table_names())
    drafts: list[tuple[str, dict[str, str | None]]] = []
    for entity in chosen:
        model = models[entity]
        if model.__tablename__ not in present:
            continue
        have = {c["name"] for c in sa.inspect(connection).get_columns(model.__tablename__)}
        select, pk = _raw_select(model, [c for c in stated_columns(model) if c in have])
        state: dict[str, str | None] = {_state_key(entity, row[pk.name]): row_digest(entity, row)
                 for row in connection.execute(select.order_by(pk)).mappings()}
        if state:
            drafts.append((entity, state))
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _HEAD_LOCK_KEY})
    newest = connection.execute(sa.select(AuditRecord.mac).order_by(AuditRecord.seq.desc()).limit(1)).first()
    if not drafts and newest is not None and newest[0] is None:  # records without a MAC, nothing to close them
        drafts.append((_LOG_TABLE, {}))
    if not drafts:
        return 0  # an empty database: no key needed, none made
    key = key if key is not None else audit_key()
    last = _read_head(connection, key)
    now = utcnow()
    records = [AuditRecord(at=now, actor=str(Actor("migration")), action=UPGRADED, entity=entity, entity_id="*",
                           changes={"reason": reason, "rows": len(state)}, state=state) for entity, state in drafts]
    _seal(records, last, key)
    columns = ("seq", "at", "actor", "action", "entity", "entity_id", "changes", "prev_hash", "hash", "mac", "state")
    table = sa.table(_LOG_TABLE, *(sa.column(c, AuditRecord.__table__.c[c].type) for c in columns))
    connection.execute(table.insert(), [{c: getattr(r, c) for c in columns} for r in records])
    return len(records)

