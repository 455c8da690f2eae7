"""The ``gongche`` command: success paths in-process (typer's CliRunner), refusals through the real console
entry point in a subprocess (``python -m gongche.cli``), where a domain error must exit 2 with one sentence on stderr
and never a traceback."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fleet import migrate, users
from fleet.clock import local_text
from fleet.clock import today as china_today  # China's date: after 16:00 UTC it is already tomorrow
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category, PlanStatus
from fleet.migrate import upgrade
from fleet.models import AuditRecord, Disposal, Plan, Vehicle
from fleet.settings import get_settings
from gongche.cli import app
from gongche.demo import registry_year as demo
from tests.factories import THIS_YEAR, agency, jurisdiction_tree

ROOT = Path(__file__).resolve().parents[2]
POLICY_EXAMPLE = ROOT / "docs" / "policy-example.yaml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Db:
    url: str
    path: Path


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Db]:
    """An SQLite file named by GONGCHE_DATABASE_URL, with the settings cache cleared around the test.

    The audit checkpoints and their key go to the test's folder too: a checkpoint the demo left in ``var/`` must
    not be read as this database's.
    """
    path = tmp_path / "x.db"
    url = f"sqlite:///{path}"
    monkeypatch.setenv("GONGCHE_DATABASE_URL", url)
    monkeypatch.setenv("GONGCHE_AUDIT_CHECKPOINT_FILE", str(tmp_path / "checkpoints.jsonl"))
    monkeypatch.setenv("GONGCHE_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    get_settings.cache_clear()
    yield Db(url, path)
    get_settings.cache_clear()


def migrated(db: Db) -> None:
    engine = make_engine(db.url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    raw_stderr: str


def gongche(*args: str, url: str, cwd: Path, timeout: float = 60, stdin: str | None = None) -> Run:
    """Run the real console entry point (``stdin``: the text on its standard input); stderr is also given with
    colours stripped and lines re-joined (rich wraps long messages at the console width)."""
    done = subprocess.run([sys.executable, "-m", "gongche.cli", *args], env={**os.environ, "GONGCHE_DATABASE_URL": url},
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, input=stdin)
    return Run(done.returncode, done.stdout, " ".join(ANSI.sub("", done.stderr).split()), done.stderr)


def assert_refused(run: Run, *fragments: str) -> None:
    assert run.returncode == 2, run.raw_stderr
    assert "Traceback" not in run.raw_stderr
    for fragment in fragments:
        assert fragment in run.stderr, run.raw_stderr


class TestDb:
    def test_upgrade_creates_the_schema(self, db: Db) -> None:
        code, output = invoke("db", "upgrade")
        assert code == 0, output
        assert "is at revision head" in output
        engine = make_engine(db.url)
        try:
            tables = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert {"alembic_version", "jurisdictions", "agencies", "vehicles", "audit_log", "cost_entries"} <= tables

    def test_audit_verify_on_a_fresh_database_is_intact(self, db: Db) -> None:
        migrated(db)
        code, output = invoke("audit", "verify")
        assert code == 0, output
        assert "audit chain intact: 0 records" in output

    def test_audit_verify_counts_the_records_written(self, db: Db) -> None:
        migrated(db)
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine) as session:
                jurisdiction_tree(session)
        finally:
            engine.dispose()
        code, output = invoke("audit", "verify")
        assert code == 0, output
        assert "audit chain intact: 3 records" in output

    def test_audit_verify_names_a_row_changed_behind_the_logs_back(self, db: Db, tmp_path: Path) -> None:
        migrated(db)
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine) as session:
                jurisdiction_tree(session)
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE jurisdictions SET name = '别处' WHERE code = '420100'"))
        finally:
            engine.dispose()
        run = gongche("audit", "verify", url=db.url, cwd=tmp_path)
        assert run.returncode == 1, run.raw_stderr
        assert "state differs from the audit log: jurisdictions row 2" in run.stderr
        assert "audit record #2" in run.stderr


class TestReportCommand:
    def test_report_annual_writes_the_chosen_format(self, db: Db, tmp_path: Path) -> None:
        migrated(db)
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine) as session:
                jurisdiction_tree(session)
                agency(session, "WH-GA", quotas={Category.general: 3})
        finally:
            engine.dispose()
        out = tmp_path / "reports" / "nested" / "annual.csv"
        code, output = invoke("report", "annual", "--year", str(THIS_YEAR), "--jurisdiction", "420100",
                              "--format", "csv", "-o", str(out))
        assert code == 0, output
        assert f"(武汉市 {THIS_YEAR}: 0 vehicles)" in output
        lines = out.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "section,metric,value"
        assert "summary,quota_total,3" in lines
        assert "quota_use,WH-GA,单位 WH-GA,general,3,0,0.0,False" in lines

    def test_report_annual_on_an_unmigrated_database_says_to_upgrade(self, db: Db, tmp_path: Path) -> None:
        run = gongche("report", "annual", "--year", "2026", "--jurisdiction", "420100", "-o", "out.json",
                      url=db.url, cwd=tmp_path)
        assert_refused(run, "has no schema yet", "run `gongche db upgrade`")
        assert not (tmp_path / "out.json").exists()

    def test_an_unknown_format_is_refused_naming_the_allowed_ones(self, db: Db, tmp_path: Path) -> None:
        run = gongche("report", "annual", "--year", "2026", "--jurisdiction", "420100", "--format", "pdf",
                      "-o", "out.pdf", url=db.url, cwd=tmp_path)
        assert_refused(run, "--format must be one of json, csv, xlsx", "'pdf'")

    @pytest.mark.parametrize(("scope", "fragments"), [
        (["--jurisdiction", "NOPE"], ["NotFound", "unknown jurisdiction 'NOPE'"]),
        (["--agency", "NOPE"], ["NotFound", "unknown agency 'NOPE'"]),
        (["--jurisdiction", "420100", "--agency", "WH-GA"], ["InvalidInput", "exactly one of jurisdiction or agency"]),
        ([], ["InvalidInput", "exactly one of jurisdiction or agency"]),
    ])
    def test_a_domain_error_exits_2_with_one_sentence(self, db: Db, tmp_path: Path, scope: list[str],
                                                       fragments: list[str]) -> None:
        migrated(db)
        run = gongche("report", "annual", "--year", "2026", *scope, "-o", "out.json", url=db.url, cwd=tmp_path)
        assert_refused(run, *fragments)
        assert not (tmp_path / "out.json").exists()


class TestUsersCommand:
    def test_add_prints_when_the_token_expires(self, db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
        migrated(db)
        monkeypatch.setenv("GONGCHE_TOKEN_DAYS", "30")
        get_settings.cache_clear()
        code, output = invoke("users", "add", "调度员", "--role", "dispatcher")
        assert code == 0, output
        line, token = output.strip().splitlines()
        expires = local_text(datetime.now(UTC) + timedelta(days=30))[:10]
        assert f"its token, shown once, works until {expires} " in line
        assert token.startswith(users.TOKEN_PREFIX)
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine, readonly=True) as session:
                assert users.authenticate(session, token).name == "调度员"
        finally:
            engine.dispose()

    def test_rotate_prints_a_new_token_and_the_old_one_stops(self, db: Db) -> None:
        migrated(db)
        token = invoke("users", "add", "审批人", "--role", "supervisor")[1].strip().splitlines()[-1]
        code, output = invoke("users", "rotate", "审批人")
        assert code == 0, output
        line, fresh = output.strip().splitlines()
        assert "user 审批人 has a new token, shown once, working until " in line
        assert "the old one no longer works" in line
        engine = make_engine(db.url)
        try:
            with unit_of_work(engine, readonly=True) as session:
                assert users.authenticate(session, fresh).name == "审批人"
                with pytest.raises(users.CredentialRefused, match="the token is unknown"):
                    users.authenticate(session, token)
                actions = session.scalars(sa.select(AuditRecord.action).order_by(AuditRecord.seq)).all()
        finally:
            engine.dispose()
        assert actions[-2:] == ["user.added", "user.token_rotated"]
        assert invoke("audit", "verify")[0] == 0

    def test_rotating_an_unknown_user_exits_2_with_one_sentence(self, db: Db, tmp_path: Path) -> None:
        migrated(db)
        assert_refused(gongche("users", "rotate", "nobody", url=db.url, cwd=tmp_path), "NotFound",
                       "unknown user 'nobody'")


class TestPolicyCommand:
    def test_the_example_policy_file_is_valid(self) -> None:
        code, output = invoke("policy", "check", str(POLICY_EXAMPLE))
        assert code == 0, output
        assert "ok (jurisdiction 420100, overrides" in output
        assert "renewal_years" in output

    def test_a_bad_file_is_refused_with_file_line_and_field(self, db: Db, tmp_path: Path) -> None:
        (tmp_path / "bad.yaml").write_text('jurisdiction: "1"\nrenewal_years: -1\n', encoding="utf-8")
        run = gongche("policy", "check", "bad.yaml", url=db.url, cwd=tmp_path)
        assert_refused(run, "PolicyError", "bad.yaml:2:", "renewal_years")

    def test_a_missing_file_is_refused(self, db: Db, tmp_path: Path) -> None:
        run = gongche("policy", "check", str(POLICY_EXAMPLE), "missing.yaml", url=db.url, cwd=tmp_path)
        assert_refused(run, "missing.yaml: no such file")
        assert "policy-example.yaml: ok" in run.stdout  # files before the missing one were checked


class TestDemo:
    def test_reset_refuses_a_database_that_is_not_sqlite(self, tmp_path: Path) -> None:
        run = gongche("demo", "--reset", "--out", "out", url="postgresql+psycopg://nobody@127.0.0.1:1/none",
                      cwd=tmp_path)
        assert_refused(run, "--reset deletes a SQLite file")
        assert not (tmp_path / "out").exists()

    def test_the_demo_runs_reports_and_leaves_a_verifiable_chain(self, db: Db, tmp_path: Path) -> None:
        out = tmp_path / "out"
        run = gongche("demo", "--reset", "--out", str(out), url=db.url, cwd=tmp_path, timeout=900)
        assert run.returncode == 0, run.raw_stderr
        assert "Traceback" not in run.raw_stderr
        for fragment in ("audit chain intact", "Plan 3 refused", "new_energy_share", "POST /dispatch run",
                         "answered with", "GET /violations", "overdriven", "GET /audit/verify: intact",
                         "Scenarios on", "separate agency fleets",
                         # issue 14: the calendar's end, 机构改革, reminders, the statement, scopes, the rules tried
                         "/healthz warns", "机构改革: ", "Reminders due by", "balanced to the fen",
                         "Who sees what", "409 RegistrationRefused", "403 NotPermitted",
                         # issue 15: the day driven by terminals, each planted misuse found from the track
                         "acknowledged after they were stored", "Planted misuse found from the track: 5 of 5"):
            # On a miss, the terminals' part of the output (the planted misuse table) says which and why.
            assert fragment in run.stdout, run.stdout[run.stdout.find("Terminals ("):][:6000]
        (results,) = (out / "scenarios").glob("*-registry")  # the registry's fleet and day, simulated
        assert "| registry | registry-separate | registry-cut-30 |" in (results / "comparison.md").read_text()
        assert (results / "frontier.png").stat().st_size > 0
        year = china_today().year
        files = {fmt: out / f"annual-{year}-420100.{fmt}" for fmt in ("xlsx", "json", "csv")}
        assert all(p.is_file() and p.stat().st_size > 0 for p in files.values()), sorted(out.iterdir())
        summary = json.loads(files["json"].read_text(encoding="utf-8"))["summary"]
        assert 250 <= summary["vehicles_held"] <= 350
        assert summary["additions_new_energy_pct"] >= 30
        verify = gongche("audit", "verify", url=db.url, cwd=tmp_path)
        assert verify.returncode == 0, verify.raw_stderr
        assert "audit chain intact" in verify.stdout
        again = gongche("demo", "--out", str(out), url=db.url, cwd=tmp_path)
        assert_refused(again, "already holds data")

    @pytest.mark.parametrize("day", [(1, 1), (2, 10)], ids=["new-year", "february"])
    def test_the_whole_demo_runs_early_in_the_year(self, tmp_path: Path, day: tuple[int, int]) -> None:
        """Every date the demo makes up stays within the year so far: on 1 January it still plans, renews and
        verifies (renewals dated no earlier than the replaced vehicle's renewal day)."""
        engine = make_engine(f"sqlite:///{tmp_path / 'early.db'}")
        upgrade(engine)
        today = date(THIS_YEAR, *day)
        with Session(engine) as session:
            result = demo.run(session, out_dir=tmp_path, today=today, console=Console(file=io.StringIO()))
            assert result.ok
            rejected = session.scalars(sa.select(Plan).where(Plan.status == PlanStatus.rejected)).all()
            assert len(rejected) == 1
            assert "new-energy vehicles would be" in (rejected[0].decision_note or "")
            assert session.scalar(sa.select(sa.func.max(Vehicle.acquired_on))) <= today
            assert session.scalar(sa.select(sa.func.max(Disposal.disposed_on))) <= today
        engine.dispose()
