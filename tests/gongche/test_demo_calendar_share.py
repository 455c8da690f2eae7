"""The demo's calendar-and-share step prints the calendar's years, the coming gap, and a plan's province share."""

from __future__ import annotations

from datetime import date
from io import StringIO

from rich.console import Console
from sqlalchemy.orm import Session

from fleet import plans
from fleet.enums import Category
from gongche.demo import calendar_share
from tests.factories import ADMIN, THIS_YEAR, agency, jurisdiction_tree
from tests.fleet.test_services import new_line, plan_in, submitted


def test_the_step_shows_coverage_and_the_province_share(session: Session) -> None:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.law_enforcement: 4})
    plan = submitted(session, plan_in(lines=[new_line(count=2)]))
    plans.approve_plan(session, ADMIN, plan_id=plan.id)
    out = StringIO()
    calendar_share.run(session, Console(file=out, width=200), today=date(THIS_YEAR, 12, 2))
    text = out.getvalue()
    assert "covers 2004–" in text
    assert "湖北省" in text
    assert "420000" in text
    assert "2 of 2 (100.0%)" in text
