"""The annual statistics report on a small hand-made world whose every number is known (SQLite and PostgreSQL).

The world (report year THIS_YEAR, retained fleet stock-taken on 31 December of the year before):

    420100 武汉市   WH-GA  quotas law_enforcement 4, general 2
                     g1 LE ice   50,000 km  fuel 800 + 900 (to 55,000 km), insurance 3,000; 500 fuel last year
                     g2 LE bev   20,000 km  charging 200 (to 23,000 km)
                     g3 GEN ice  80,000 km  fuel 700 (to 81,000 km), then auctioned on 30 June for 12,000.50
                     g4 GEN phev 10,000 km  no costs
                     a1 LE bev   acquired 1 Feb under the approved plan, charging 150 (to 1,500 km)
                     a2 LE ice   acquired 1 Mar under the approved plan, no costs
                   WH-CG  quotas law_enforcement 3 -> cut to 1 (over quota), emergency 1; a draft plan
                     c1 LE hev   30,000 km  fuel 400 (to 32,000 km)
                     c2 EMG ice  40,000 km  no costs
                     c3 LE ice   60,000 km  no costs
    420102 江岸区   JA-ZF  quota general 2
                     j1 GEN bev   5,000 km  charging 100 (to 6,000 km)
                     j2 GEN ice  scrapped on 1 November of last year
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from sqlalchemy.orm import Session

from fleet import costs, plans, registry, vehicles
from fleet.enums import Category, DisposalMethod, PlanStatus, Powertrain
from fleet.errors import InvalidInput, NotFound
from fleet.models import Vehicle
from fleet.reports import AnnualReport, annual_report
from fleet.schemas import AgencyIn, CostIn, DisposalIn, PlanIn, QuotaIn, TransferIn
from tests.factories import ADMIN, THIS_YEAR, agency, jurisdiction_tree, vehicle_in

LE, GEN, EMG = Category.law_enforcement, Category.general, Category.emergency
ICE, HEV, PHEV, BEV = Powertrain.ice, Powertrain.hev, Powertrain.phev, Powertrain.bev
STOCKTAKE = date(THIS_YEAR - 1, 12, 31)
TABLES = ["fleet", "quota_use", "additions", "plans", "disposals", "costs", "cost_by_category", "top_cost_per_km",
          "registered_by_exception"]


@dataclass
class World:
    session: Session
    v: dict[str, Vehicle]


def retained(session: Session, agency_code: str, *, km: int, read_on: date = STOCKTAKE, **overrides: Any) -> Vehicle:
    return vehicles.register(session, ADMIN, agency=agency_code, read_on=read_on,
                             data=vehicle_in(odometer_km=km, **overrides))


def cost(session: Session, v: Vehicle, kind: str, on: date, amount: int, odometer: int | None = None) -> None:
    costs.record_cost(session, ADMIN, vehicle_id=v.id, data=CostIn(
        kind=kind, incurred_on=on, amount_cny=Decimal(amount), odometer_km=odometer))


def on(month: int, day: int = 1) -> date:
    return date(THIS_YEAR, month, day)


@pytest.fixture
def world(session: Session) -> World:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={LE: 4, GEN: 2})
    agency(session, "WH-CG", quotas={LE: 3, EMG: 1})
    agency(session, "JA-ZF", jurisdiction="420102", quotas={GEN: 2})
    v: dict[str, Vehicle] = {
        "g1": retained(session, "WH-GA", km=50000, category=LE, powertrain=ICE),
        "g2": retained(session, "WH-GA", km=20000, category=LE, powertrain=BEV),
        "g3": retained(session, "WH-GA", km=80000, category=GEN, powertrain=ICE,
                       acquired_on=date(THIS_YEAR - 10, 5, 1)),
        "g4": retained(session, "WH-GA", km=10000, category=GEN, powertrain=PHEV),
        "c1": retained(session, "WH-CG", km=30000, category=LE, powertrain=HEV),
        "c2": retained(session, "WH-CG", km=40000, category=EMG, powertrain=ICE),
        "c3": retained(session, "WH-CG", km=60000, category=LE, powertrain=ICE),
        "j1": retained(session, "JA-ZF", km=5000, category=GEN, powertrain=BEV),
        "j2": retained(session, "JA-ZF", km=90000, category=GEN, powertrain=ICE, read_on=date(THIS_YEAR - 1, 10, 1)),
    }
    vehicles.dispose(session, ADMIN, vehicle_id=v["j2"].id, data=DisposalIn(
        method=DisposalMethod.scrap, disposed_on=date(THIS_YEAR - 1, 11, 1)))
    # The city-management bureau's law-enforcement quota is cut below what it holds.
    registry.set_quota(session, ADMIN, data=QuotaIn(agency="WH-CG", category=LE, limit=1, reason="编制 cut"))

    plan = plans.create_plan(session, ADMIN, data=PlanIn.parse({"agency": "WH-GA", "year": THIS_YEAR, "lines": [
        {"kind": "new", "category": "law_enforcement", "powertrain": "bev", "count": 1, "unit_price_cny": 150000},
        {"kind": "new", "category": "law_enforcement", "powertrain": "ice", "count": 1, "unit_price_cny": 110000,
         "displacement_l": "1.5"},
    ]}))
    plans.submit_plan(session, ADMIN, plan_id=plan.id)
    plans.approve_plan(session, ADMIN, plan_id=plan.id)
    assert plan.status is PlanStatus.approved
    bev_line, ice_line = plan.lines
    v["a1"] = vehicles.acquire(session, ADMIN, plan_line_id=bev_line.id, data=vehicle_in(
        category=LE, powertrain=BEV, price_cny=Decimal(149000), acquired_on=on(2)))
    v["a2"] = vehicles.acquire(session, ADMIN, plan_line_id=ice_line.id, data=vehicle_in(
        category=LE, powertrain=ICE, price_cny=Decimal(108000), acquired_on=on(3)))
    plans.create_plan(session, ADMIN, data=PlanIn.parse({"agency": "WH-CG", "year": THIS_YEAR, "lines": [
        {"kind": "new", "category": "emergency", "powertrain": "bev", "count": 3, "unit_price_cny": 150000},
    ]}))

    cost(session, v["g1"], "fuel", date(THIS_YEAR - 1, 12, 1), 500)  # last year's: not in this year's report
    cost(session, v["g1"], "fuel", on(2), 800, 52000)
    cost(session, v["g1"], "fuel", on(5), 900, 55000)
    cost(session, v["g1"], "insurance", on(1, 5), 3000)
    cost(session, v["g2"], "charging", on(3), 200, 23000)
    cost(session, v["g3"], "fuel", on(3), 700, 81000)
    cost(session, v["a1"], "charging", on(4), 150, 1500)
    cost(session, v["c1"], "fuel", on(4), 400, 32000)
    cost(session, v["j1"], "charging", on(5), 100, 6000)
    vehicles.dispose(session, ADMIN, vehicle_id=v["g3"].id, data=DisposalIn(
        method=DisposalMethod.auction, disposed_on=on(6, 30), proceeds_cny=Decimal("12000.50")))
    return World(session, v)


@pytest.fixture
def city_report(world: World) -> AnnualReport:
    return annual_report(world.session, year=THIS_YEAR, jurisdiction="420100")


class TestJurisdictionReport:
    def test_scope_and_tables_are_named(self, city_report: AnnualReport) -> None:
        assert (city_report.year, city_report.scope, city_report.scope_name) == (THIS_YEAR, "jurisdiction:420100",
                                                                               "武汉市")
        assert [t.name for t in city_report.tables] == TABLES
        for t in city_report.tables:
            assert all(len(row) == len(t.columns) for row in t.rows), t.name

    def test_the_county_agency_is_included(self, city_report: AnnualReport) -> None:
        assert city_report.summary["agencies"] == 3
        assert {row[0] for row in city_report.table("quota_use").rows} == {"WH-GA", "WH-CG", "JA-ZF"}

    def test_fleet_composition_counts_vehicles_held_at_year_end(self, city_report: AnnualReport) -> None:
        rows = city_report.table("fleet").rows
        assert [(cat, pt, nev, n) for cat, _, pt, _, nev, n in rows] == [
            (EMG, ICE, False, 1),
            (GEN, BEV, True, 1),
            (GEN, PHEV, True, 1),
            (LE, BEV, True, 2),
            (LE, HEV, False, 1),
            (LE, ICE, False, 3),
        ]
        assert rows[1][1] == "其他"
        assert rows[1][3] == "纯电动"
        assert city_report.summary["vehicles_held"] == 9
        assert city_report.summary["new_energy_held"] == 4

    def test_quota_use_per_agency_and_category_flags_the_agency_over_quota(self, city_report: AnnualReport) -> None:
        rows = [[r[0], r[2], *r[3:]] for r in city_report.table("quota_use").rows]
        assert rows == [
            ["JA-ZF", GEN, 2, 1, 50.0, False],
            ["WH-CG", EMG, 1, 1, 100.0, False],
            ["WH-CG", LE, 1, 2, 200.0, True],
            ["WH-GA", LE, 4, 4, 100.0, False],
            ["WH-GA", GEN, 2, 1, 50.0, False],
        ]
        s = city_report.summary
        assert (s["quota_total"], s["quota_use_pct"], s["agencies_over_quota"]) == (10, 90.0, 1)

    def test_additions_and_their_new_energy_share(self, city_report: AnnualReport) -> None:
        assert city_report.table("additions").rows == [
            [LE, BEV, True, 1, Decimal(149000)],
            [LE, ICE, False, 1, Decimal(108000)],
        ]
        s = city_report.summary
        assert (s["additions"], s["additions_new_energy"], s["additions_new_energy_pct"]) == (2, 1, 50.0)
        assert s["new_energy_minimum_pct"] == 30.0

    def test_plans_of_the_year_by_status(self, city_report: AnnualReport) -> None:
        assert [[r[0], r[2], r[3]] for r in city_report.table("plans").rows] == [
            [PlanStatus.draft, 1, 3],
            [PlanStatus.approved, 1, 2],
        ]

    def test_disposals_of_the_year_and_their_proceeds(self, city_report: AnnualReport) -> None:
        assert city_report.table("disposals").rows == [
            [DisposalMethod.auction, "公开拍卖", 1, Decimal("12000.50")],
        ]
        assert city_report.summary["disposals"] == 1  # last year's scrapping is not counted
        assert city_report.summary["disposal_proceeds_cny"] == Decimal("12000.50")

    def test_km_and_costs_of_the_year(self, city_report: AnnualReport) -> None:
        km = (55000 - 50000) + (23000 - 20000) + (81000 - 80000) + 1500 + (32000 - 30000) + (6000 - 5000)
        total = Decimal(800 + 900 + 3000 + 200 + 700 + 150 + 400 + 100)
        in_use = 10  # the nine held and g3, disposed of in June
        s = city_report.summary
        assert (km, total) == (13500, Decimal(6250))
        assert s["km_driven"] == km
        assert s["operating_cost_cny"] == total
        assert s["cost_per_km_cny"] == (total / km).quantize(Decimal("0.01")) == Decimal("0.46")
        assert s["cost_per_vehicle_cny"] == (total / in_use).quantize(Decimal("0.01")) == Decimal("625.00")
        assert [r[::2] for r in city_report.table("costs").rows] == [
            ["fuel", Decimal(800 + 900 + 700 + 400)],
            ["charging", Decimal(200 + 150 + 100)],
            ["insurance", Decimal(3000)],
        ]

    def test_cost_by_category_counts_every_vehicle_in_use(self, city_report: AnnualReport) -> None:
        assert city_report.table("cost_by_category").rows == [
            [EMG, 1, 0, Decimal(0), Decimal("0.00"), None],
            [GEN, 3, 2000, Decimal(800), Decimal("266.67"), Decimal("0.40")],
            [LE, 6, 11500, Decimal(5450), Decimal("908.33"), Decimal("0.47")],
        ]

    def test_a_vehicle_disposed_during_the_year_is_not_held_but_its_costs_count(self, world: World,
                                                                                city_report: AnnualReport) -> None:
        g3 = world.v["g3"]
        assert (GEN, ICE) not in {(r[0], r[2]) for r in city_report.table("fleet").rows}
        top = {r[0]: r for r in city_report.table("top_cost_per_km").rows}
        assert top[g3.plate][4:] == [1000, Decimal(700), Decimal("0.70")]
        assert next(r for r in city_report.table("costs").rows if r[0] == "fuel")[2] == Decimal(2800)

    def test_top_cost_per_km_ranks_vehicles_of_at_least_1000_km(self, world: World,
                                                                city_report: AnnualReport) -> None:
        v = world.v
        rows = city_report.table("top_cost_per_km").rows
        tied = sorted([v["a1"].plate, v["j1"].plate])  # 0.10 CNY/km each: by plate
        assert [r[0] for r in rows] == [v["g1"].plate, v["g3"].plate, v["c1"].plate, *tied, v["g2"].plate]
        assert rows[0][1:] == ["WH-GA", LE, ICE, 5000, Decimal(4700), Decimal("0.94")]
        assert rows[-1][6] == Decimal("0.07")


class TestOtherScopesAndYears:
    def test_agency_scope_covers_that_agency_only(self, world: World) -> None:
        report = annual_report(world.session, year=THIS_YEAR, agency="WH-GA")
        s = report.summary
        assert (report.scope, report.scope_name) == ("agency:WH-GA", "单位 WH-GA")
        assert {r[0] for r in report.table("quota_use").rows} == {"WH-GA"}
        assert (s["agencies"], s["vehicles_held"], s["quota_total"], s["agencies_over_quota"]) == (1, 5, 6, 0)
        assert (s["additions"], s["disposals"], s["disposal_proceeds_cny"]) == (2, 1, Decimal("12000.50"))
        total, km = Decimal(4700 + 200 + 700 + 150), 5000 + 3000 + 1000 + 1500
        assert (s["km_driven"], s["operating_cost_cny"]) == (km, total)
        assert s["cost_per_km_cny"] == Decimal("0.55")
        assert s["cost_per_vehicle_cny"] == (total / 6).quantize(Decimal("0.01"))
        assert [r[0] for r in report.table("plans").rows] == [PlanStatus.approved]

    def test_agency_scope_includes_its_sub_agencies(self, world: World) -> None:
        registry.create_agency(world.session, ADMIN, data=AgencyIn(
            code="WH-GA-JJ", name="交警支队", jurisdiction="420100", parent="WH-GA"))
        registry.set_quota(world.session, ADMIN, data=QuotaIn(agency="WH-GA-JJ", category=LE, limit=1,
                                                              reason="establishment"))
        retained(world.session, "WH-GA-JJ", km=1000, category=LE, powertrain=BEV)
        parent = annual_report(world.session, year=THIS_YEAR, agency="WH-GA")
        child = annual_report(world.session, year=THIS_YEAR, agency="WH-GA-JJ")
        assert (parent.summary["agencies"], parent.summary["vehicles_held"]) == (2, 6)
        assert (child.summary["agencies"], child.summary["vehicles_held"]) == (1, 1)

    def test_county_scope_leaves_the_city_agencies_out(self, world: World) -> None:
        s = annual_report(world.session, year=THIS_YEAR, jurisdiction="420102").summary
        assert (s["agencies"], s["vehicles_held"], s["quota_total"]) == (1, 1, 2)
        assert (s["km_driven"], s["operating_cost_cny"], s["cost_per_km_cny"]) == (1000, Decimal(100),
                                                                                  Decimal("0.10"))
        assert (s["additions"], s["additions_new_energy_pct"], s["disposals"]) == (0, None, 0)

    def test_the_province_scope_sums_the_whole_tree(self, world: World, city_report: AnnualReport) -> None:
        province = annual_report(world.session, year=THIS_YEAR, jurisdiction="420000")
        assert province.summary == city_report.summary
        assert province.scope_name == "湖北省"

    def test_last_year_holds_what_was_held_then(self, world: World) -> None:
        s = annual_report(world.session, year=THIS_YEAR - 1, jurisdiction="420100").summary
        # g3 still held, this year's acquisitions not yet; j2 scrapped in November
        assert (s["vehicles_held"], s["additions"], s["disposals"]) == (8, 0, 1)
        assert s["disposal_proceeds_cny"] == Decimal(0)
        # one reading each (the stock-take): no km, so no cost per km; 500 CNY over nine vehicles in use
        assert (s["km_driven"], s["operating_cost_cny"], s["cost_per_km_cny"]) == (0, Decimal(500), None)
        assert s["cost_per_vehicle_cny"] == Decimal("55.56")


    def test_a_transfer_this_year_does_not_rewrite_last_years_report(self, world: World) -> None:
        def held_last_year(code: str) -> int:
            return annual_report(world.session, year=THIS_YEAR - 1, agency=code).summary["vehicles_held"]

        assert (held_last_year("WH-GA"), held_last_year("JA-ZF")) == (4, 1)  # g1-g4; j1
        vehicles.transfer(world.session, ADMIN, vehicle_id=world.v["g4"].id, data=TransferIn(
            to_agency="JA-ZF", transferred_on=on(4, 15), reason="调剂 to the district"))
        assert (held_last_year("WH-GA"), held_last_year("JA-ZF")) == (4, 1)


class TestRefusals:
    @pytest.mark.parametrize("scope", [{}, {"jurisdiction": "420100", "agency": "WH-GA"}])
    def test_exactly_one_scope_must_be_named(self, world: World, scope: dict[str, str]) -> None:
        with pytest.raises(InvalidInput, match="exactly one of jurisdiction or agency"):
            annual_report(world.session, year=THIS_YEAR, **scope)

    @pytest.mark.parametrize(("scope", "message"), [
        ({"jurisdiction": "999999"}, "unknown jurisdiction '999999'"),
        ({"agency": "NOPE"}, "unknown agency 'NOPE'"),
    ])
    def test_an_unknown_code_is_not_found(self, session: Session, scope: dict[str, str], message: str) -> None:
        jurisdiction_tree(session)
        with pytest.raises(NotFound, match=message):
            annual_report(session, year=THIS_YEAR, **scope)


class TestExports:
    def test_json_carries_the_same_summary_and_every_table(self, city_report: AnnualReport) -> None:
        body = json.loads(city_report.to_json())
        assert (body["report"], body["year"], body["scope"], body["scope_name"]) == (
            "annual", THIS_YEAR, "jurisdiction:420100", "武汉市")
        s = body["summary"]
        assert (s["vehicles_held"], s["quota_total"], s["km_driven"], s["additions_new_energy_pct"]) == (
            9, 10, 13500, 50.0)
        assert Decimal(s["disposal_proceeds_cny"]) == Decimal("12000.50")
        assert Decimal(s["operating_cost_cny"]) == Decimal(6250)
        assert Decimal(s["cost_per_km_cny"]) == Decimal("0.46")
        assert set(s) == set(city_report.summary)
        assert list(body["tables"]) == TABLES
        over = [r for r in body["tables"]["quota_use"]["rows"] if r["over_quota"]]
        assert over == [{"agency": "WH-CG", "agency_name": "单位 WH-CG", "category": "law_enforcement", "quota": 1,
                         "held": 2, "use_pct": 200.0, "over_quota": True}]

    def test_csv_has_one_block_per_table_each_with_its_header(self, city_report: AnnualReport) -> None:
        text = city_report.to_csv()
        blocks = [list(csv.reader(io.StringIO(b))) for b in text.strip("\n").split("\n\n")]
        assert len(blocks) == 1 + len(TABLES)
        assert blocks[0][0] == ["section", "metric", "value"]
        summary = {row[1]: row[2] for row in blocks[0][1:]}
        assert all(row[0] == "summary" for row in blocks[0][1:])
        assert (summary["vehicles_held"], summary["disposal_proceeds_cny"]) == ("9", "12000.50")
        assert summary["cost_per_km_cny"] == "0.46"
        for table, block in zip(city_report.tables, blocks[1:], strict=True):
            assert block[0] == ["section", *table.columns]
            assert len(block) == 1 + len(table.rows)
            assert all(row[0] == table.name for row in block[1:]), table.name
        fleet = blocks[1]
        assert fleet[-1] == ["fleet", "law_enforcement", "执法执勤", "ice", "燃油", "False", "3"]

    def test_xlsx_has_a_summary_sheet_and_one_sheet_per_table(self, city_report: AnnualReport) -> None:
        book = openpyxl.load_workbook(io.BytesIO(city_report.to_xlsx()))
        assert book.sheetnames == ["summary", *TABLES]
        summary = {row[0]: row[1] for row in book["summary"].iter_rows(min_row=2, values_only=True)}
        assert summary["vehicles_held"] == 9
        assert summary["disposal_proceeds_cny"] == pytest.approx(12000.50)
        assert summary["additions_new_energy_pct"] == 50.0
        for table in city_report.tables:
            ws = book[table.name]
            assert [c.value for c in ws[2]] == table.columns
            assert ws.max_row == 2 + len(table.rows)
        quota = list(book["quota_use"].iter_rows(min_row=3, values_only=True))
        assert quota[2] == ("WH-CG", "单位 WH-CG", "law_enforcement", 1, 2, 200.0, True)
