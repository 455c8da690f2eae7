"""The tamper-evident audit log: one hash-chained record per state change, in the change's own transaction.

Each record's hash is SHA-256 over a canonical JSON encoding of (seq, at, actor, action, entity, entity_id,
changes, prev_hash). Altering, removing or reordering any row breaks the chain at that row, which ``verify``
names. Writers are serialised on the chain head (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory
lock on PostgreSQL) so two transactions can never both extend the same head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet.models import AuditRecord, Base, utcnow

GENESIS = "0" * 64
_HEAD_LOCK_KEY = 0x676F6E67636865  # "gongche": the advisory lock guarding the chain head on PostgreSQL


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


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(
    *, seq: int, at: datetime, actor: str, action: str, entity: str, entity_id: str,
    changes: Mapping[str, Any], prev_hash: str,
) -> str:
    body = {
        "seq": seq, "at": _stamp(at), "actor": actor, "action": action, "entity": entity,
        "entity_id": entity_id, "changes": changes, "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _lock_head(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _HEAD_LOCK_KEY})


def head(session: Session) -> tuple[int, str]:
    """(sequence, hash) of the newest record, or (0, GENESIS) for an empty log."""
    row = session.execute(
        sa.select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def record(
    session: Session, actor: Actor, action: str, entity: Base, changes: Mapping[str, Any] | None = None
) -> AuditRecord:
    """Append one record for ``action`` on ``entity``; it commits or rolls back with the change itself."""
    session.flush()  # the entity needs its id, and the head query must see this transaction's records
    _lock_head(session)
    seq, prev = head(session)
    entity_id = str(sa.inspect(entity).identity[0])  # type: ignore[index]
    rec = AuditRecord(
        seq=seq + 1,
        at=utcnow(),
        actor=str(actor),
        action=action,
        entity=type(entity).audit_entity or type(entity).__tablename__,
        entity_id=entity_id,
        changes=jsonable(dict(changes or {})),
        prev_hash=prev,
    )
    rec.hash = compute_hash(
        seq=rec.seq, at=rec.at, actor=rec.actor, action=rec.action, entity=rec.entity,
        entity_id=rec.entity_id, changes=rec.changes, prev_hash=rec.prev_hash,
    )
    session.add(rec)
    session.flush()
    return rec


@dataclass(frozen=True)
class Verification:
    """The outcome of re-computing the chain: ``ok``, how many records, and the first broken one."""

    ok: bool
    records: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.records} records, head #{self.head_seq} {self.head_hash[:16]}…"
        return f"audit chain broken at record #{self.broken_seq}: {self.reason}"


def verify(session: Session, *, batch: int = 5000) -> Verification:
    """Re-compute every hash in sequence order; name the first record that does not fit the chain."""
    rows = session.execute(sa.select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=batch))
    try:
        return _walk(rows.scalars())
    finally:
        rows.close()  # a server-side cursor (PostgreSQL) must not outlive an early answer


def _walk(records: Iterable[AuditRecord]) -> Verification:
    expected_seq, prev = 1, GENESIS
    count = 0
    for rec in records:
        if rec.seq != expected_seq:
            return Verification(False, count, expected_seq - 1, prev, rec.seq,
                                f"sequence jumps from #{expected_seq - 1} to #{rec.seq} (records removed)")
        if rec.prev_hash != prev:
            return Verification(False, count, rec.seq - 1, prev, rec.seq,
                                "prev_hash does not match the hash of the record before it")
        actual = compute_hash(
            seq=rec.seq, at=rec.at, actor=rec.actor, action=rec.action, entity=rec.entity,
            entity_id=rec.entity_id, changes=rec.changes, prev_hash=rec.prev_hash,
        )
        if actual != rec.hash:
            return Verification(False, count, rec.seq - 1, prev, rec.seq,
                                "content does not match its hash (the record was altered)")
        count += 1
        expected_seq, prev = rec.seq + 1, rec.hash
    return Verification(True, count, expected_seq - 1, prev)


# --- Checkpoints: the chain's head, signed, kept outside the database --------------------------------------------
# A chain verifies itself only against itself: cut at its tail, or rewritten whole by someone who recomputes every
# hash, it is still a valid chain. A checkpoint written elsewhere, with an HMAC under a key the database never sees,
# pins the head at that moment; `verify_against` then finds either kind of tampering.


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str

    def signed(self, key: bytes) -> str:
        return hmac.new(key, f"{self.seq}:{self.hash}:{self.at}".encode(), hashlib.sha256).hexdigest()


def write_checkpoint(session: Session, path: Path, key: bytes) -> Checkpoint:
    """Append the current head (sequence, hash) with its HMAC to ``path``, after checking the chain is intact."""
    result = verify(session)
    if not result.ok:
        raise ValueError(f"will not checkpoint a broken chain: {result}")
    point = Checkpoint(result.head_seq, result.head_hash, _stamp(utcnow()))
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"seq": point.seq, "hash": point.hash, "at": point.at, "hmac": point.signed(key)})
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())
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
            raise ValueError(f"{path} line {number}: the checkpoint's HMAC does not match (altered, or another key)")
        latest = point
    return latest


def verify_against(session: Session, point: Checkpoint | None) -> Verification:
    """`verify`, and then that the chain still holds the checkpointed record with the checkpointed hash."""
    result = verify(session)
    if not result.ok or point is None:
        return result
    if result.head_seq < point.seq:
        return Verification(False, result.records, result.head_seq, result.head_hash, result.head_seq + 1,
                            f"the chain ends at #{result.head_seq} but checkpoint {point.at} saw #{point.seq}: "
                            f"records were cut from its tail")
    stored = session.scalar(sa.select(AuditRecord.hash).where(AuditRecord.seq == point.seq))
    if stored != point.hash:
        return Verification(False, result.records, result.head_seq, result.head_hash, point.seq,
                            f"record #{point.seq} differs from checkpoint {point.at}: the chain was rewritten")
    return result
