"""The audit trail holds: read-only over HTTP, append-only in the database, and tampering behind the triggers'
back — an altered row, a cut tail, a chain rewritten whole — is found and named."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fleet import audit
from fleet.db import unit_of_work
from fleet.migrate import grant_application_role
from fleet.settings import get_settings
from tests.api.conftest import Api, trip_body
from tests.conftest import TEST_AUDIT_KEY, postgres_schema


@pytest.fixture
def checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "checkpoints.jsonl"
    monkeypatch.setenv("GONGCHE_AUDIT_CHECKPOINT_FILE", str(path))
    monkeypatch.setenv("GONGCHE_AUDIT_KEY", TEST_AUDIT_KEY)  # the key the city's records were MAC'd with
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def raw(engine: Engine) -> sqlite3.Connection:
    """A plain sqlite3 connection with the append-only triggers dropped: what an attacker with the file can do."""
    assert engine.url.database is not None
    conn = sqlite3.connect(engine.url.database, isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    return conn


def some_bookings(api: Api, n: int = 3) -> None:
    for _ in range(n):
        assert api.as_("requester-a").post("/trips", json=trip_body()).status_code == 201


def checkpoint(engine: Engine) -> audit.Checkpoint:
    settings = get_settings()
    with unit_of_work(engine, readonly=True) as session:
        return audit.write_checkpoint(session, settings.audit_checkpoint_file, TEST_AUDIT_KEY.encode())


class TestVerify:
    def test_an_untouched_chain_verifies(self, api: Api, checkpoints: Path) -> None:
        some_bookings(api)
        body = api.as_("supervisor").get("/audit/verify").json()
        assert body["ok"] is True
        assert body["broken_seq"] is None

    def test_the_database_refuses_to_change_the_log(self, api: Api, city_engine: Engine) -> None:
        some_bookings(api, 1)
        with city_engine.connect() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
            conn.execute(sa.text("UPDATE audit_log SET actor = 'someone else' WHERE seq = 1"))

    def test_a_row_altered_behind_the_triggers_back_is_named(self, api: Api, city_engine: Engine,
                                                             checkpoints: Path) -> None:
        some_bookings(api)
        conn = raw(city_engine)
        conn.execute("""UPDATE audit_log SET changes = json_set(changes, '$.purpose', '私事')
                        WHERE seq = (SELECT seq FROM audit_log WHERE action = 'trip.booked' ORDER BY seq LIMIT 1)""")
        altered = conn.execute("SELECT min(seq) FROM audit_log WHERE action = 'trip.booked'").fetchone()[0]
        conn.close()
        body = api.as_("supervisor").get("/audit/verify").json()
        assert body["ok"] is False
        assert body["broken_seq"] == altered
        assert "altered" in body["reason"]

    def test_a_cut_tail_is_found_against_the_checkpoint(self, api: Api, city_engine: Engine,
                                                        checkpoints: Path) -> None:
        some_bookings(api)
        point = checkpoint(city_engine)
        conn = raw(city_engine)
        conn.execute("DELETE FROM audit_log WHERE seq > ?", (point.seq - 2,))
        conn.close()
        body = api.as_("supervisor").get("/audit/verify").json()
        assert body["ok"] is False
        assert "cut from its tail" in body["reason"]
        assert body["checkpoint"]["seq"] == point.seq

    def test_a_chain_rewritten_whole_is_found_against_the_checkpoint(self, api: Api, city_engine: Engine,
                                                                     checkpoints: Path) -> None:
        """Someone rewrites a record and re-computes every hash after it: the chain verifies on its own, but the
        first rewritten record's MAC no longer fits (the checkpoint alone would only have told at its own record)."""
        some_bookings(api)
        checkpoint(city_engine)
        conn = raw(city_engine)
        rows = conn.execute("SELECT seq, actor, action, entity, entity_id, changes, state FROM audit_log ORDER BY seq")
        prev = audit.GENESIS
        rewritten = []
        for seq, actor, action, entity, entity_id, changes, state in rows.fetchall():
            if action == "trip.booked":
                actor = "nobody (requester)"
            with unit_of_work(city_engine, readonly=True) as session:
                stamp = session.get(audit.AuditRecord, seq).at
            digest = audit.compute_hash(seq=seq, at=stamp, actor=actor, action=action, entity=entity,
                                        entity_id=entity_id, changes=json.loads(changes), prev_hash=prev,
                                        state=None if state is None else json.loads(state))
            rewritten.append((actor, prev, digest, seq))
            prev = digest
        first_altered = conn.execute("SELECT min(seq) FROM audit_log WHERE action = 'trip.booked'").fetchone()[0]
        conn.executemany("UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?", rewritten)
        conn.close()
        with unit_of_work(city_engine, readonly=True) as session:
            assert audit.verify(session).ok  # the chain alone cannot tell
        body = api.as_("supervisor").get("/audit/verify").json()
        assert body["ok"] is False
        assert body["broken_seq"] == first_altered
        assert "rewritten" in body["reason"]

    def test_a_trip_changed_behind_the_logs_back_is_named(self, api: Api, city_engine: Engine,
                                                          checkpoints: Path) -> None:
        """The chain is intact; the row is not what its last record says it was made."""
        some_bookings(api, 2)
        conn = raw(city_engine)
        trip = conn.execute("SELECT max(id) FROM trips").fetchone()[0]
        conn.execute("UPDATE trips SET purpose = '私事' WHERE id = ?", (trip,))
        conn.close()
        body = api.as_("supervisor").get("/audit/verify").json()
        assert body["ok"] is False
        assert (body["table"], body["row_id"]) == ("trips", str(trip))
        assert body["broken_seq"] == body["head_seq"]  # the trip's booking, the last record
        assert f"trips row {trip}" in body["reason"]

    def test_a_forged_checkpoint_is_refused(self, api: Api, city_engine: Engine, checkpoints: Path) -> None:
        some_bookings(api)
        checkpoint(city_engine)
        row = json.loads(checkpoints.read_text())
        row["seq"] = 1
        checkpoints.write_text(json.dumps(row) + "\n")
        body = api.as_("supervisor").get("/audit/verify").json()
        assert body["ok"] is False
        assert "line 1" in body["reason"]
        assert "HMAC" in body["reason"]


class TestTrail:
    def test_the_trail_filters_by_entity_actor_and_action(self, api: Api) -> None:
        some_bookings(api, 2)
        body = api.as_("supervisor").get("/audit", params={"actor": "requester-a", "action": "trip.booked"}).json()
        assert body["total"] == 2
        assert {item["entity"] for item in body["items"]} == {"trip"}

    def test_the_trail_has_no_write_route(self, api: Api) -> None:
        for method in ("post", "put", "patch", "delete"):
            assert getattr(api.as_("admin"), method)("/audit").status_code == 405


@pytest.mark.postgres
def test_the_application_role_may_only_read_and_append_the_audit_log(postgresql_engine: Engine) -> None:
    """On PostgreSQL the API's role has SELECT and INSERT on audit_log and nothing else, triggers aside."""
    with postgres_schema("gongche_grant") as engine:
        grant_application_role(engine, "gongche_app_test")
        with engine.connect() as conn:
            conn.execute(sa.text("SET ROLE gongche_app_test"))
            assert conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one() == 0
            for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
                with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                    conn.execute(sa.text(statement))
                conn.rollback()
                conn.execute(sa.text("SET ROLE gongche_app_test"))
            conn.execute(sa.text(
                "INSERT INTO audit_log (seq, at, actor, action, entity, entity_id, changes, prev_hash, hash) "
                "VALUES (1, now(), 'a', 'b', 'c', '1', '{}', :g, 'h')"), {"g": audit.GENESIS})
            conn.execute(sa.text("INSERT INTO jurisdictions (code, name, level) VALUES ('1', 'x', 'city')"))
            conn.rollback()
