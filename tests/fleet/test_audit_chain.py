"""The audit log as proof of the state (issue 12): each record states the rows its transaction left and carries a
MAC under the audit key; the chain head is locked last, at commit; checkpoints are taken automatically.

Tampering is done the way someone with the database's files or its owner's rights would: plain SQL, triggers
disabled, hashes recomputed. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import assignments, audit, bookings, clock, costs, drivers, queries, registry, vehicles
from fleet.audit import Actor
from fleet.db import atomic, unit_of_work
from fleet.enums import Category
from fleet.errors import FleetError, InvalidState, QuotaExceeded
from fleet.migrate import downgrade, upgrade
from fleet.models import AuditRecord, Jurisdiction, Trip, Vehicle
from fleet.schemas import AssignIn, CostIn, DriverIn, JurisdictionIn, OdometerIn
from fleet.settings import get_settings
from tests.conftest import TEST_AUDIT_KEY, postgres_schema
from tests.factories import ADMIN, agency, jurisdiction_tree, registered, vehicle_in
from tests.fleet.test_bookings import approved_trip, at, city

KEY = TEST_AUDIT_KEY.encode()


def count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(AuditRecord)) or 0


def stating(session: Session, key: str) -> int:
    """The seq of the last record that states the row ``key`` ("trip:5")."""
    return max(r.seq for r in session.scalars(sa.select(AuditRecord)) if key in (r.state or {}))


def disable_triggers(session: Session) -> None:
    """What someone with the owner's rights does; inside the test's transaction, so it is rolled back."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        session.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
    else:
        session.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Set audit settings for one test (the checkpoint file in the test's folder); returns that file."""
    path = tmp_path / "checkpoints.jsonl"

    def apply(**values: Any) -> Path:
        monkeypatch.setenv("GONGCHE_AUDIT_CHECKPOINT_FILE", str(path))
        for name, value in values.items():
            monkeypatch.setenv(f"GONGCHE_AUDIT_{name.upper()}", str(value))
        get_settings.cache_clear()
        return path

    yield apply
    get_settings.cache_clear()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- pure parts ---------------------------------------------------------------------------------------------------


class TestPure:
    def test_a_row_is_stated_by_the_last_record_naming_it_and_the_rest_by_the_last_record(self) -> None:
        records = [("trip", "5"), ("vehicle", "2"), ("trip", "5"), ("dispatch_run", "1")]
        stated = audit.statements(records, ["trip:5", "assignment:9", "vehicle:2"], {"trip", "vehicle",
                                                                                     "dispatch_run", "assignment"})
        assert [sorted(keys) for keys in stated] == [[], ["vehicle:2"], ["trip:5"], ["assignment:9",
                                                                                       "dispatch_run:1"]]

    def test_a_null_column_leaves_the_digest_as_it_was(self) -> None:
        """A nullable column added to a table later must not make every older row look tampered with."""
        assert audit.row_digest("trip", {"id": 1, "purpose": "x"}) == audit.row_digest(
            "trip", {"id": 1, "purpose": "x", "dispatch_note": None})
        assert audit.row_digest("trip", {"id": 1, "purpose": "x"}) != audit.row_digest("trip", {"id": 1,
                                                                                                 "purpose": "y"})
        assert audit.row_digest("trip", {"id": 1}) != audit.row_digest("vehicle", {"id": 1})

    @pytest.mark.parametrize(("last", "head", "minutes_ago", "due"), [
        (None, 3, 0, True),  # nothing pinned yet
        ((3, None), 3, 60, False),  # nothing new
        ((3, None), 12, 1, False),  # 9 records, 1 minute
        ((3, None), 13, 1, True),  # 10 records
        ((3, None), 4, 5, True),  # 5 minutes
    ])
    def test_a_checkpoint_is_due_every_n_records_or_m_minutes(self, last: tuple[int, None] | None, head: int,
                                                                minutes_ago: int, due: bool) -> None:
        now = datetime(2030, 1, 1, tzinfo=UTC)
        point = None if last is None else (last[0], now - timedelta(minutes=minutes_ago))
        assert audit.checkpoint_due(point, head, now, every_records=10, every_minutes=5) is due
        assert not audit.checkpoint_due(point, head, now, every_records=0, every_minutes=0)


# --- the state: rows changed behind the log's back ----------------------------------------------------------------


class TestState:
    @pytest.mark.parametrize(("table", "change"), [
        ("trips", "purpose = '私事'"),
        ("vehicles", "odometer_km = odometer_km + 1"),
        ("vehicles", "status = 'stolen'"),  # not even a value the application can read
    ])
    def test_a_row_updated_behind_the_logs_back_is_named_with_its_record(self, session: Session, table: str,
                                                                         change: str) -> None:
        vehicle_ids, _ = city(session)
        trip = approved_trip(session, 9)
        row_id = trip if table == "trips" else vehicle_ids[0]
        assert audit.verify(session, key=KEY).ok
        last = stating(session, f"{'trip' if table == 'trips' else 'vehicle'}:{row_id}")
        session.execute(sa.text(f"UPDATE {table} SET {change} WHERE id = :id"), {"id": row_id})
        result = audit.verify(session, key=KEY)
        assert not result.ok
        assert (result.table, result.row_id, result.broken_seq) == (table, str(row_id), last)
        assert f"not as audit record #{last} states it" in (result.reason or "")
        assert str(result).startswith(f"state differs from the audit log: {table} row {row_id}")

    def test_a_row_inserted_without_a_record_is_named(self, session: Session) -> None:
        jurisdiction_tree(session)
        session.execute(sa.text("INSERT INTO jurisdictions (code, name, level) VALUES ('429000', '某地', 'city')"))
        row_id = session.scalar(sa.select(Jurisdiction.id).where(Jurisdiction.code == "429000"))
        result = audit.verify(session)
        assert (result.ok, result.table, result.row_id, result.broken_seq) == (False, "jurisdictions", str(row_id),
                                                                               None)
        assert "stated by no audit record" in (result.reason or "")

    def test_a_row_deleted_without_a_record_is_named(self, session: Session) -> None:
        jurisdiction_tree(session)
        closed = registry.close_year(session, ADMIN, jurisdiction="420100", year=2031)
        audit.head(session)
        session.execute(sa.text("DELETE FROM closed_years WHERE id = :id"), {"id": closed.id})
        result = audit.verify(session)
        assert (result.ok, result.table, result.row_id) == (False, "closed_years", str(closed.id))
        assert "is gone" in (result.reason or "")

    def test_a_whole_trip_day_verifies_and_a_later_unrecorded_change_does_not(self, fresh_engine: Engine) -> None:
        """Booking, assigning (an assignment row no record names), starting and completing (the vehicle's odometer),
        a cost entry: each row is stated as its transaction left it. A change in the same transaction after the
        record is stated too (the record carries the state at commit); one in a transaction of its own is not."""
        with unit_of_work(fresh_engine) as session:
            vehicle_ids, driver = city(session)
            trip = approved_trip(session, 9)
        with unit_of_work(fresh_engine) as session:
            assignments.assign(session, ADMIN, trip_id=trip, data=AssignIn(vehicle_id=vehicle_ids[0],
                                                                           driver_id=driver))
            with clock.travel(at(9)):
                bookings.start(session, ADMIN, trip_id=trip, data=OdometerIn(odometer_km=100))
            session.get_one(Trip, trip).decision_note = "noted after the record, before the commit"
        with unit_of_work(fresh_engine) as session, clock.travel(at(11)):  # a cost is booked once incurred
            bookings.complete(session, ADMIN, trip_id=trip, data=OdometerIn(odometer_km=130))
            costs.record_cost(session, ADMIN, vehicle_id=vehicle_ids[0], data=CostIn(
                kind="fuel", incurred_on=date(2030, 3, 12), amount_cny=Decimal(300), odometer_km=140))
        with unit_of_work(fresh_engine, readonly=True) as session:
            result = audit.verify(session, key=KEY)
            assert result.ok, str(result)
            assert result.rows is not None
            assert result.rows > 10
        with unit_of_work(fresh_engine) as session:
            session.get_one(Trip, trip).purpose = "私事"  # the ORM, but no record
        with unit_of_work(fresh_engine, readonly=True) as session:
            result = audit.verify(session, key=KEY)
        assert (result.ok, result.table, result.row_id) == (False, "trips", str(trip))


# --- the MAC: records not written by the application ---------------------------------------------------------------


def forge(session: Session, *, mac: str | None, key: bytes | None = None, **content: Any) -> int:
    """Append a record with a correct hash (and ``mac``, or a MAC under ``key``), as anyone with write access to
    the table can."""
    seq, prev = audit.head(session)
    row: dict[str, Any] = {"seq": seq + 1, "at": datetime.now(UTC), "actor": "test-admin (admin)",
                           "action": "trip.approved", "entity": "trip", "entity_id": "1", "changes": {},
                           "prev_hash": prev, "state": {}, **content}
    row["hash"] = audit.compute_hash(**row)
    session.execute(sa.insert(AuditRecord).values(**row, mac=audit.record_mac(key, row["hash"]) if key else mac))
    return int(row["seq"])


class TestMac:
    @pytest.mark.parametrize(("mac", "key"), [(None, None), ("0" * 64, None), (None, b"someone else's key")],
                             ids=["no-mac", "made-up-mac", "another-key"])
    def test_a_record_appended_with_a_correct_hash_is_told_apart(self, session: Session, mac: str | None,
                                                                 key: bytes | None) -> None:
        jurisdiction_tree(session)
        forged = forge(session, mac=mac, key=key)
        assert audit.verify(session).ok  # the hash chain alone cannot tell
        result = audit.verify(session, key=KEY)
        assert (result.ok, result.broken_seq) == (False, forged)
        assert "not written by the application" in (result.reason or "")

    def test_a_chain_rewritten_from_a_record_on_is_reported_at_that_record(self, session: Session) -> None:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.general: 2})
        registered(session)
        target = 3
        disable_triggers(session)
        prev = audit.GENESIS
        for rec in session.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq)).all():
            changes = {**rec.changes, "name": "改"} if rec.seq == target else rec.changes
            digest = audit.compute_hash(seq=rec.seq, at=rec.at, actor=rec.actor, action=rec.action, entity=rec.entity,
                                        entity_id=rec.entity_id, changes=changes, prev_hash=prev, state=rec.state)
            session.execute(sa.update(AuditRecord).where(AuditRecord.seq == rec.seq).values(
                changes=changes, prev_hash=prev, hash=digest))
            prev = digest
        session.expire_all()
        assert audit.verify(session).ok  # re-hashed: the chain alone cannot tell
        result = audit.verify(session, key=KEY)
        assert (result.ok, result.broken_seq) == (False, target)
        assert "MAC does not match" in (result.reason or "")

    def test_a_process_with_another_key_writes_nothing(self, fresh_engine: Engine,
                                                       settings_env: Callable[..., Path]) -> None:
        """A writer started with the wrong key (say a command run where a fresh key file got made) would append
        records no one can verify: it is refused, and the log stays as it was."""
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
        settings_env(key="another key")
        with pytest.raises(audit.KeyMismatch, match="head of the chain"), unit_of_work(fresh_engine) as session:
            agency(session, "WH-GA")
        with unit_of_work(fresh_engine, readonly=True) as session:
            assert count(session) == 3
            assert audit.verify(session, key=KEY).ok

    def test_records_without_a_mac_on_a_log_that_never_had_any_are_forged(self, session: Session) -> None:
        """Only records older than migration 0003 lack a MAC, and 0003 follows them with a MAC'd record."""
        first = forge(session, mac=None)
        forge(session, mac=None)
        result = audit.verify(session, key=KEY)
        assert (result.ok, result.broken_seq) == (False, first)
        assert "no migration record follows" in (result.reason or "")
        jurisdiction_tree(session)  # the application's records after them do not make them its own
        assert audit.verify(session, key=KEY).broken_seq == first


# --- refused calls, savepoints and the pending records -------------------------------------------------------------


class TestAtomic:
    def test_a_refused_service_leaves_neither_its_change_nor_its_record(self, fresh_engine: Engine) -> None:
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
            agency(session, "WH-GA", quotas={Category.general: 1})
        with unit_of_work(fresh_engine) as session:
            registered(session)
            with pytest.raises(QuotaExceeded):
                registered(session)
            drivers.add_driver(session, ADMIN, data=DriverIn(name="张师傅", licence_class="C1", agency="WH-GA",
                                                              shift_start="08:00", shift_end="18:00"))
        with unit_of_work(fresh_engine, readonly=True) as session:
            actions = list(session.scalars(sa.select(AuditRecord.action).order_by(AuditRecord.seq)))
            assert actions[-2:] == ["vehicle.registered", "driver.added"]
            assert len(actions) == 7
            assert audit.verify(session, key=KEY).ok

    def test_a_call_refused_after_it_recorded_leaves_no_record(self, fresh_engine: Engine) -> None:
        """A service that calls another (which records) and is then refused: its SAVEPOINT takes both back."""

        @atomic
        def register_then_refuse(session: Session, actor: Actor) -> None:
            registered(session)
            raise InvalidState("refused after the inner call recorded", field=None)

        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
            agency(session, "WH-GA", quotas={Category.general: 2})
            with pytest.raises(InvalidState):
                register_then_refuse(session, ADMIN)
            registered(session)
        with unit_of_work(fresh_engine, readonly=True) as session:
            assert list(session.scalars(sa.select(AuditRecord.action))).count("vehicle.registered") == 1
            assert session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) == 1
            assert audit.verify(session, key=KEY).ok

    def test_records_chained_inside_a_savepoint_rolled_back_are_chained_again(self, session: Session) -> None:
        """Reading the log chains what is pending; if that happened inside a savepoint that is then rolled back,
        the records made before the savepoint are not lost with it."""
        jurisdiction_tree(session)
        savepoint = session.begin_nested()
        agency(session, "WH-GA")
        assert count(session) == 4
        savepoint.rollback()
        assert count(session) == 3
        assert audit.verify(session, key=KEY).ok


# --- the head lock comes last (PostgreSQL) -------------------------------------------------------------------------


@pytest.mark.postgres
def test_recording_takes_no_lock_until_the_commit(postgresql_engine: Engine) -> None:
    with postgres_schema("gongche_lock") as engine, unit_of_work(engine) as session:
        jurisdiction_tree(session)
        held = session.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND pid = pg_backend_pid()"))
        assert held == 0


@pytest.mark.postgres
def test_recording_then_locking_a_row_does_not_deadlock_with_locking_it_then_recording(
        postgresql_engine: Engine) -> None:
    """One transaction records, then wants a vehicle; another holds that vehicle, then records. With the head
    locked at the first record, each waited for the other (PostgreSQL killed one: a 500)."""
    with postgres_schema("gongche_deadlock") as engine:
        with unit_of_work(engine) as session:
            jurisdiction_tree(session)
            agency(session, "WH-GA", quotas={Category.general: 2})
            vehicle = registered(session).id
        recorded, locked = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def guarded(work: Callable[[Session], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    with unit_of_work(engine) as session:
                        session.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
                        work(session)
                except BaseException as exc:
                    errors.append(exc)
                    recorded.set()
                    locked.set()
            return run

        def records_then_locks(session: Session) -> None:
            registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(code="421000", name="甲", level="city",
                                                                             parent="420000"))
            recorded.set()
            locked.wait(10)
            queries.vehicle(session, vehicle, lock=True)

        def locks_then_records(session: Session) -> None:
            recorded.wait(10)
            queries.vehicle(session, vehicle, lock=True)
            locked.set()
            time.sleep(0.5)  # the other is waiting for the vehicle by now
            registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(code="422000", name="乙", level="city",
                                                                             parent="420000"))

        threads = [threading.Thread(target=guarded(w)) for w in (records_then_locks, locks_then_records)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        with unit_of_work(engine, readonly=True) as session:
            assert audit.verify(session, key=KEY).ok
            assert session.scalar(sa.select(sa.func.count()).select_from(Jurisdiction)) == 5


def test_racing_writers_still_make_one_chain(fresh_engine: Engine) -> None:
    """Chained at commit, under the head lock: eight writers at once leave one unbroken chain with every record."""
    with unit_of_work(fresh_engine) as session:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.law_enforcement: 8})
    data = [vehicle_in(category=Category.law_enforcement) for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def register(i: int) -> None:
        try:
            barrier.wait()
            with unit_of_work(fresh_engine) as session:
                vehicles.register(session, ADMIN, agency="WH-GA", data=data[i])
        except (FleetError, sa.exc.SQLAlchemyError, threading.BrokenBarrierError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with unit_of_work(fresh_engine, readonly=True) as session:
        result = audit.verify(session, key=KEY)
        assert result.ok, str(result)
        assert result.records == 5 + 8


# --- automatic checkpoints ----------------------------------------------------------------------------------------


class TestCheckpoints:
    def test_a_checkpoint_is_written_after_n_records(self, fresh_engine: Engine,
                                                     settings_env: Callable[..., Path]) -> None:
        path = settings_env(checkpoint_every_records=5, checkpoint_every_minutes=0)
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)  # records 1-3: the first checkpoint, none being there
        assert [p["seq"] for p in lines(path)] == [3]
        with unit_of_work(fresh_engine) as session:
            agency(session, "WH-GA", quotas={Category.general: 5})  # 4-5
        with unit_of_work(fresh_engine) as session:
            registered(session)  # 6: 3 since the checkpoint
        assert [p["seq"] for p in lines(path)] == [3]
        with unit_of_work(fresh_engine) as session:
            registered(session)
            registered(session)  # 7-8: 5 since
        assert [p["seq"] for p in lines(path)] == [3, 8]
        with unit_of_work(fresh_engine, readonly=True) as session:
            point = audit.latest_checkpoint(path, KEY)
            assert point is not None
            assert point.hash == audit.head(session)[1]
            assert audit.verify_against(session, point, key=KEY).ok

    def test_a_checkpoint_is_written_once_m_minutes_passed(self, fresh_engine: Engine,
                                                           settings_env: Callable[..., Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
        path = settings_env(checkpoint_every_records=0, checkpoint_every_minutes=10)
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
        with unit_of_work(fresh_engine) as session:
            agency(session, "WH-GA")
        assert [p["seq"] for p in lines(path)] == [3]
        later = clock.now() + timedelta(minutes=11)
        monkeypatch.setattr(audit, "utcnow", lambda: later)
        with unit_of_work(fresh_engine) as session:
            registry.close_year(session, ADMIN, jurisdiction="420100", year=2031)
        assert [p["seq"] for p in lines(path)] == [3, 5]

    def test_a_cut_tail_beyond_the_last_automatic_checkpoint_is_found(self, fresh_engine: Engine,
                                                                      settings_env: Callable[..., Path]) -> None:
        path = settings_env(checkpoint_every_records=3, checkpoint_every_minutes=0)
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
        with unit_of_work(fresh_engine) as session:
            agency(session, "WH-GA", quotas={Category.general: 5})
            registered(session)  # 4-6
        assert [p["seq"] for p in lines(path)] == [3, 6]
        with fresh_engine.begin() as conn:
            if fresh_engine.dialect.name == "sqlite":
                conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
            else:
                conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            conn.execute(sa.text("DELETE FROM audit_log WHERE seq > 4"))
            for table in ("odometer_readings", "vehicles", "quota_changes", "quotas"):  # what the cut records stated
                conn.execute(sa.text(f"DELETE FROM {table}"))
        with unit_of_work(fresh_engine, readonly=True) as session:
            assert audit.verify(session, key=KEY, state=False).ok  # a shorter chain is still a chain
            result = audit.verify_against(session, audit.latest_checkpoint(path, KEY), key=KEY)
        assert not result.ok
        assert "cut from its tail" in (result.reason or "")

    def test_no_checkpoint_is_written_when_turned_off(self, fresh_engine: Engine,
                                                      settings_env: Callable[..., Path]) -> None:
        path = settings_env(checkpoint_every_records=0, checkpoint_every_minutes=0)
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
        assert not path.exists()


# --- migration 0003 -----------------------------------------------------------------------------------------------


def at_0002(engine: Engine) -> None:
    """``engine``'s database at 0002 (no data yet), holding what the code before 0003 wrote: a row and its record."""
    downgrade(engine, "0002")
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO jurisdictions (code, name, level) VALUES ('420000', '湖北省', 'province')"))
        digest = audit.compute_hash(seq=1, at=stamp, actor="test-admin (admin)", action="jurisdiction.created",
                                    entity="jurisdiction", entity_id="1", changes={"code": "420000"},
                                    prev_hash=audit.GENESIS)
        conn.execute(sa.text("INSERT INTO audit_log (seq, at, actor, action, entity, entity_id, changes, prev_hash, "
                             "hash) VALUES (1, :at, 'test-admin (admin)', 'jurisdiction.created', 'jurisdiction', "
                             "'1', :changes, :prev, :hash)"),
                     {"at": stamp if engine.dialect.name == "postgresql" else "2026-01-01 00:00:00.000000",
                      "changes": json.dumps({"code": "420000"}), "prev": audit.GENESIS, "hash": digest})


def test_0003_states_the_rows_it_finds_and_closes_the_records_without_a_mac(fresh_engine: Engine) -> None:
    at_0002(fresh_engine)
    upgrade(fresh_engine)
    with unit_of_work(fresh_engine, readonly=True) as session:
        result = audit.verify(session, key=KEY)
        assert result.ok, str(result)
        marker = session.get_one(AuditRecord, 2)
        assert (marker.action, marker.mac is not None, marker.state) == (
            audit.UPGRADED, True, {"jurisdiction:1": audit.row_digest("jurisdiction", {
                "id": 1, "code": "420000", "name": "湖北省", "level": "province"})})
        assert session.get_one(AuditRecord, 1).mac is None
    with unit_of_work(fresh_engine) as session:
        registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(code="420100", name="武汉市", level="city",
                                                                          parent="420000"))
    with Session(fresh_engine) as session:  # closed without a commit: rolled back
        assert audit.verify(session, key=KEY).ok
        forged = forge(session, mac=None)  # a record "from before 0003", appended today
        result = audit.verify(session, key=KEY)
        assert (result.ok, result.broken_seq) == (False, forged)
    with pytest.raises(RuntimeError, match="cannot downgrade below 0003"):
        downgrade(fresh_engine, "0002")


def test_0003_on_an_empty_database_writes_nothing(fresh_engine: Engine) -> None:
    with unit_of_work(fresh_engine, readonly=True) as session:
        assert count(session) == 0
        assert str(audit.verify(session, key=KEY)).startswith("audit chain intact: 0 records")


def test_a_later_migration_states_the_rows_it_changed_and_nothing_else(session: Session) -> None:
    """`state_rows` is how a migration that rewrote audited rows (a column filled in) tells the log."""
    jurisdiction_tree(session)
    audit.head(session)
    assert audit.state_rows(session.connection(), reason="no users here", entities=["user"], key=KEY) == 0
    session.execute(sa.text("UPDATE jurisdictions SET name = name || '（新）'"))  # what a migration might do
    assert not audit.verify(session, key=KEY).ok
    assert audit.state_rows(session.connection(), reason="names", entities=["jurisdiction"], key=KEY) == 1
    result = audit.verify(session, key=KEY)
    assert result.ok, str(result)
    assert (result.records, session.get_one(AuditRecord, 4).action) == (4, audit.UPGRADED)
