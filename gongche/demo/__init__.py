"""The demo behind ``gongche demo`` (``make demo``), one module per part, in the order it runs:

- ``registry_year``: seed the demo city (``city``: 武汉市, its agencies, quotas and models), decide its plan year,
  carry it out, book a year of costs, report and verify the audit chain; then
- ``calendar_share``: the holiday calendar's years (and /healthz's warning), one plan's province new-energy share;
- ``records_office``: 机构改革 (an agency merged, one split off), records kept up to date, the reminders due;
- ``dispatch_day``: today's trip requests dispatched over the vehicles on the road, an urgent emergency placed;
- ``booking_day``: tomorrow's bookings over real HTTP, as each user would make them, dispatched, driven, audited;
- ``track_day``: that day driven again by the vehicles' terminals (JT/T 808, OsmAnd) with misuse planted, found
  by the usage audit from the tracks;
- ``ledger_day``: that evening, an unserved trip rented from a provider and billed, and the month's statement;
- ``who_sees``: a district's admin and supervisor made through the API, what the district and the city each see;
- ``scenarios``: the registry's own fleet and booked day, simulated under reform scenarios;
- ``rules_day``: the ways around the rules (registration, back-dated times, skipped approval), tried and answered;
- ``console_day``: passwords for one user per role, work left for each, and the console served on the demo's data.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy.engine import Engine

from fleet.db import make_sessionmaker
from gongche.demo import (
    booking_day,
    calendar_share,
    console_day,
    ledger_day,
    records_office,
    registry_year,
    rules_day,
    scenarios,
    track_day,
    who_sees,
)


def run(engine: Engine, console: Console, *, today: date, out_dir: Path, seed: int = 2026,
        port: int = 8000, serve: bool | None = None) -> bool:
    """The whole demo on an empty, migrated database. Returns whether both audit verifications passed.

    It ends by serving the console on ``port`` until Ctrl-C (``serve``; default: when standard input is a terminal).
    """
    with make_sessionmaker(engine)() as session:
        verification = registry_year.run(session, out_dir=out_dir, seed_value=seed, today=today, console=console)
        calendar_share.run(session, console, today=today)
        records_office.run(session, console, today=today)
    booked_day = today + timedelta(days=1)
    served = booking_day.run(engine, console, today=today, out_dir=out_dir, seed=seed)
    track_day.run(engine, console, day=booked_day, seed=seed)
    ledger_day.run(engine, console, day=booked_day, out_dir=out_dir)
    who_sees.run(engine, console, day=booked_day)
    scenarios.run(engine, console, day=booked_day, out_dir=out_dir)
    rules_day.run(engine, console, day=booked_day)
    ok = verification.ok and served
    if not ok:
        console.print("[bold red]the audit did not verify: the console is not served[/]")
        return ok
    console_day.run(engine, console, today=today, board_day=booked_day, out_dir=out_dir, seed=seed, port=port,
                    serve=serve)
    return ok
