"""The ``gongche`` command: migrations, the demo, the audit chain, reports and policy files.

Domain refusals and bad input print one sentence to stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import sqlalchemy as sa
import typer
from rich.console import Console
from sqlalchemy.engine import Engine, make_url

from fleet import audit, migrate, reports
from fleet.db import make_engine, make_sessionmaker, unit_of_work
from fleet.errors import FleetError
from fleet.models import Agency
from fleet.policy import load_policy_file
from fleet.settings import get_settings

app = typer.Typer(help="Gongche 公车: dispatch and fleet management for government official vehicles.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
report_app = typer.Typer(help="Statistics reports.", no_args_is_help=True)
policy_app = typer.Typer(help="Per-jurisdiction policy files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
app.add_typer(policy_app, name="policy")

err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _engine() -> Engine:
    try:
        return make_engine()
    except Exception as exc:  # a malformed URL or a missing driver: say which, not how
        fail(f"cannot open GONGCHE_DATABASE_URL: {exc}")


def _migrated(engine: Engine) -> Engine:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            fail(f"database {engine.url.render_as_string(hide_password=True)} has no schema yet: "
                 f"run `gongche db upgrade`")
    return engine


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Create or migrate the schema (alembic) of GONGCHE_DATABASE_URL."""
    engine = _engine()
    migrate.upgrade(engine, revision)
    typer.echo(f"database at {engine.url.render_as_string(hide_password=True)} is at revision {revision}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Re-compute the audit chain; exit 1 naming the first broken record."""
    with unit_of_work(_migrated(_engine()), readonly=True) as session:
        result = audit.verify(session)
    if result.ok:
        typer.echo(str(result))
        return
    err.print(f"[bold red]{result}[/]", highlight=False)
    raise typer.Exit(1)


@report_app.command("annual")
def report_annual(
    year: Annotated[int, typer.Option(help="Calendar year")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write")],
    jurisdiction: Annotated[str | None, typer.Option(help="Jurisdiction code (with sub-jurisdictions)")] = None,
    agency: Annotated[str | None, typer.Option(help="Agency code (with sub-agencies)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, csv or xlsx")] = "json",
) -> None:
    """The annual statistics report (年度统计报告) of a jurisdiction or an agency."""
    chosen = next((f for f in reports.FORMATS if f == fmt), None)
    if chosen is None:
        fail(f"--format must be one of {', '.join(reports.FORMATS)}, not {fmt!r}")
    with unit_of_work(_migrated(_engine()), readonly=True) as session:
        report = reports.annual_report(session, year=year, jurisdiction=jurisdiction, agency=agency)
    output.parent.mkdir(parents=True, exist_ok=True)
    report.write(output, chosen)
    typer.echo(f"wrote {output} ({report.scope_name} {year}: {report.summary['vehicles_held']} vehicles)")


@policy_app.command("check")
def policy_check(files: Annotated[list[Path], typer.Argument(help="Policy YAML files")]) -> None:
    """Validate policy files; the first error names the file, line and field."""
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
        loaded = load_policy_file(path)
        typer.echo(f"{path}: ok (jurisdiction {loaded.jurisdiction}, overrides {', '.join(loaded.overrides) or '-'})")


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Delete the SQLite database first")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the report files")] = Path("var"),
    seed: Annotated[int, typer.Option(help="Random seed of the demo data")] = 2026,
) -> None:
    """Seed a realistic city jurisdiction, run its plan year, book a year of costs, report and verify."""
    from fleet import demo as demo_job

    url = make_url(get_settings().database_url)
    if reset:
        if url.get_backend_name() != "sqlite" or not url.database:
            fail("--reset deletes a SQLite file; point GONGCHE_DATABASE_URL at an empty database instead")
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    engine = _engine()
    migrate.upgrade(engine)
    with make_sessionmaker(engine)() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(Agency)):
            fail(f"{url.render_as_string(hide_password=True)} already holds data; run with --reset (SQLite) "
                 f"or use an empty database")
        started = time.perf_counter()
        verification = demo_job.run(session, out_dir=out, seed_value=seed, today=date.today())
    typer.echo(f"demo finished in {time.perf_counter() - started:.1f} s")
    if not verification.ok:
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except FleetError as exc:
        err.print(f"[bold red]{exc.code}:[/] {exc.detail}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
