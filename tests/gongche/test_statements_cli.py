"""``gongche statements``: the monthly statement (统一核算) written as XLSX or JSON; bad input exits 2."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from fleet import clock, costs
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category, CostKind
from fleet.schemas import CostIn
from tests.factories import ADMIN, agency, jurisdiction_tree, registered
from tests.gongche.test_cli import Db, assert_refused, db, gongche, invoke, migrated

__all__ = ["db"]  # the fixture, shared with the CLI's other tests


def seeded(target: Db) -> None:
    migrated(target)
    engine = make_engine(target.url)
    try:
        with unit_of_work(engine) as session:
            jurisdiction_tree(session)
            agency(session, "WH-GA", quotas={Category.general: 2})
            car = registered(session, "WH-GA", category=Category.general)
            with clock.travel(clock.local_moment(date(2030, 3, 21))):  # a cost is booked once incurred
                costs.record_cost(session, ADMIN, vehicle_id=car.id, data=CostIn(
                    kind=CostKind.fuel, incurred_on=date(2030, 3, 20), amount_cny=Decimal("456.78"), odometer_km=500))
    finally:
        engine.dispose()


@pytest.mark.parametrize("suffix", ["xlsx", "json"])
def test_statements_writes_the_month(db: Db, tmp_path: Path, suffix: str) -> None:
    seeded(db)
    out = tmp_path / "nested" / f"statement.{suffix}"
    code, output = invoke("statements", "--month", "2030-03", "--agency", "WH-GA", "-o", str(out))
    assert code == 0, output
    assert "ledger 456.78 = 0.00 charged + 456.78 unallocated" in output
    if suffix == "xlsx":
        book = load_workbook(out)
        assert book.sheetnames == ["费用明细", "单位汇总", "车辆对账", "使用其他单位车辆"]  # one agency's: + others'
        assert book["车辆对账"]["A1"].value == "车牌"
    else:
        body = json.loads(out.read_text(encoding="utf-8"))
        assert (body["month"], body["agency"], body["reconciliation"]["balanced"]) == ("2030-03", "WH-GA", True)


@pytest.mark.parametrize(("args", "fragments"), [
    (["--month", "2030-13", "-o", "s.xlsx"], ["2030-13 is not a month like 2026-11"]),
    (["--month", "2030-03", "-o", "s.pdf"], ["-o must name a .xlsx or .json file"]),
    (["--month", "2030-03", "--agency", "NOPE", "-o", "s.xlsx"], ["unknown agency"]),
])
def test_statements_refuses_bad_input_with_exit_2(db: Db, tmp_path: Path, args: list[str],
                                                  fragments: list[str]) -> None:
    seeded(db)
    run = gongche("statements", *args, url=db.url, cwd=tmp_path)
    assert_refused(run, *fragments)
    assert not any(tmp_path.glob("s.*"))
