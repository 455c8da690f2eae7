"""The new-energy share's scope: counted over the province (各省(区、市), the national plan's unit) by default, or
over the plan's own jurisdiction where the policy says so; and the review's figures."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import plans, registry
from fleet.db import unit_of_work
from fleet.enums import Category, PlanStatus
from fleet.errors import NewEnergyShareTooLow, PolicyError
from fleet.models import AuditRecord, Jurisdiction, Plan
from fleet.policy import NATIONAL, PolicyBook, PolicyFile, load_policy_file
from fleet.schemas import JurisdictionIn
from tests.factories import ADMIN, agency, jurisdiction_tree
from tests.fleet.test_concurrency import race
from tests.fleet.test_services import LE, new_line, plan_in, submitted

PETROL: dict[str, Any] = {"category": "general", "powertrain": "ice", "unit_price_cny": 110000, "displacement_l": "1.5"}


@pytest.fixture
def province(session: Session) -> Session:
    """湖北省 > 武汉市 (WH-GA, the police bureau) > 江岸区 (JA-CG, a county office with two general cars' quota)."""
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={LE: 4, Category.general: 2})
    agency(session, "JA-CG", jurisdiction="420102", quotas={Category.general: 2})
    return session


def approved(session: Session, code: str, lines: list[dict[str, Any]], policies: PolicyBook | None = None) -> Plan:
    plan = submitted(session, plan_in(code, lines=lines))
    return plans.approve_plan(session, ADMIN, plan_id=plan.id, policies=policies)


def scoped(code: str, **overrides: Any) -> PolicyBook:
    return PolicyBook([PolicyFile(jurisdiction=code, overrides=overrides, source=f"{code}.yaml")])


class TestProvinceScope:
    def test_a_county_may_buy_one_petrol_car_when_the_province_keeps_the_share(self, province: Session) -> None:
        approved(province, "WH-GA", [new_line(count=3)])  # the city's police: 3 of 3 new-energy
        county = approved(province, "JA-CG", [new_line(**PETROL)])  # the province: 3 of 4, 75 %
        assert county.status is PlanStatus.approved
        record = province.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert record is not None
        assert (record.changes["share_scope"], record.changes["scope_new_energy"],
                record.changes["scope_counted"]) == ("420000", 3, 4)

    def test_and_is_refused_when_the_province_does_not(self, province: Session) -> None:
        approved(province, "WH-GA", [new_line(count=1), new_line(count=2, **{**PETROL, "category": "law_enforcement",
                                                                              "unit_price_cny": 100000})])  # 1 of 3
        plan = submitted(province, plan_in("JA-CG", lines=[new_line(**PETROL)]))
        with pytest.raises(NewEnergyShareTooLow, match=r"湖北省 \(420000\) .* 1 of 4 .* minimum of 30%"):
            plans.approve_plan(province, ADMIN, plan_id=plan.id)
        assert plan.status is PlanStatus.submitted

    def test_another_province_does_not_count(self, province: Session) -> None:
        registry.create_jurisdiction(province, ADMIN, data=JurisdictionIn(code="430000", name="湖南省",
                                                                          level="province"))
        agency(province, "HN-GA", jurisdiction="430000", quotas={LE: 9})
        approved(province, "HN-GA", [new_line(count=9)])
        with pytest.raises(NewEnergyShareTooLow, match=r"湖北省 \(420000\) .* 0 of 1"):
            approved(province, "JA-CG", [new_line(**PETROL)])

    def test_the_provinces_minimum_rules_its_subtree(self, province: Session) -> None:
        book = PolicyBook([
            PolicyFile(jurisdiction="420000", overrides={"new_energy_min_share": [{"from_year": 2020, "share": 0.8}]},
                       source="hubei.yaml"),
            # a district's own minimum is its own business only where it counts its own share
            PolicyFile(jurisdiction="420102", overrides={"new_energy_min_share": [{"from_year": 2020, "share": 0}]},
                       source="jiang-an.yaml"),
        ])
        approved(province, "WH-GA", [new_line(count=3)], book)
        with pytest.raises(NewEnergyShareTooLow, match=r"3 of 4 .* minimum of 80%"):
            approved(province, "JA-CG", [new_line(**PETROL)], book)


class TestJurisdictionScope:
    def test_a_jurisdiction_that_keeps_its_own_share_counts_only_its_own(self, province: Session) -> None:
        book = scoped("420102", new_energy_share_scope="jurisdiction")
        approved(province, "WH-GA", [new_line(count=3)], book)
        with pytest.raises(NewEnergyShareTooLow, match=r"江岸区 \(420102\) .* 0 of 1"):
            approved(province, "JA-CG", [new_line(**PETROL)], book)

    def test_the_setting_is_a_policy_field(self, tmp_path: Any) -> None:
        assert NATIONAL.new_energy_share_scope == "province"
        path = tmp_path / "bad.yaml"
        path.write_text("jurisdiction: '420102'\nnew_energy_share_scope: county\n", encoding="utf-8")
        with pytest.raises(PolicyError, match=r"bad.yaml:2: field 'new_energy_share_scope'"):
            load_policy_file(path)


class TestReview:
    def test_the_figures_before_and_with_the_plan(self, province: Session) -> None:
        approved(province, "WH-GA", [new_line(count=1), new_line(count=1, **{**PETROL, "category": "general"})])
        plan = submitted(province, plan_in("JA-CG", lines=[new_line(count=2, **PETROL)]))
        review = plans.review_plan(province, plan)
        share = review.share
        assert (share.scope.code, share.year, share.minimum) == ("420000", plan.year, 0.3)
        assert (share.approved, share.with_plan) == ((1, 2), (1, 4))
        assert (share.share(share.approved), share.share(share.with_plan)) == (0.5, 0.25)
        assert not share.met
        assert [type(f) for f in review.findings] == [NewEnergyShareTooLow]

    def test_an_approved_plan_is_not_counted_twice(self, province: Session) -> None:
        plan = approved(province, "WH-GA", [new_line(count=2)])
        share = plans.review_plan(province, plan).share
        assert (share.approved, share.with_plan, share.met) == ((0, 0), (2, 2), True)
        assert share.share((0, 0)) is None


def test_approval_locks_the_province_row(province: Session) -> None:
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    engine = province.get_bind()
    hubei = province.scalar(sa.select(Jurisdiction.id).where(Jurisdiction.code == "420000"))
    plan = submitted(province, plan_in("JA-CG", lines=[new_line(count=1, category="general")]))
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        plans.approve_plan(province, ADMIN, plan_id=plan.id)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    locks = [params for sql, params in statements if "FROM jurisdictions" in sql and "WHERE jurisdictions.id" in sql
             and ("FOR NO KEY UPDATE" in sql or engine.dialect.name == "sqlite")]
    assert any(hubei in (params.values() if isinstance(params, dict) else params) for params in locks)


def test_racing_approvals_in_two_districts_keep_the_province_share(fresh_engine: Engine) -> None:
    """Two districts' one-petrol-car plans, each fine alone (3 of 10), not together (3 of 11): approved at once,
    exactly one passes, because both approvals queue on the province's row."""
    with unit_of_work(fresh_engine) as session:
        jurisdiction_tree(session)
        registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(code="420103", name="江汉区",
                                                                          level="county", parent="420100"))
        agency(session, "WH-GA", quotas={LE: 9})
        agency(session, "JA-CG", jurisdiction="420102", quotas={Category.general: 1})
        agency(session, "JH-CG", jurisdiction="420103", quotas={Category.general: 1})
        fuel = {**PETROL, "category": "law_enforcement", "unit_price_cny": 100000}
        approved(session, "WH-GA", [new_line(count=3), new_line(count=6, **fuel)])  # 3 of 9
        ids = [submitted(session, plan_in(code, lines=[new_line(**PETROL)])).id for code in ("JA-CG", "JH-CG")]

    def approve(i: int) -> None:
        with unit_of_work(fresh_engine) as session:
            plans.approve_plan(session, ADMIN, plan_id=ids[i])

    assert race(fresh_engine, 2, approve) == Counter({"ok": 1, "NewEnergyShareTooLow": 1})
