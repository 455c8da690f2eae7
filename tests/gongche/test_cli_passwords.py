"""``gongche users add --password`` / ``--password-stdin`` and ``gongche users password``: the password set is the
one sign-in takes, standard input is read as one line, and bad input exits 2 with one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from fleet import users
from fleet.db import make_engine, unit_of_work
from fleet.models import AuditRecord, User
from gongche.cli import app
from tests.gongche.test_cli import Db, assert_refused, db, gongche, invoke, migrated

__all__ = ["db"]  # the fixture, shared with test_cli


def signs_in(db: Db, name: str, password: str) -> bool:
    """Whether ``name`` signs in with ``password`` (a refusal other than a wrong password fails the test)."""
    engine = make_engine(db.url)
    refused: users.CredentialRefused | None = None
    try:
        users.sign_in(engine, name, password, None)
    except users.CredentialRefused as exc:
        refused = exc
    finally:
        engine.dispose()
    if refused is not None:
        assert refused.status == 401, refused.detail
    return refused is None


def stdin(*args: str, text: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=text)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


class TestAdd:
    def test_add_with_a_password_still_prints_the_token(self, db: Db) -> None:
        migrated(db)
        code, output = invoke("users", "add", "调度员", "--role", "dispatcher", "--password", "调度员的密码-2030")
        assert code == 0, output
        line, token = output.strip().splitlines()
        assert "created; it signs in with the password given; its token, shown once, works until" in line
        assert token.startswith(users.TOKEN_PREFIX)
        assert signs_in(db, "调度员", "调度员的密码-2030")
        assert not signs_in(db, "调度员", "another password")

    def test_add_reads_the_password_from_stdin(self, db: Db) -> None:
        migrated(db)
        code, output = stdin("users", "add", "审计员", "--role", "supervisor", "--password-stdin",
                             text=" spaces kept 2030 \r\n")
        assert code == 0, output
        assert signs_in(db, "审计员", " spaces kept 2030 ")

    def test_add_without_a_password_cannot_sign_in(self, db: Db) -> None:
        migrated(db)
        assert invoke("users", "add", "接口用户", "--role", "supervisor")[0] == 0
        assert not signs_in(db, "接口用户", "")
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine, readonly=True) as session:
                assert session.scalar(sa.select(User.password_hash).where(User.name == "接口用户")) is None
        finally:
            engine.dispose()

    def test_a_short_password_exits_2_and_adds_nobody(self, db: Db, tmp_path: Path) -> None:
        migrated(db)
        run = gongche("users", "add", "新人", "--role", "admin", "--password", "short", url=db.url, cwd=tmp_path)
        assert_refused(run, "InvalidInput", "a password has at least 10 characters; this one has 5")
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine, readonly=True) as session:
                assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        finally:
            engine.dispose()

    def test_both_ways_of_giving_it_exit_2(self, db: Db, tmp_path: Path) -> None:
        migrated(db)
        run = gongche("users", "add", "新人", "--role", "admin", "--password", "long enough 2030", "--password-stdin",
                      url=db.url, cwd=tmp_path)
        assert_refused(run, "either with --password or on standard input")


class TestPassword:
    def test_password_from_stdin_replaces_the_old_one_and_is_audited(self, db: Db) -> None:
        migrated(db)
        assert invoke("users", "add", "司机甲", "--role", "supervisor", "--password", "first password 1")[0] == 0
        code, output = stdin("users", "password", "司机甲", text="second password 2\n")
        assert code == 0, output
        assert "user 司机甲 has a new password; its browser sessions have ended" in output
        assert signs_in(db, "司机甲", "second password 2")
        assert not signs_in(db, "司机甲", "first password 1")
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine, readonly=True) as session:
                recorded = session.scalars(sa.select(AuditRecord.action).order_by(AuditRecord.seq)).all()
        finally:
            engine.dispose()
        assert recorded[-2:] == ["user.password_set", "user.signed_in"]
        assert invoke("audit", "verify")[0] == 0

    def test_password_option(self, db: Db) -> None:
        migrated(db)
        assert invoke("users", "add", "管理员", "--role", "admin")[0] == 0
        assert invoke("users", "password", "管理员", "--password", "given on the line")[0] == 0
        assert signs_in(db, "管理员", "given on the line")

    @pytest.mark.parametrize(("args", "text", "fragments"), [
        (["--password", "too short"], None, ("InvalidInput", "at least 10 characters; this one has 9")),
        ([], "", ("standard input is empty",)),
        ([], "short\n", ("InvalidInput", "at least 10 characters; this one has 5")),
        (["--password", "x" * 201], None, ("InvalidInput", "at most 200 characters")),
    ], ids=["short option", "empty stdin", "short stdin", "too long"])
    def test_bad_input_exits_2(self, db: Db, tmp_path: Path, args: list[str], text: str | None,
                               fragments: tuple[str, ...]) -> None:
        migrated(db)
        assert invoke("users", "add", "审计员", "--role", "supervisor", "--password", "the first one 1")[0] == 0
        run = gongche("users", "password", "审计员", *args, url=db.url, cwd=tmp_path, stdin=text)
        assert_refused(run, *fragments)
        assert signs_in(db, "审计员", "the first one 1")

    def test_an_unknown_user_exits_2(self, db: Db, tmp_path: Path) -> None:
        migrated(db)
        run = gongche("users", "password", "nobody", "--password", "long enough 2030", url=db.url, cwd=tmp_path)
        assert_refused(run, "NotFound", "unknown user 'nobody'")
