"""The demo behind ``gongche demo`` (``make demo``), one module per part, in the order it runs:

- ``registry_year``: seed the demo city (``city``: 武汉市, its agencies, quotas and models), decide its plan year,
  carry it out, book a year of costs, report and verify the audit chain; then
- ``dispatch_day``: today's trip requests dispatched over the vehicles on the road, an urgent emergency placed;
- ``booking_day``: tomorrow's bookings over real HTTP, as each user would make them, dispatched, driven, audited;
- ``scenarios``: the registry's own fleet and booked day, simulated under reform scenarios.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy.engine import Engine

from fleet.db import make_sessionmaker
from gongche.demo import booking_day, registry_year, scenarios


def run(engine: Engine, console: Console, *, today: date, out_dir: Path, seed: int = 2026) -> bool:
    """The whole demo on an empty, migrated database. Returns whether both audit verifications passed."""
    with make_sessionmaker(engine)() as session:
        verification = registry_year.run(session, out_dir=out_dir, seed_value=seed, today=today, console=console)
    served = booking_day.run(engine, console, today=today, out_dir=out_dir, seed=seed)
    scenarios.run(engine, console, day=today + timedelta(days=1), out_dir=out_dir)
    return verification.ok and served
