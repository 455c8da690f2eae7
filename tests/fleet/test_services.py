"""Registry services on a real database (SQLite and PostgreSQL), one rolled-back transaction per test."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, costs, drivers, plans, queries, registry, vehicles
from fleet.clock import today as china_today  # China's date: after 16:00 UTC it is already tomorrow
from fleet.enums import Category, PlanStatus, Powertrain, VehicleStatus
from fleet.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    InvalidState,
    NewEnergyShareTooLow,
    NotFound,
    PlanLineMismatch,
    QuotaExceeded,
    RenewalTooEarly,
    StandardExceeded,
    YearClosed,
)
from fleet.models import Agency, AuditRecord, Disposal, Plan, Quota, QuotaChange, Vehicle
from fleet.schemas import (
    AgencyIn,
    CostIn,
    DisposalIn,
    DriverIn,
    JurisdictionIn,
    PlanIn,
    QuotaIn,
    TransferIn,
)
from tests.factories import ADMIN, THIS_YEAR, agency, jurisdiction_tree, registered, vehicle_in

LE = Category.law_enforcement


def audit_count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(AuditRecord)) or 0


def plan_in(agency_code: str = "WH-GA", *, year: int = THIS_YEAR, lines: list[dict[str, Any]]) -> PlanIn:
    return PlanIn.parse({"agency": agency_code, "year": year, "lines": lines})


def new_line(**overrides: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"kind": "new", "category": "law_enforcement", "powertrain": "bev", "count": 1,
                            "unit_price_cny": 150000}
    line.update(overrides)
    return line


def submitted(session: Session, data: PlanIn) -> Plan:
    plan = plans.create_plan(session, ADMIN, data=data)
    return plans.submit_plan(session, ADMIN, plan_id=plan.id)


@pytest.fixture
def city(session: Session) -> Session:
    """武汉市 with the police bureau WH-GA (quota: 4 law-enforcement, 2 general)."""
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={LE: 4, Category.general: 2})
    return session


class TestRegistry:
    def test_agency_in_unknown_jurisdiction_is_refused_and_nothing_stored(self, session: Session) -> None:
        before = audit_count(session)
        with pytest.raises(NotFound, match="unknown jurisdiction '999999'") as err:
            registry.create_agency(session, ADMIN, data=AgencyIn(code="X", name="x", jurisdiction="999999"))
        assert err.value.field == "jurisdiction"
        assert audit_count(session) == before

    def test_duplicate_codes_are_refused(self, city: Session) -> None:
        with pytest.raises(AlreadyExists, match="agency WH-GA is already registered"):
            registry.create_agency(city, ADMIN, data=AgencyIn(code="WH-GA", name="x", jurisdiction="420100"))
        with pytest.raises(AlreadyExists):
            registry.create_jurisdiction(city, ADMIN, data=JurisdictionIn(code="420100", name="x", level="city"))

    def test_a_city_cannot_sit_under_a_county(self, city: Session) -> None:
        with pytest.raises(InvalidInput, match="cannot sit under") as err:
            registry.create_jurisdiction(city, ADMIN, data=JurisdictionIn(
                code="9", name="x", level="city", parent="420102"))
        assert err.value.field == "level"

    def test_a_quota_is_read_as_it_stood_at_a_moment(self, city: Session) -> None:
        """Reports of past years read the quota history, not today's quota."""
        ga = city.scalars(sa.select(Agency).where(Agency.code == "WH-GA")).one()
        first = city.scalars(sa.select(QuotaChange).order_by(QuotaChange.id)).first()
        assert first is not None
        registry.set_quota(city, ADMIN, data=QuotaIn(agency="WH-GA", category=LE, limit=9, reason="expansion"))
        city.execute(sa.update(QuotaChange).where(QuotaChange.new_limit == 9)
                     .values(changed_at=first.changed_at + timedelta(days=30)))
        assert queries.quota_limits_on(city, [ga.id], first.changed_at)[(ga.id, LE)] == 4
        assert queries.quota_limits_on(city, [ga.id], first.changed_at + timedelta(days=31))[(ga.id, LE)] == 9
        assert queries.quota_limits_on(city, [ga.id], first.changed_at - timedelta(seconds=1)) == {}

    def test_quota_changes_keep_their_history_and_are_audited(self, city: Session) -> None:
        registry.set_quota(city, ADMIN, data=QuotaIn(agency="WH-GA", category=LE, limit=6, reason="new unit"))
        history = city.execute(
            sa.select(QuotaChange.old_limit, QuotaChange.new_limit, QuotaChange.reason)
            .join(Quota, Quota.id == QuotaChange.quota_id).where(Quota.category == LE).order_by(QuotaChange.id)
        ).all()
        assert [tuple(h) for h in history] == [(None, 4, "establishment"), (4, 6, "new unit")]
        last = city.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert last is not None
        assert last.action == "quota.changed"
        assert (last.changes["old_limit"], last.changes["new_limit"], last.changes["held"]) == (4, 6, 0)


class TestRegister:
    def test_registering_within_quota_records_vehicle_reading_and_audit(self, city: Session) -> None:
        v = registered(city, category=LE)
        assert v.status is VehicleStatus.active
        rec = city.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert rec is not None
        assert (rec.action, rec.entity, rec.entity_id) == ("vehicle.registered", "vehicle", str(v.id))
        assert rec.changes["plate"] == v.plate

    def test_one_past_the_quota_is_refused_naming_agency_and_numbers(self, city: Session) -> None:
        for _ in range(4):
            registered(city, category=LE)
        before = (audit_count(city), city.scalar(sa.select(sa.func.count()).select_from(Vehicle)))
        with pytest.raises(QuotaExceeded, match=r"WH-GA would hold 5 law_enforcement .* quota of 4"):
            registered(city, category=LE)
        assert (audit_count(city), city.scalar(sa.select(sa.func.count()).select_from(Vehicle))) == before

    def test_no_quota_row_means_none_may_be_held(self, city: Session) -> None:
        with pytest.raises(QuotaExceeded, match="quota of 0"):
            registered(city, category=Category.emergency)

    def test_plate_and_vin_already_registered_are_refused(self, city: Session) -> None:
        v = registered(city)
        with pytest.raises(AlreadyExists, match=f"plate {v.plate} is already registered") as err:
            registered(city, plate=v.plate)
        assert err.value.field == "plate"
        with pytest.raises(AlreadyExists, match="VIN") as err:
            registered(city, vin=v.vin)
        assert err.value.field == "vin"

    def test_unknown_agency_is_refused(self, city: Session) -> None:
        with pytest.raises(NotFound, match="unknown agency 'NOPE'"):
            registered(city, "NOPE")


class TestPlanApproval:
    def test_a_plan_within_every_rule_is_approved_and_audited(self, city: Session) -> None:
        plan = submitted(city, plan_in(lines=[new_line(count=2), new_line(powertrain="ice", unit_price_cny=110000,
                                                                           displacement_l="1.5")]))
        plans.approve_plan(city, ADMIN, plan_id=plan.id)
        assert plan.status is PlanStatus.approved
        rec = city.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert rec is not None
        assert rec.action == "plan.approved"
        assert rec.changes["new_energy"] == 2
        assert rec.changes["counted_for_share"] == 3

    def test_quota_headroom_refusal(self, city: Session) -> None:
        registered(city, category=LE)
        plan = submitted(city, plan_in(lines=[new_line(count=4)]))
        with pytest.raises(QuotaExceeded, match=r"would hold 5 .* quota of 4 \(held 1, this change \+4\)"):
            plans.approve_plan(city, ADMIN, plan_id=plan.id)
        assert city.get(Plan, plan.id).status is PlanStatus.submitted  # type: ignore[union-attr]

    def test_approved_but_unbought_vehicles_count_against_the_next_plan(self, city: Session) -> None:
        first = submitted(city, plan_in(lines=[new_line(count=3)]))
        plans.approve_plan(city, ADMIN, plan_id=first.id)
        second = submitted(city, plan_in(lines=[new_line(count=2)]))
        with pytest.raises(QuotaExceeded, match=r"already approved \+3"):
            plans.approve_plan(city, ADMIN, plan_id=second.id)

    def test_equipment_standard_refusal_names_the_line_and_the_cap(self, city: Session) -> None:
        plan = submitted(city, plan_in(lines=[new_line(powertrain="ice", unit_price_cny=150000,
                                                       displacement_l="1.6")]))
        with pytest.raises(StandardExceeded, match=r"line 1: .* 150,000 CNY exceeds the standard of 120,000 CNY"):
            plans.approve_plan(city, ADMIN, plan_id=plan.id)

    def test_law_enforcement_higher_tier_with_justification_is_approved(self, city: Session) -> None:
        plan = submitted(city, plan_in(lines=[
            new_line(powertrain="ice", unit_price_cny=170000, displacement_l="1.8",
                     justification="patrol on mountain roads"),
            new_line(),
        ]))
        plans.approve_plan(city, ADMIN, plan_id=plan.id)
        assert plan.status is PlanStatus.approved

    def test_renewal_before_eight_years_is_refused_and_post_change_never_allowed(self, city: Session) -> None:
        young = registered(city, category=LE, acquired_on=date(THIS_YEAR - 3, 1, 1))
        line = new_line(kind="renewal", replaces=[young.plate])
        plan = submitted(city, plan_in(lines=[line]))
        with pytest.raises(RenewalTooEarly, match=f"{young.plate} .* renewal age of 8 years"):
            plans.approve_plan(city, ADMIN, plan_id=plan.id)
        plans.reject_plan(city, ADMIN, plan_id=plan.id, reason="too early")
        post = submitted(city, plan_in(lines=[{**line, "early_renewal_basis": "post_change",
                                               "early_renewal_reason": "new director"}]))
        with pytest.raises(RenewalTooEarly, match="change of post is never a ground"):
            plans.approve_plan(city, ADMIN, plan_id=post.id)
        plans.reject_plan(city, ADMIN, plan_id=post.id, reason="post change")
        ok = submitted(city, plan_in(lines=[{**line, "early_renewal_basis": "accident_beyond_repair",
                                             "early_renewal_reason": "written off after a crash"}]))
        plans.approve_plan(city, ADMIN, plan_id=ok.id)
        assert ok.status is PlanStatus.approved

    def test_new_energy_share_counts_the_whole_jurisdiction_year(self, city: Session) -> None:
        agency(city, "WH-CG", quotas={LE: 10})
        fuel = {"powertrain": "ice", "unit_price_cny": 110000, "displacement_l": "1.5"}
        first = submitted(city, plan_in("WH-CG", lines=[new_line(count=3), new_line(count=4, **fuel)]))
        plans.approve_plan(city, ADMIN, plan_id=first.id)  # 3 of 7
        second = submitted(city, plan_in(lines=[new_line(count=4, **fuel)]))
        with pytest.raises(NewEnergyShareTooLow, match=r"3 of 11 .* minimum of 30%.* make 1 more"):
            plans.approve_plan(city, ADMIN, plan_id=second.id)
        assert city.get(Plan, second.id).status is PlanStatus.submitted  # type: ignore[union-attr]

    def test_a_recorded_exemption_takes_a_line_out_of_the_share(self, city: Session) -> None:
        plan = submitted(city, plan_in(lines=[new_line(powertrain="ice", unit_price_cny=110000, displacement_l="1.5",
                                                       new_energy_exemption="no new-energy armoured model")]))
        plans.approve_plan(city, ADMIN, plan_id=plan.id)
        assert plan.status is PlanStatus.approved

    def test_review_lists_every_broken_rule_at_once(self, city: Session) -> None:
        plan = submitted(city, plan_in(lines=[new_line(count=9, powertrain="ice", unit_price_cny=200000,
                                                       displacement_l="2.0")]))
        kinds = [type(f) for f in plans.review(city, plan)]
        assert kinds == [QuotaExceeded, StandardExceeded, NewEnergyShareTooLow]

    def test_past_and_closed_years_are_refused(self, city: Session) -> None:
        with pytest.raises(YearClosed, match=f"plan year {THIS_YEAR - 1} is over"):
            plans.create_plan(city, ADMIN, data=plan_in(year=THIS_YEAR - 1, lines=[new_line()]))
        registry.close_year(city, ADMIN, jurisdiction="420100", year=THIS_YEAR)
        with pytest.raises(YearClosed, match=f"has closed plan year {THIS_YEAR}"):
            plans.create_plan(city, ADMIN, data=plan_in(lines=[new_line()]))

    def test_only_submitted_plans_can_be_decided(self, city: Session) -> None:
        draft = plans.create_plan(city, ADMIN, data=plan_in(lines=[new_line()]))
        with pytest.raises(InvalidState, match="only a submitted plan can be approved"):
            plans.approve_plan(city, ADMIN, plan_id=draft.id)

    def test_a_vehicle_cannot_be_replaced_by_two_live_plans(self, city: Session) -> None:
        old = registered(city, category=LE, acquired_on=date(THIS_YEAR - 9, 1, 1))
        plans.create_plan(city, ADMIN, data=plan_in(lines=[new_line(kind="renewal", replaces=[old.plate])]))
        with pytest.raises(Conflict, match="already to be replaced"):
            plans.create_plan(city, ADMIN, data=plan_in(lines=[new_line(kind="renewal", replaces=[old.plate])]))

    def test_renewal_of_another_agencys_vehicle_is_refused(self, city: Session) -> None:
        agency(city, "WH-CG", quotas={LE: 2})
        theirs = registered(city, "WH-CG", category=LE, acquired_on=date(THIS_YEAR - 9, 1, 1))
        with pytest.raises(InvalidInput, match="is held by WH-CG"):
            plans.create_plan(city, ADMIN, data=plan_in(lines=[new_line(kind="renewal", replaces=[theirs.plate])]))


def approved(session: Session, *lines: dict[str, Any]) -> Plan:
    plan = submitted(session, plan_in(lines=list(lines)))
    return plans.approve_plan(session, ADMIN, plan_id=plan.id)


class TestAcquireAndRenew:
    def test_acquire_against_an_approved_line_until_it_is_used_up(self, city: Session) -> None:
        plan = approved(city, new_line(count=1))
        line = plan.lines[0]
        v = vehicles.acquire(city, ADMIN, plan_line_id=line.id, data=vehicle_in(
            category=LE, powertrain=Powertrain.bev, price_cny=Decimal(149000), acquired_on=date(THIS_YEAR, 1, 2)))
        assert v.plan_line_id == line.id
        assert line.acquired == 1
        with pytest.raises(PlanLineMismatch, match="all its vehicles have been acquired"):
            vehicles.acquire(city, ADMIN, plan_line_id=line.id, data=vehicle_in(
                category=LE, powertrain=Powertrain.bev, acquired_on=date(THIS_YEAR, 1, 2)))

    @pytest.mark.parametrize(("override", "field"), [
        ({"category": Category.general}, "category"),
        ({"powertrain": Powertrain.phev, "displacement_l": Decimal("1.5")}, "powertrain"),
        ({"price_cny": Decimal(150001)}, "price_cny"),
        ({"seats": 7}, "seats"),
    ])
    def test_a_vehicle_unlike_its_line_is_refused(self, city: Session, override: dict[str, Any], field: str) -> None:
        line = approved(city, new_line()).lines[0]
        data = vehicle_in(**{"category": LE, "powertrain": Powertrain.bev, "acquired_on": date(THIS_YEAR, 2, 1),
                             **override})
        with pytest.raises(PlanLineMismatch) as err:
            vehicles.acquire(city, ADMIN, plan_line_id=line.id, data=data)
        assert err.value.field == field
        assert line.acquired == 0

    def test_acquiring_against_an_unapproved_plan_is_refused(self, city: Session) -> None:
        plan = submitted(city, plan_in(lines=[new_line()]))
        with pytest.raises(PlanLineMismatch, match="only against an approved plan"):
            vehicles.acquire(city, ADMIN, plan_line_id=plan.lines[0].id, data=vehicle_in(
                category=LE, powertrain=Powertrain.bev, acquired_on=date(THIS_YEAR, 2, 1)))

    def test_renew_registers_the_new_and_disposes_the_old_in_one_step(self, city: Session) -> None:
        old = registered(city, category=LE, acquired_on=date(THIS_YEAR - 9, 1, 1))
        line = approved(city, new_line(kind="renewal", replaces=[old.plate])).lines[0]
        new = vehicles.renew(
            city, ADMIN, plan_line_id=line.id, replaced_vehicle_id=old.id,
            data=vehicle_in(category=LE, powertrain=Powertrain.bev, acquired_on=date(THIS_YEAR, 3, 1)),
            disposal=DisposalIn(method="auction", disposed_on=date(THIS_YEAR, 3, 1), proceeds_cny=Decimal(8000)),
        )
        assert old.status is VehicleStatus.disposed
        assert new.status is VehicleStatus.active
        actions = city.scalars(sa.select(AuditRecord.action).order_by(AuditRecord.seq.desc()).limit(2)).all()
        assert actions == ["vehicle.renewed", "vehicle.disposed"]

    def test_a_vehicle_disposed_of_before_its_renewal_is_still_replaced_under_the_line(self, city: Session) -> None:
        """Written off (an accident, say) before its replacement came: the approved renewal still brings the new one
        in, and the disposal already recorded stands."""
        old = registered(city, category=LE, acquired_on=date(THIS_YEAR - 9, 1, 1))
        line = approved(city, new_line(kind="renewal", replaces=[old.plate])).lines[0]
        vehicles.dispose(city, ADMIN, vehicle_id=old.id,
                         data=DisposalIn(method="scrap", disposed_on=date(THIS_YEAR, 2, 1)))
        new = vehicles.renew(
            city, ADMIN, plan_line_id=line.id, replaced_vehicle_id=old.id,
            data=vehicle_in(category=LE, powertrain=Powertrain.bev, acquired_on=date(THIS_YEAR, 3, 1)), disposal=None,
        )
        assert new.status is VehicleStatus.active
        assert line.acquired == 1
        assert old.disposed_on == date(THIS_YEAR, 2, 1)
        assert city.scalar(sa.select(sa.func.count()).select_from(Disposal).where(Disposal.vehicle_id == old.id)) == 1
        last = city.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).one()
        assert (last.action, last.changes["replaces"]) == ("vehicle.renewed", old.plate)

    @pytest.mark.parametrize("disposed_first", [False, True])
    def test_a_disposal_is_given_exactly_when_the_replaced_vehicle_is_held(self, city: Session,
                                                                           disposed_first: bool) -> None:
        old = registered(city, category=LE, acquired_on=date(THIS_YEAR - 9, 1, 1))
        line = approved(city, new_line(kind="renewal", replaces=[old.plate])).lines[0]
        if disposed_first:
            vehicles.dispose(city, ADMIN, vehicle_id=old.id,
                             data=DisposalIn(method="scrap", disposed_on=date(THIS_YEAR, 2, 1)))
        held = city.scalar(sa.select(sa.func.count()).select_from(Vehicle))
        with pytest.raises(InvalidInput, match="already disposed of" if disposed_first else "still held") as refused:
            vehicles.renew(
                city, ADMIN, plan_line_id=line.id, replaced_vehicle_id=old.id,
                data=vehicle_in(category=LE, powertrain=Powertrain.bev, acquired_on=date(THIS_YEAR, 3, 1)),
                disposal=DisposalIn(method="auction", disposed_on=date(THIS_YEAR, 3, 1)) if disposed_first else None,
            )
        assert refused.value.field == "disposal"
        assert line.acquired == 0
        assert city.scalar(sa.select(sa.func.count()).select_from(Vehicle)) == held

    def test_renewal_age_is_checked_again_on_the_day(self, city: Session) -> None:
        # Approved because the vehicle turns 8 within the plan year, but renewed before its birthday.
        old = registered(city, category=LE, acquired_on=date(THIS_YEAR - 8, 12, 1))
        line = approved(city, new_line(kind="renewal", replaces=[old.plate])).lines[0]
        with pytest.raises(RenewalTooEarly, match=f"only on {THIS_YEAR}-12-01"):
            vehicles.renew(
                city, ADMIN, plan_line_id=line.id, replaced_vehicle_id=old.id,
                data=vehicle_in(category=LE, powertrain=Powertrain.bev, acquired_on=date(THIS_YEAR, 6, 1)),
                disposal=DisposalIn(method="scrap", disposed_on=date(THIS_YEAR, 6, 1)),
            )
        assert old.status is VehicleStatus.active


class TestTransferSealDispose:
    def test_transfer_checks_the_receiving_quota(self, city: Session) -> None:
        agency(city, "WH-CG", quotas={LE: 1})
        a, b = registered(city, category=LE), registered(city, category=LE)
        vehicles.transfer(city, ADMIN, vehicle_id=a.id, data=TransferIn(
            to_agency="WH-CG", transferred_on=china_today(), reason="调剂 to the city management bureau"))
        assert a.agency.code == "WH-CG"
        with pytest.raises(QuotaExceeded, match="WH-CG would hold 2"):
            vehicles.transfer(city, ADMIN, vehicle_id=b.id, data=TransferIn(
                to_agency="WH-CG", transferred_on=china_today(), reason="second one"))
        assert b.agency.code == "WH-GA"

    def test_status_moves_follow_the_lifecycle(self, city: Session) -> None:
        v = registered(city)
        vehicles.maintenance_in(city, ADMIN, vehicle_id=v.id, reason="brakes", odometer_km=5000)
        with pytest.raises(InvalidState, match="is maintenance; seal needs active"):
            vehicles.seal(city, ADMIN, vehicle_id=v.id, reason="surplus")
        vehicles.maintenance_out(city, ADMIN, vehicle_id=v.id)
        vehicles.seal(city, ADMIN, vehicle_id=v.id, reason="surplus after the reform")
        assert v.status is VehicleStatus.sealed
        vehicles.dispose(city, ADMIN, vehicle_id=v.id, data=DisposalIn(
            method="auction", disposed_on=china_today(), proceeds_cny=Decimal("23500.50")))
        assert v.status is VehicleStatus.disposed
        with pytest.raises(InvalidState, match="already disposed"):
            vehicles.dispose(city, ADMIN, vehicle_id=v.id, data=DisposalIn(method="scrap", disposed_on=china_today()))

    def test_a_sealed_vehicle_still_counts_against_the_quota(self, city: Session) -> None:
        for _ in range(2):
            vehicles.seal(city, ADMIN, vehicle_id=registered(city).id, reason="surplus")
        with pytest.raises(QuotaExceeded):
            registered(city)

    def test_disposing_frees_the_quota(self, city: Session) -> None:
        first, _ = registered(city), registered(city)
        vehicles.dispose(city, ADMIN, vehicle_id=first.id, data=DisposalIn(method="scrap", disposed_on=china_today()))
        assert registered(city).status is VehicleStatus.active


class TestCostsAndDrivers:
    def test_cost_per_km_per_year(self, city: Session) -> None:
        v = vehicles.register(city, ADMIN, agency="WH-GA", read_on=date(THIS_YEAR - 1, 6, 1),
                          data=vehicle_in(acquired_on=date(THIS_YEAR - 1, 6, 1), odometer_km=0))
        costs.record_cost(city, ADMIN, vehicle_id=v.id, data=CostIn(
            kind="fuel", incurred_on=date(THIS_YEAR - 1, 12, 1), amount_cny=Decimal(500), odometer_km=8000))
        costs.record_cost(city, ADMIN, vehicle_id=v.id, data=CostIn(
            kind="fuel", incurred_on=date(THIS_YEAR, 3, 1), amount_cny=Decimal(600), odometer_km=10000))
        costs.record_cost(city, ADMIN, vehicle_id=v.id, data=CostIn(
            kind="insurance", incurred_on=date(THIS_YEAR, 4, 1), amount_cny=Decimal(3400)))
        account = costs.year_account(city, v.id, THIS_YEAR)
        assert account.km == 2000  # 10000 in the year minus the 8000 reading before it
        assert account.total == Decimal(4000)
        assert account.per_km == Decimal("2.00")
        assert v.odometer_km == 10000

    def test_an_odometer_running_backwards_is_refused_and_nothing_stored(self, city: Session) -> None:
        v = registered(city, odometer_km=20000)
        before = audit_count(city)
        with pytest.raises(InvalidInput, match="below an earlier reading of 20000 km") as err:
            costs.record_cost(city, ADMIN, vehicle_id=v.id, data=CostIn(
                kind="fuel", incurred_on=china_today(), amount_cny=Decimal(300), odometer_km=100))
        assert err.value.field == "odometer_km"
        assert audit_count(city) == before
        assert costs.year_account(city, v.id, THIS_YEAR).total == 0

    def test_drivers_belong_to_an_agency_or_the_pool(self, city: Session) -> None:
        mine = drivers.add_driver(city, ADMIN, data=DriverIn(
            name="张师傅", licence_class="C1", agency="WH-GA", shift_start="08:00", shift_end="18:00"))
        pool = drivers.add_driver(city, ADMIN, data=DriverIn(
            name="李师傅", licence_class="A1", shift_start="20:00", shift_end="08:00"))
        assert mine.agency is not None
        assert mine.agency.code == "WH-GA"
        assert pool.agency is None
        drivers.deactivate_driver(city, ADMIN, driver_id=pool.id, reason="retired")
        with pytest.raises(InvalidState):
            drivers.deactivate_driver(city, ADMIN, driver_id=pool.id, reason="again")


class TestAuditLog:
    def test_every_change_is_chained_and_the_chain_verifies(self, city: Session) -> None:
        registered(city)
        result = audit.verify(city)
        assert result.ok, str(result)
        assert result.records == audit_count(city) > 0

    def test_update_and_delete_are_refused_by_the_database(self, city: Session) -> None:
        for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), city.begin_nested():
                city.execute(sa.text(statement))

    def test_an_altered_record_is_named_by_verify(self, city: Session) -> None:
        registered(city)
        registered(city)
        target = audit_count(city) - 1
        _disable_triggers(city)
        city.execute(sa.text("UPDATE audit_log SET changes = :c WHERE seq = :s"),
                     {"c": '{"plate": "forged"}', "s": target})
        city.expire_all()
        result = audit.verify(city)
        assert not result.ok
        assert result.broken_seq == target
        assert "altered" in (result.reason or "")

    def test_a_removed_record_is_named_by_verify(self, city: Session) -> None:
        registered(city)
        _disable_triggers(city)
        city.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
        result = audit.verify(city)
        assert not result.ok
        assert result.broken_seq == 3
        assert "removed" in (result.reason or "")


def _disable_triggers(session: Session) -> None:
    """What an attacker with DDL rights does; inside the test's transaction, so it is rolled back."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        session.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
    else:
        session.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))


def table_counts(session: Session) -> dict[str, int]:
    from fleet.models import Base

    return {t.name: session.scalar(sa.select(sa.func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables}


class TestBadInputStoresNothing:
    """Each kind of bad input named in the acceptance criteria gets a domain error with a clear sentence, and
    no table — the audit log included — gains a row."""

    @pytest.mark.parametrize(("attempt", "error", "sentence"), [
        (lambda s: registered(s, "WH-NOPE"), NotFound, "unknown agency 'WH-NOPE'"),
        (lambda s: registered(s, price_cny=Decimal(-1)), InvalidInput, "field 'price_cny': Input should be greater"),
        (lambda s: registered(s, plate=s.scalars(sa.select(Vehicle.plate)).first()), AlreadyExists,
         "is already registered"),
        (lambda s: registered(s, vin="LGBH52E01X0000001"), InvalidInput, "fails the VIN check digit"),
        (lambda s: plans.create_plan(s, ADMIN, data=plan_in(year=THIS_YEAR + 1, lines=[new_line()])), YearClosed,
         f"has closed plan year {THIS_YEAR + 1}"),
    ], ids=["unknown-agency", "negative-price", "plate-taken", "malformed-vin", "closed-year"])
    def test_refused_and_nothing_stored(self, city: Session, attempt: Any, error: type[Exception],
                                        sentence: str) -> None:
        registered(city)
        registry.close_year(city, ADMIN, jurisdiction="420100", year=THIS_YEAR + 1)
        before = table_counts(city)
        with pytest.raises(error, match=sentence):
            attempt(city)
        assert table_counts(city) == before
