"""The database set-up the guarantees rest on: durability settings, migrations, atomic units of work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from fleet import vehicles
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category
from fleet.errors import QuotaExceeded
from fleet.migrate import downgrade, upgrade
from fleet.models import AuditRecord, Base, Vehicle
from tests.factories import ADMIN, agency, jurisdiction_tree, vehicle_in


class TestDurability:
    def test_sqlite_runs_wal_with_full_sync_and_foreign_keys(self, sqlite_engine: Engine) -> None:
        """NORMAL sync can lose acknowledged commits on power loss; this fails if anyone relaxes it."""
        with sqlite_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

    @pytest.mark.postgres
    def test_postgresql_commits_synchronously(self, postgresql_engine: Engine) -> None:
        with postgresql_engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"

    def test_sqlite_writers_take_the_write_lock_at_begin(self, sqlite_engine: Engine) -> None:
        """BEGIN IMMEDIATE: while one transaction is open, another writer cannot even begin."""
        path = sqlite_engine.url.database
        assert path is not None
        with sqlite_engine.connect() as first:
            first.begin()
            other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()


class TestMigrations:
    def test_models_and_migrations_agree(self, engine: Engine) -> None:
        """A model changed without a migration fails here (on both databases)."""
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

    def test_downgrade_to_base_and_up_again(self, tmp_path: Path) -> None:
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        upgrade(engine)
        downgrade(engine, "base")
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) == {"alembic_version"}
        upgrade(engine)
        with engine.connect() as conn:
            assert "audit_log" in sa.inspect(conn).get_table_names()
            triggers = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all()
        assert set(triggers) == {"audit_log_no_update", "audit_log_no_delete"} | {
            f"assignments_no_{column}_overlap_{event}" for column in ("vehicle_id", "driver_id")
            for event in ("insert", "update")}
        engine.dispose()

    @pytest.mark.postgres
    def test_postgresql_refuses_truncating_the_audit_log(self, postgresql_engine: Engine) -> None:
        with postgresql_engine.connect() as conn, conn.begin(), \
                pytest.raises(sa.exc.DatabaseError, match="append-only"):
            conn.execute(sa.text("TRUNCATE audit_log"))


class TestUnitOfWork:
    def test_an_exception_in_the_block_stores_nothing(self, fresh_engine: Engine) -> None:
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
            agency(session, "WH-GA", quotas={Category.general: 5})
        def crash_after_the_write() -> None:
            with unit_of_work(fresh_engine) as session:
                vehicles.register(session, ADMIN, agency="WH-GA", data=vehicle_in())
                raise RuntimeError("crash after the write")

        with pytest.raises(RuntimeError, match="crash after the write"):
            crash_after_the_write()
        with unit_of_work(fresh_engine, readonly=True) as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) == 0
            actions = session.scalars(sa.select(AuditRecord.action)).all()
            assert "vehicle.registered" not in actions

    def test_a_refused_service_keeps_the_callers_earlier_work(self, fresh_engine: Engine) -> None:
        """Services are SAVEPOINTs: the refusal undoes only itself, and the caller may still commit."""
        with unit_of_work(fresh_engine) as session:
            jurisdiction_tree(session)
            agency(session, "WH-GA", quotas={Category.general: 1})
            vehicles.register(session, ADMIN, agency="WH-GA", data=vehicle_in())
            with pytest.raises(QuotaExceeded, match="quota of 1"):
                vehicles.register(session, ADMIN, agency="WH-GA", data=vehicle_in())
        with unit_of_work(fresh_engine, readonly=True) as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) == 1
