"""Tokens expire and can be rotated; a driver user whose driver record is deactivated may no longer drive.

Through the API on the seeded city (SQLite), and through the services and the migration on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import audit, clock, drivers, migrate, users
from fleet.db import make_engine, unit_of_work
from fleet.enums import Role
from fleet.errors import InvalidState, NotFound
from fleet.models import AuditRecord, User
from fleet.schemas import DriverIn
from fleet.settings import get_settings
from fleet.users import CredentialRefused
from tests.api.conftest import Api, trip_body
from tests.conftest import postgres_schema
from tests.factories import ADMIN


def _expire(engine: Engine, name: str) -> None:
    """Move a user's token expiry into the past, as time passing would."""
    with engine.begin() as conn:
        conn.execute(sa.update(User).where(User.name == name).values(
            token_expires_at=clock.now() - timedelta(seconds=1)))


class TestThroughTheApi:
    def test_an_expired_token_is_401_saying_so_and_distinct_from_unknown(self, api: Api, city_engine: Engine) -> None:
        assert api.as_("requester-a").get("/trips").status_code == 200
        _expire(city_engine, "requester-a")
        r = api.as_("requester-a").get("/trips")
        assert r.status_code == 401
        assert r.headers.get("www-authenticate") == "Bearer"
        body = r.json()
        assert body["error"] == "Unauthenticated"
        assert "the token of user requester-a expired on " in body["detail"]
        assert "gongche users rotate requester-a" in body["detail"]
        unknown = api.client.get("/api/v1/trips", headers={"Authorization": "Bearer gc_not-a-token"})
        assert unknown.status_code == 401
        assert unknown.json()["detail"] == "the token is unknown"
        assert api.as_("requester-b").get("/trips").status_code == 200  # the others' tokens still work

    def test_a_rotated_token_replaces_the_old_one_at_once(self, api: Api, city_engine: Engine) -> None:
        _expire(city_engine, "approver-a")
        with unit_of_work(city_engine) as session:
            _, fresh = users.rotate_token(session, ADMIN, name="approver-a")
        old = api.as_("approver-a").get("/trips")
        assert old.status_code == 401
        assert old.json()["detail"] == "the token is unknown"
        r = api.client.get("/api/v1/trips", headers={"Authorization": f"Bearer {fresh}"})
        assert r.status_code == 200, r.text

    def test_a_deactivated_users_token_is_401_saying_so(self, api: Api, city_engine: Engine) -> None:
        with city_engine.begin() as conn:
            conn.execute(sa.update(User).where(User.name == "supervisor").values(active=False))
        r = api.as_("supervisor").get("/trips")
        assert r.status_code == 401
        assert r.json()["detail"] == "user supervisor is deactivated"

    def test_a_driver_whose_record_is_deactivated_can_neither_start_nor_complete(self, api: Api) -> None:
        def assigned() -> int:
            trip = api.as_("requester-a").post("/trips", json=trip_body()).json()
            assert api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"}).status_code == 200
            r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={
                "vehicle_id": api.city.vehicles["le-a1"], "driver_id": api.city.drivers["driver-a"]})
            assert r.status_code == 200, r.text
            return int(trip["id"])

        started = assigned()
        r = api.as_("driver-a").post(f"/trips/{started}/start", json={"odometer_km": 100})
        assert r.status_code == 200, r.text
        driver_id = api.city.drivers["driver-a"]
        r = api.as_("admin").post(f"/drivers/{driver_id}/deactivate", json={"reason": "调离"})
        assert r.status_code == 200, r.text

        for url, body in ((f"/trips/{started}/complete", {"odometer_km": 120}),
                          (f"/trips/{started}/start", {"odometer_km": 100}), ("/trips", None)):
            r = api.as_("driver-a").post(url, json=body) if body else api.as_("driver-a").get(url)
            assert r.status_code == 403, (url, r.text)
            assert r.json()["error"] == "Forbidden"
            assert r.json()["detail"] == (f"driver record driver-a (id {driver_id}) is deactivated: "
                                          f"user driver-a may no longer drive")
        assert api.as_("dispatcher").get(f"/trips/{started}").json()["status"] == "in_progress"


class TestServices:
    """The same rules on both databases: the expiry instant compared, the rotation stored, the driver looked up."""

    def test_expiry_rotation_and_audit(self, session: Session) -> None:
        user, token = users.add_user(session, ADMIN, name="tok-1", role=Role.dispatcher, days=3)
        now = clock.now()
        assert timedelta(days=3) - timedelta(minutes=1) < user.token_expires_at - now <= timedelta(days=3)
        assert users.authenticate(session, token).id == user.id
        with pytest.raises(CredentialRefused, match="the token of user tok-1 expired on") as refused:
            users.authenticate(session, token, now=now + timedelta(days=3, seconds=1))
        assert refused.value.status == 401
        _, fresh = users.rotate_token(session, ADMIN, name="tok-1")
        with pytest.raises(CredentialRefused, match=r"^the token is unknown$"):
            users.authenticate(session, token)
        assert users.authenticate(session, fresh, now=now + timedelta(days=89)).id == user.id
        session.refresh(user)
        assert user.token_expires_at - now > timedelta(days=89)  # the setting's default, 90
        actions = session.scalars(sa.select(AuditRecord.action).where(
            AuditRecord.entity == "user", AuditRecord.entity_id == str(user.id)).order_by(AuditRecord.seq)).all()
        assert actions == ["user.added", "user.token_rotated"]

    def test_the_lifetime_is_a_setting(self, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GONGCHE_TOKEN_DAYS", "7")
        get_settings.cache_clear()
        try:
            user, _ = users.add_user(session, ADMIN, name="tok-2", role=Role.supervisor)
        finally:
            get_settings.cache_clear()
        assert timedelta(days=6) < user.token_expires_at - clock.now() <= timedelta(days=7)

    def test_a_deactivated_user_is_neither_let_in_nor_rotated(self, session: Session) -> None:
        user, token = users.add_user(session, ADMIN, name="tok-3", role=Role.admin)
        user.active = False
        session.flush()
        with pytest.raises(CredentialRefused, match=r"^user tok-3 is deactivated$"):
            users.authenticate(session, token)
        with pytest.raises(InvalidState, match="tok-3 is deactivated"):
            users.rotate_token(session, ADMIN, name="tok-3")
        with pytest.raises(NotFound, match="unknown user 'nobody'"):
            users.rotate_token(session, ADMIN, name="nobody")

    def test_a_driver_record_deactivated_ends_the_users_driving(self, session: Session) -> None:
        driver = drivers.add_driver(session, ADMIN, data=DriverIn(
            name="王师傅", licence_class="C1", shift_start="07:30", shift_end="18:30"))
        user, token = users.add_user(session, ADMIN, name="tok-4", role=Role.driver, driver_id=driver.id)
        assert users.authenticate(session, token).id == user.id
        drivers.deactivate_driver(session, ADMIN, driver_id=driver.id, reason="调离")
        with pytest.raises(CredentialRefused, match=rf"driver record 王师傅 \(id {driver.id}\) is deactivated") as r:
            users.authenticate(session, token)
        assert r.value.status == 403


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own at the newest revision."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'tokens.db'}")
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("postgresql_engine")
    with postgres_schema("gongche_tokens") as engine:
        yield engine


def test_the_migration_gives_existing_tokens_a_full_lifetime_and_the_chain_verifies(
    database: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GONGCHE_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    get_settings.cache_clear()
    with unit_of_work(database) as session:
        _, token = users.add_user(session, ADMIN, name="old-hand", role=Role.dispatcher, days=1)
    migrate.downgrade(database, "0003")  # back to before tokens expired, the user's row kept
    migrate.upgrade(database)
    with unit_of_work(database) as session:
        user = users.authenticate(session, token)
        left = user.token_expires_at - datetime.now(UTC)  # the migration reads the database's clock, not the platform's
        assert timedelta(days=89) < left <= timedelta(days=90)  # a full lifetime, whatever it had before
        # a user added after the migration gets its own expiry, not the migration's constant
        added, _ = users.add_user(session, ADMIN, name="new-hand", role=Role.dispatcher, days=1)
    assert added.token_expires_at - clock.now() <= timedelta(days=1)
    with unit_of_work(database, readonly=True) as session:
        verdict = audit.verify_against(session, None)
    get_settings.cache_clear()
    assert verdict.ok, str(verdict)
