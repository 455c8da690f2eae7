"""`gongche users`: list, deactivate, rotate-token, and scopes (--jurisdiction, --agency, --office) on the command line,
with the same rules as the API (fleet.users, fleet.scopes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from fleet import users
from fleet.db import make_engine, unit_of_work
from fleet.models import AuditRecord
from tests.factories import agency, jurisdiction_tree
from tests.gongche.test_cli import Db, assert_refused, db, gongche, invoke, migrated

__all__ = ["db"]  # the fixture, shared with test_cli


def seeded(db: Db) -> None:
    migrated(db)
    engine = make_engine(db.url)
    try:
        with unit_of_work(engine) as session:
            jurisdiction_tree(session)
            agency(session, "WH-GA")
            agency(session, "WH-CG", jurisdiction="420102")
    finally:
        engine.dispose()


def token_of(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_users_list_shows_scopes_and_no_secrets(db: Db) -> None:
    seeded(db)
    tokens = [token_of(invoke("users", "add", *args)[1]) for args in (
        ("纪检-江岸", "--role", "supervisor", "--jurisdiction", "420102", "--office", "discipline"),
        ("调度-全市", "--role", "dispatcher"),
        ("申请人", "--role", "requester", "--agency", "WH-GA"),
    )]
    code, output = invoke("users", "list")
    assert code == 0, output
    rows = {line.split("\t")[0]: line.split("\t") for line in output.strip().splitlines()}
    assert rows["纪检-江岸"][1:5] == ["supervisor", "420102", "discipline", "active"]
    assert rows["调度-全市"][2] == "*"
    assert rows["申请人"][2] == "WH-GA"
    assert not any(token in output for token in tokens)


def test_deactivate_ends_the_token_at_once(db: Db) -> None:
    seeded(db)
    token = token_of(invoke("users", "add", "审批人", "--role", "approver", "--agency", "WH-CG")[1])
    code, output = invoke("users", "deactivate", "审批人", "--reason", "调离")
    assert code == 0, output
    assert "user 审批人 is deactivated" in output
    engine = make_engine(db.url)
    try:
        with unit_of_work(engine, readonly=True) as session:
            with pytest.raises(users.CredentialRefused, match="user 审批人 is deactivated"):
                users.authenticate(session, token)
            record = session.scalars(sa.select(AuditRecord).where(AuditRecord.action == "user.deactivated")).one()
            assert (record.actor, record.changes["reason"]) == ("cli (admin)", "调离")
    finally:
        engine.dispose()
    assert "审批人\tapprover\tWH-CG\t\tdeactivated" in invoke("users", "list", "--deactivated")[1]
    assert invoke("users", "list", "--active")[1].strip() == ""


def test_rotate_token_is_rotate(db: Db) -> None:
    seeded(db)
    old = token_of(invoke("users", "add", "管理员", "--role", "admin", "--jurisdiction", "420100")[1])
    code, output = invoke("users", "rotate-token", "管理员")
    assert code == 0, output
    engine = make_engine(db.url)
    try:
        with unit_of_work(engine, readonly=True) as session:
            assert users.authenticate(session, token_of(output)).name == "管理员"
            with pytest.raises(users.CredentialRefused, match="the token is unknown"):
                users.authenticate(session, old)
    finally:
        engine.dispose()


def test_refusals_name_the_rule(db: Db, tmp_path: Path) -> None:
    seeded(db)
    assert_refused(gongche("users", "add", "x", "--role", "dispatcher", "--agency", "WH-GA", "--jurisdiction",
                           "420100", url=db.url, cwd=tmp_path),
                   "a user acts for an agency or for a jurisdiction, not both")
    assert_refused(gongche("users", "add", "y", "--role", "dispatcher", "--office", "audit", url=db.url,
                           cwd=tmp_path), "only a supervisor reads for an oversight office")
    assert_refused(gongche("users", "deactivate", "nobody", url=db.url, cwd=tmp_path), "unknown user 'nobody'")
