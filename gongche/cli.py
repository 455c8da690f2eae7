"""The ``gongche`` command: migrations, the demo, the audit chain, reports, policy files and scenario exports.

Domain refusals and bad input print one sentence to stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import sqlalchemy as sa
import typer
import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine, make_url

from fleet import audit, clock, migrate, queries, reminders, reports, users
from fleet.audit import Actor
from fleet.clock import local_date, local_text
from fleet.db import make_engine, make_sessionmaker, unit_of_work
from fleet.enums import OversightOffice, Role
from fleet.errors import FleetError
from fleet.i18n import msg
from fleet.models import Agency, utcnow
from fleet.policy import load_policy_file
from fleet.scopes import WHOLE
from fleet.settings import audit_key, get_settings

app = typer.Typer(help="Gongche 公车: dispatch and fleet management for government official vehicles.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
report_app = typer.Typer(help="Statistics reports.", no_args_is_help=True)
policy_app = typer.Typer(help="Per-jurisdiction policy files.", no_args_is_help=True)
users_app = typer.Typer(help="API users and their tokens.", no_args_is_help=True)
terminals_app = typer.Typer(help="Registered JT/T 808 terminals.", no_args_is_help=True)
fleet_app = typer.Typer(help="The fleet held, as scenario input.", no_args_is_help=True)
trips_app = typer.Typer(help="Booked trips, as scenario input.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
app.add_typer(policy_app, name="policy")
app.add_typer(users_app, name="users")
app.add_typer(terminals_app, name="terminals")
app.add_typer(fleet_app, name="fleet")
app.add_typer(trips_app, name="trips")

# soft_wrap: a refusal is one line however long the path it names (rich cut "a-file/out" into "a-file/ou t" at the
# 80 columns it assumes when stderr is not a terminal).
err = Console(stderr=True, soft_wrap=True)


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
    """Re-compute the audit chain and its MACs, check it against the latest checkpoint and every audited row against
    the log; exit 1 naming the first record or row that does not fit."""
    settings = get_settings()
    key = audit_key(settings)
    try:
        point = audit.latest_checkpoint(settings.audit_checkpoint_file, key)
    except ValueError as exc:
        err.print(f"[bold red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    with unit_of_work(_migrated(_engine()), readonly=True) as session:
        result = audit.verify_against(session, point, key=key)
    if result.ok:
        typer.echo(str(result))
        return
    err.print(f"[bold red]{result}[/]", highlight=False)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Append the chain's head (sequence, hash) with an HMAC to the checkpoint file, outside the database."""
    settings = get_settings()
    with unit_of_work(_migrated(_engine()), readonly=True) as session:
        try:
            point = audit.write_checkpoint(session, settings.audit_checkpoint_file, audit_key(settings))
        except ValueError as exc:
            fail(str(exc))
    typer.echo(f"checkpoint #{point.seq} {point.hash[:16]}… written to {settings.audit_checkpoint_file}")


PASSWORD_HELP = ("its sign-in password (visible to other users of this machine in the process list: prefer "
                 "--password-stdin)")


def _password(given: str | None, from_stdin: bool, *, required: bool) -> str | None:
    """The password from --password, from standard input (--password-stdin, or when ``required`` and none was
    given: one line, or a hidden prompt on a terminal), or None."""
    if given is not None and from_stdin:
        fail("give the password either with --password or on standard input (--password-stdin), not both")
    if given is not None:
        return given
    if not from_stdin and not required:
        return None
    if sys.stdin is None or sys.stdin.closed:
        fail("no standard input to read the password from: give --password")
    if sys.stdin.isatty():
        typed: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        return typed
    line = sys.stdin.readline()
    if not line:
        fail("standard input is empty: send the password on it, one line")
    return line.removesuffix("\n").removesuffix("\r")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (unique)")],
    role: Annotated[str, typer.Option(help="requester, approver, dispatcher, driver, supervisor or admin")],
    agency: Annotated[str | None, typer.Option(help="Agency code: the agency a requester or approver acts for; "
                                                    "a dispatcher, supervisor or admin given one, that only")] = None,
    jurisdiction: Annotated[str | None, typer.Option(help="Jurisdiction code a dispatcher, supervisor or admin acts "
                                                          "for, with all below it (none: the whole platform)")] = None,
    office: Annotated[str | None, typer.Option(help="A supervisor's oversight office: discipline (纪检监察), "
                                                    "finance (财政) or audit (审计)")] = None,
    driver: Annotated[int | None, typer.Option(help="Driver id (driver users)")] = None,
    password: Annotated[str | None, typer.Option(help=PASSWORD_HELP.capitalize())] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read its sign-in password from standard input (one line)")] = False,
) -> None:
    """Create an API user and print its bearer token, once: only its hash is stored. With a password it may also
    sign in to the console. Its scope (what it sees and acts on): its agency, or its jurisdiction and all below, or
    the whole platform."""
    chosen = next((r for r in Role if r.value == role), None)
    if chosen is None:
        fail(f"--role must be one of {', '.join(r.value for r in Role)}, not {role!r}")
    body = next((o for o in OversightOffice if o.value == office), None)
    if office is not None and body is None:
        fail(f"--office must be one of {', '.join(o.value for o in OversightOffice)}, not {office!r}")
    secret = _password(password, password_stdin, required=False)
    with unit_of_work(_migrated(_engine())) as session:
        user, token = users.add_user(session, Actor("cli", "admin"), name=name, role=chosen, agency=agency,
                                     driver_id=driver, password=secret, jurisdiction=jurisdiction, office=body)
    signs_in = "; it signs in with the password given" if secret is not None else ""
    typer.echo(f"user {user.name} ({chosen.value}{f', {agency}' if agency else ''}) created{signs_in}; its token, "
               f"shown once, works until {local_text(user.token_expires_at)} (China time):")
    typer.echo(token)


@users_app.command("list")
def users_list(
    active: Annotated[bool | None, typer.Option("--active/--deactivated", help="Only active or deactivated users")
                      ] = None,
) -> None:
    """The users, by name: role, scope (agency, jurisdiction or the whole platform), office, whether active, and
    when the token expires. No token or hash is shown: only hashes are stored."""
    with unit_of_work(_migrated(_engine()), readonly=True) as session:
        found = users.list_users(session, WHOLE, active=active)
        rows = [(u.name, u.role.value, u.agency.code if u.agency else u.jurisdiction.code if u.jurisdiction
                 else f"driver {u.driver_id}" if u.driver_id else "*", u.office.value if u.office else "",
                 "active" if u.active else "deactivated", local_text(u.token_expires_at)) for u in found]
    for row in rows:
        typer.echo("\t".join(row))


@users_app.command("deactivate")
def users_deactivate(name: Annotated[str, typer.Argument(help="User name")],
                     reason: Annotated[str | None, typer.Option(help="Why, for the audit log")] = None) -> None:
    """Deactivate a user: its bearer token and its browser sessions stop working at once."""
    with unit_of_work(_migrated(_engine())) as session:
        user = users.deactivate(session, Actor("cli", "admin"), name=name, reason=reason)
    typer.echo(msg("user {name} is deactivated: its token and sessions no longer work", name=user.name))


@users_app.command("rotate-token")
@users_app.command("rotate")
def users_rotate(name: Annotated[str, typer.Argument(help="User name")]) -> None:
    """Issue a user a new bearer token (printed once); the old one stops working at once."""
    with unit_of_work(_migrated(_engine())) as session:
        user, token = users.rotate_token(session, Actor("cli", "admin"), name=name)
    typer.echo(f"user {user.name} has a new token, shown once, working until {local_text(user.token_expires_at)} "
               f"(China time); the old one no longer works:")
    typer.echo(token)


@users_app.command("password")
def users_password(
    name: Annotated[str, typer.Argument(help="User name")],
    password: Annotated[str | None, typer.Option(help=f"The new {PASSWORD_HELP}")] = None,
) -> None:
    """Set a user's sign-in password, read from standard input (one line; a hidden prompt on a terminal) unless
    --password gives it. Ends the user's browser sessions and lifts any slowdown of its sign-ins."""
    secret = _password(password, False, required=True)
    assert secret is not None
    with unit_of_work(_migrated(_engine())) as session:
        user = users.set_password(session, Actor("cli", "admin"), name, secret)
    typer.echo(f"user {user.name} has a new password; its browser sessions have ended")


@db_app.command("grant")
def db_grant(role: Annotated[str, typer.Argument(help="The PostgreSQL role the API connects as")]) -> None:
    """PostgreSQL: let ROLE read and write the registry, but only SELECT and INSERT on the audit log."""
    engine = _migrated(_engine())
    if engine.dialect.name != "postgresql":
        fail("grants are PostgreSQL's; on SQLite the triggers alone keep the audit log append-only")
    if not role.replace("_", "").isalnum():
        fail(f"role {role!r}: letters, digits and underscores only")
    migrate.grant_application_role(engine, role)
    typer.echo(f"role {role}: SELECT, INSERT on audit_log; SELECT, INSERT, UPDATE, DELETE on the rest")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    ingest: Annotated[bool, typer.Option("--ingest/--no-ingest", help="Also run the position listeners (JT/T 808, "
                                         "OsmAnd) as a child process, on the settings' ports")] = True,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs) on GONGCHE_DATABASE_URL, migrating it first."""
    import signal

    import uvicorn

    migrate.upgrade(_engine())
    watchdog = _IngestChild() if ingest else None
    # uvicorn re-raises the SIGTERM it caught once it has stopped: as an exception here, so that the child stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers)
    finally:
        if watchdog is not None:
            watchdog.stop()


class _IngestChild:
    """`gongche serve`'s ingest child (`gongche ingest`), restarted when it dies: the API without its listeners
    would go on answering while no position is taken. Each death is logged; the restart waits ``BACKOFF`` seconds,
    doubled after each quick death up to ``BACKOFF_MAX`` (a taken port is retried, not spun on), and reset once a
    child has run ``STEADY`` seconds."""

    BACKOFF, BACKOFF_MAX, STEADY, POLL = 2.0, 60.0, 60.0, 0.5

    def __init__(self, command: Sequence[str] | None = None) -> None:
        import subprocess
        import threading

        self.command = list(command or [sys.executable, "-m", "gongche.cli", "ingest"])
        self._popen = subprocess.Popen
        self._stopping = threading.Event()
        self.restarts = 0
        self.child = self._popen(self.command)
        self._thread = threading.Thread(target=self._watch, name="ingest-watchdog", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        backoff = self.BACKOFF
        started = time.monotonic()
        while not self._stopping.wait(self.POLL):
            code = self.child.poll()
            if code is None:
                continue
            if time.monotonic() - started >= self.STEADY:
                backoff = self.BACKOFF
            err.print(msg("the ingest stopped (exit code {code}); it is started again in {seconds:g} s",
                          code=code, seconds=backoff), highlight=False)
            if self._stopping.wait(backoff):
                return
            self.child = self._popen(self.command)
            self.restarts += 1
            started = time.monotonic()
            backoff = min(backoff * 2, self.BACKOFF_MAX)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        if self.child.poll() is None:
            self.child.terminate()  # SIGTERM: the ingest stores what it holds, then exits
            self.child.wait(30)


@app.command("ingest")
def ingest_command(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default: GONGCHE_INGEST_HOST)")] = None,
    jt808_port: Annotated[int | None, typer.Option(help="JT/T 808 TCP port (default: GONGCHE_JT808_PORT; "
                                                    "-1: not started)")] = None,
    osmand_port: Annotated[int | None, typer.Option(help="OsmAnd HTTP port (default: GONGCHE_OSMAND_PORT; "
                                                     "-1: not started)")] = None,
) -> None:
    """Run the position listeners (JT/T 808 over TCP, OsmAnd over HTTP) in front of GONGCHE_DATABASE_URL until
    SIGTERM or Ctrl-C; several may run in front of one database."""
    import logging

    from telematics import ingest

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        ingest.run(_migrated(_engine()), get_settings(), host=host, jt808_port=jt808_port, osmand_port=osmand_port)
    except ingest.ListenError as error:
        fail(msg("cannot listen on {host}:{port}: {reason}", host=error.host, port=error.port, reason=error.reason))


@terminals_app.command("list")
def terminals_list() -> None:
    """The terminals registered (0x0100) and still active: number, vehicle, maker and model, when."""
    from fleet.models import Terminal, Vehicle

    with unit_of_work(_migrated(_engine()), readonly=True) as session:
        rows = session.execute(sa.select(Terminal, Vehicle.plate).join(Vehicle, Vehicle.id == Terminal.vehicle_id)
                               .where(Terminal.active).order_by(Terminal.phone)).all()
        table = Table("terminal", "vehicle", "maker", "model", "protocol", "registered (China time)")
        for terminal, plate in rows:
            table.add_row(terminal.phone, plate, terminal.maker, terminal.model,
                          "2013" if terminal.protocol_version is None else f"2019 (v{terminal.protocol_version})",
                          local_text(terminal.registered_at))
    Console().print(table)


@terminals_app.command("deregister")
def terminals_deregister(number: Annotated[str, typer.Argument(help="The terminal's number (终端手机号)")]) -> None:
    """End a terminal's registration, e.g. one that lost its auth code: it must register (0x0100) again."""
    from fleet import terminals

    with unit_of_work(_migrated(_engine())) as session:
        ended = terminals.deregister(session, phone=number, actor=Actor("cli", "admin"))
    if not ended:
        fail(f"terminal {number}: no active registration")
    typer.echo(f"terminal {number}: registration ended; it must register again")


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


@fleet_app.command("export")
def fleet_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="YAML file to write (default: stdout)")] = None,
) -> None:
    """The vehicles in use and each agency's trips per working day, as a scenario's `fleet` section."""
    from fleet import exports  # it loads the dispatch engine: only the commands that need it pay for that

    with unit_of_work(_migrated(_engine()), readonly=True) as session:
        document = exports.fleet_document(session)
    text = f"# from `gongche fleet export` on {clock.today().isoformat()}\n" + yaml.safe_dump(
        document, allow_unicode=True, sort_keys=False)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    vehicles = sum(len(a["vehicles"]) for a in document["agencies"])
    typer.echo(f"wrote {output} ({len(document['agencies'])} agencies, {vehicles} vehicles)")


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date like 2026-11-23, not {value!r}")


@trips_app.command("export")
def trips_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write")],
    start: Annotated[str | None, typer.Option(help="First day of earliest pickup, China time (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option(help="Last day of earliest pickup, China time (YYYY-MM-DD)")] = None,
) -> None:
    """The booked trips (not rejected or cancelled), one row each, for a scenario to replay."""
    from fleet import exports  # it loads the dispatch engine: only the commands that need it pay for that

    first, last = _day("--start", start), _day("--end", end)
    if first is not None and last is not None and last < first:
        fail(f"--end {last} is before --start {first}")
    _migrated(_engine()).dispose()
    try:
        rows = exports.trip_rows(get_settings().database_url, first, last)
    except FleetError as exc:
        fail(exc.detail)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        exports.write_trips_csv(rows, output)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"wrote {output} ({len(rows)} trips)")


@app.command()
def statements(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (China time)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write: .xlsx (Chinese headings) or .json")],
    agency: Annotated[str | None, typer.Option(help="Only the trips this agency booked (its code)")] = None,
) -> None:
    """The monthly statement (统一核算): each completed trip charged to the agency that booked it, the agencies'
    totals, and every vehicle's ledger reconciled to the fen."""
    from api.schemas import StatementOut
    from fleet import accounting

    suffix = output.suffix.lower()
    if suffix not in (".xlsx", ".json"):
        fail(f"-o must name a .xlsx or .json file, not {output.name!r}")
    try:
        with unit_of_work(_migrated(_engine()), readonly=True) as session:
            report = accounting.statement(session, month=month, agency=agency)
    except FleetError as exc:
        fail(exc.detail)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".xlsx":
            with output.open("wb") as out:
                accounting.write_xlsx(report, out)
        else:
            output.write_text(StatementOut.model_validate(report).model_dump_json(indent=2), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    check = report.reconciliation
    typer.echo(f"wrote {output} ({report.month}: {len(report.trips)} trips, {report.totals.total_cny} CNY charged; "
               f"ledger {check.ledger_cny} = {check.charged_cny} charged + {check.unallocated_cny} unallocated"
               f"{'' if check.balanced else ' — NOT BALANCED'})")


def reminder_table(found: Sequence[reminders.Reminder], *, title: str, detail: bool = True) -> Table:
    """Reminders as a table: due day, days left (negative: overdue), kind, vehicle or driver, agency, detail."""
    table = Table(title=title, title_justify="left")
    columns = ("due", "days", "kind", "vehicle / driver", "agency", *(("detail",) if detail else ()))
    for column in columns:
        table.add_column(column, justify="right" if column == "days" else "left", no_wrap=column != "detail")
    for r in found:
        style = "red" if r.days_left < 0 else "yellow" if r.days_left <= 7 else ""
        table.add_row(r.due_on.isoformat(), str(r.days_left), f"{r.kind.value} {r.kind.zh}", r.label,
                      r.agency or "*", *((str(r.detail),) if detail else ()), style=style)
    return table


@app.command("reminders")
def reminders_due(
    within_days: Annotated[int, typer.Option("--within-days", help="Days from today (China time), 0-3660")] = 30,
    kind: Annotated[list[str] | None, typer.Option(
        help="Only this kind (repeatable): insurance, inspection, maintenance, renewal, licence")] = None,
    agency: Annotated[str | None, typer.Option(help="Only this agency's vehicles and drivers")] = None,
) -> None:
    """Insurance, annual inspections (年检), maintenance, renewal ages and driving licences due within some days,
    or overdue, of the vehicles not disposed of and the active drivers."""
    if not 0 <= within_days <= 3660:
        fail(f"--within-days must be between 0 and 3660, not {within_days}")
    kinds = [next((k for k in reminders.ReminderKind if k.value == name), None) for name in kind or ()]
    if None in kinds:
        fail(f"--kind must be one of {', '.join(k.value for k in reminders.ReminderKind)}")
    today = clock.today()
    try:
        with unit_of_work(_migrated(_engine()), readonly=True) as session:
            agency_ids = [queries.agency_by_code(session, agency).id] if agency else None
            found = reminders.due(session, today=today, within_days=within_days,
                                  kinds=[k for k in kinds if k is not None], agency_ids=agency_ids)
    except FleetError as exc:
        fail(exc.detail)
    Console(width=160).print(reminder_table(found, title=f"{len(found)} reminder(s) due by "
                                                         f"{today + timedelta(days=within_days)} (today {today})"))


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Delete the SQLite database first")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the report files")] = Path("var"),
    seed: Annotated[int, typer.Option(help="Random seed of the demo data")] = 2026,
    port: Annotated[int, typer.Option(help="TCP port the console is served on at the end")] = 8000,
    serve: Annotated[bool | None, typer.Option(
        "--serve/--no-serve", help="Serve the console at the end until Ctrl-C (default: when stdin is a terminal)",
        show_default=False)] = None,
) -> None:
    """Seed a realistic city jurisdiction, run its plan year and its day, and serve the console on it."""
    from gongche import demo as demo_job  # it loads the API server and the dispatch engine: only the demo pays

    url = make_url(get_settings().database_url)
    if reset:
        if url.get_backend_name() != "sqlite" or not url.database:
            fail("--reset deletes a SQLite file; point GONGCHE_DATABASE_URL at an empty database instead")
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
        get_settings().audit_checkpoint_file.unlink(missing_ok=True)  # it pinned the chain of the deleted database
    engine = _engine()
    migrate.upgrade(engine)
    with make_sessionmaker(engine)() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(Agency)):
            fail(f"{url.render_as_string(hide_password=True)} already holds data; run with --reset (SQLite) "
                 f"or use an empty database")
    started = time.perf_counter()
    ok = demo_job.run(engine, Console(), today=local_date(utcnow()), out_dir=out, seed=seed, port=port, serve=serve)
    typer.echo(f"demo finished in {time.perf_counter() - started:.1f} s")
    if not ok:
        raise typer.Exit(1)


@app.command()
def simulate(
    host: Annotated[str, typer.Option(help="The ingest's host")] = "127.0.0.1",
    jt808_port: Annotated[int | None, typer.Option(help="Its JT/T 808 port (default: GONGCHE_JT808_PORT)")] = None,
    osmand_port: Annotated[int | None, typer.Option(help="Its OsmAnd port (default: GONGCHE_OSMAND_PORT; -1: "
                                                    "no OsmAnd devices)")] = None,
    day: Annotated[str | None, typer.Option(help="The day whose assignments are driven (default: yesterday); "
                                                 "it must be over")] = None,
    speedup: Annotated[float, typer.Option(help="Simulated seconds per wall second (1440: a day in a "
                                                "minute)")] = 1440.0,
    plant: Annotated[list[str] | None, typer.Option(
        help="Misuse to plant (repeatable): unbooked-sunday, detour, unplugged, speeding, idling")] = None,
    interval: Annotated[int, typer.Option(help="Seconds between reports while driving (device time)")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed of the routes and the misuse")] = 15,
    codes: Annotated[Path, typer.Option(help="JSON file where the terminals keep their auth codes between runs (a "
                                             "registered terminal authenticates with its code)")] = Path(
        "var/simulator-codes.json"),
) -> None:
    """Drive a dispatched day's routes with simulated terminals (JT/T 808 over TCP, some OsmAnd over HTTP) against
    a running ingest (`gongche ingest` or `gongche serve`), with misuse planted; print what was acknowledged."""
    import asyncio

    from fleet import usage_audit
    from fleet.clock import CHINA
    from telematics import simulator

    misuse: set[simulator.Misuse] = set()
    for name in plant or []:
        try:
            misuse.add(simulator.Misuse(name))
        except ValueError:
            fail(f"--plant {name!r} is not one of {', '.join(m.value for m in simulator.Misuse)}")
    if not 0 < speedup <= 1_000_000:
        fail(f"--speedup must be above 0 and at most 1000000, not {speedup}")
    if not 1 <= interval <= 3600:
        fail(f"--interval must be 1 to 3600 seconds, not {interval}")
    settings = get_settings()
    the_day = _day("--day", day) or clock.today() - timedelta(days=1)
    tcp = settings.jt808_port if jt808_port is None else jt808_port
    http = settings.osmand_port if osmand_port is None else osmand_port
    for option, port in (("--jt808-port", tcp), ("--osmand-port", http)):
        if not -1 <= port <= 65535 or (option == "--jt808-port" and port <= 0):
            fail(f"{option} must be a TCP port, not {port}")
    engine = _migrated(_engine())
    with unit_of_work(engine, readonly=True) as session:
        days, without = simulator.read_day(session, the_day)
    rules = usage_audit.configured_rules()
    plan = simulator.plan_day(days, the_day, rules, plant=misuse, seed=seed, interval_s=interval,
                              osmand_share=0.125 if http > 0 else 0.0)
    if not plan.scripts:
        fail(f"no vehicle with a terminal number has an assignment on {the_day}"
             + (f" ({without} with assignments have no terminal number)" if without else ""))
    ahead = plan.last - clock.now()
    if ahead > timedelta(minutes=settings.clock_skew_minutes):
        fail(f"{the_day} is not over: its last fix at {local_text(plan.last)} is ahead of the platform's clock "
             f"({local_text(clock.now())}), and the ingest refuses fixes from the future; simulate a past day")
    import json

    try:
        kept = json.loads(codes.read_text(encoding="utf-8")) if codes.is_file() else {}
    except (OSError, ValueError) as exc:
        fail(f"--codes {codes}: not a JSON file of terminal numbers and codes ({exc})")
    if not isinstance(kept, dict):
        fail(f"--codes {codes}: not a JSON object of terminal numbers and codes")
    try:
        report = asyncio.run(simulator.drive(plan, host=host, jt808_port=tcp, osmand_port=http if http > 0 else None,
                                             speedup=speedup, codes={str(k): str(v) for k, v in kept.items()}))
    except OSError as exc:
        fail(f"cannot reach the ingest at {host}:{tcp}: {exc}")
    codes.parent.mkdir(parents=True, exist_ok=True)
    codes.write_text(json.dumps(report.codes, indent=0, sort_keys=True), encoding="utf-8")
    if report.registered == 0 and report.register_failures:
        fail(f"no terminal could register with the ingest at {host}:{tcp}: {report.register_failures[0]}")
    table = Table(title=f"{the_day}: {report.terminals} terminals "
                        f"({', '.join(f'{n} {p}' for p, n in sorted(report.protocols.items()))}) at {speedup:g}x")
    for column in ("fixes planned", "sent", "acknowledged", "back-filled", "refused", "unanswered", "resent",
                   "p50 ms", "p99 ms", "wall s"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{v:,}" for v in (report.fixes, report.sent, report.acknowledged, report.backfilled,
                                       report.refused, report.unanswered, report.resent)),
                  f"{report.percentile(50):.0f}", f"{report.percentile(99):.0f}", f"{report.wall_seconds:.1f}")
    out = Console(width=160)
    out.print(table)
    for failure in report.register_failures[:5]:
        out.print(f"[red]register failed:[/] {failure}")
    if plan.planted:
        planted = Table(title="Misuse planted (device time, China)")
        for column in ("misuse", "vehicle", "from", "to", "trip", "detail"):
            planted.add_column(column)
        for p in plan.planted:
            planted.add_row(p.kind.value, p.plate, p.start.astimezone(CHINA).strftime("%H:%M:%S"),
                            p.end.astimezone(CHINA).strftime("%H:%M:%S"), str(p.trip_id or ""), p.detail)
        out.print(planted)
    for reason in plan.skipped:
        out.print(f"not planted: {reason}")
    if report.unanswered or report.register_failures:
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except FleetError as exc:
        err.print(f"[bold red]{exc.code}:[/] {exc.detail}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
