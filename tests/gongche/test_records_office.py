"""The demo's records-office step, and ``gongche reminders``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.orm import Session

from fleet import amendments, audit, clock, costs, queries
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category, CostKind
from fleet.schemas import CostIn, VehiclePatch
from gongche.demo import records_office
from tests.factories import ADMIN, agency, jurisdiction_tree, registered
from tests.gongche.test_cli import Db, db, gongche, invoke, migrated

__all__ = ["db"]  # the fixture, imported for this module's tests


def small_city(session: Session) -> None:
    today = clock.today()
    jurisdiction_tree(session)
    agency(session, records_office.INTO, quotas={Category.confidential_comms: 6})
    agency(session, records_office.MERGED, quotas={Category.confidential_comms: 3})
    agency(session, records_office.SPLIT, quotas={Category.law_enforcement: 4})
    registered(session, records_office.INTO, category=Category.confidential_comms)
    registered(session, records_office.MERGED, category=Category.confidential_comms,
               acquired_on=today - timedelta(days=int(7 * 365.25)), odometer_km=90_000)
    for _ in range(3):
        registered(session, records_office.SPLIT, category=Category.law_enforcement, odometer_km=30_000)
    first = queries.vehicle_by_plate(session, sorted(
        v.plate for v in queries.vehicles_touching(session, [queries.agency_by_code(session, "WH-ZRZY").id]))[0])
    costs.record_cost(session, ADMIN, vehicle_id=first.id, data=CostIn(
        kind=CostKind.fuel, incurred_on=today, amount_cny=Decimal("320.00"), odometer_km=30_400))


def test_the_step_reorganises_keeps_records_and_shows_reminders(session: Session) -> None:
    small_city(session)
    out = StringIO()
    records_office.run(session, Console(file=out, width=220), today=clock.today())
    text = out.getvalue()
    assert queries.agency_by_code(session, records_office.MERGED).dissolved_on == clock.today()
    assert len(queries.vehicles_touching(session, [queries.agency_by_code(session, records_office.PART).id])) == 2
    assert "WH-JYJ merged into WH-SWBGT" in text
    assert "confidential_comms 9" in text
    assert "WH-YLLY split off WH-ZRZY" in text
    assert "insurance" in text
    assert "licence" not in text  # no driver in this city
    assert "单车核算" in text
    assert "320.00" in text
    assert audit.verify(session).ok


def test_reminders_command_prints_the_table_and_refuses_bad_input(db: Db, tmp_path: Path) -> None:
    migrated(db)
    engine = make_engine(db.url)
    with unit_of_work(engine) as session:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.general: 2})
        car = registered(session, "WH-GA")
        amendments.amend_vehicle(session, ADMIN, vehicle_id=car.id, data=VehiclePatch.parse(
            {"insurance_expires_on": (clock.today() + timedelta(days=4)).isoformat()}))
        plate = car.plate
    engine.dispose()
    code, output = invoke("reminders", "--within-days", "7", "--kind", "insurance")
    assert code == 0, output
    assert plate in output
    assert "1 reminder(s)" in output
    code, output = invoke("reminders", "--within-days", "7", "--kind", "renewal")
    assert (code, "0 reminder(s)" in output) == (0, True)
    for args, fragment in ((("--within-days", "-1"), "--within-days"), (("--kind", "tax"), "--kind"),
                           (("--agency", "NOPE"), "NOPE")):
        run = gongche("reminders", *args, url=db.url, cwd=tmp_path)
        assert run.returncode == 2, run.raw_stderr
        assert fragment in run.stderr
        assert "Traceback" not in run.raw_stderr


@pytest.mark.parametrize("value", ["abc", "1.5"])
def test_a_malformed_number_exits_2(db: Db, value: str) -> None:
    migrated(db)
    code, _ = invoke("reminders", "--within-days", value)
    assert code == 2
