"""The registry's holes closed (issue 14's review): a rental car is hired from a contracted provider and is no way
round 编制 or the standard; go-live is never ahead; a back-filled reading or day fits between what is recorded;
a dissolved agency receives nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import clock, costs, plans, queries, registry, rentals, users, vehicles
from fleet.enums import Category, RegistrationBasis, Role, VehicleSource
from fleet.errors import InvalidInput, InvalidState, QuotaExceeded, RegistrationRefused, StandardExceeded
from fleet.models import Agency, Jurisdiction, OdometerReading, Plan
from fleet.schemas import (
    AgencyIn,
    CostIn,
    DisposalIn,
    JurisdictionIn,
    PlanIn,
    QuotaIn,
    RentalProviderIn,
    VehiclePatch,
)
from tests.factories import ADMIN, THIS_YEAR, agency, jurisdiction_tree, registered, vehicle_in

LIVE_ON = date(THIS_YEAR - 1, 12, 31)
GEN = Category.general
LE = Category.law_enforcement


def provider(session: Session, code: str = "ZL-WH", **overrides: Any) -> None:
    data: dict[str, Any] = {"code": code, "name": "武汉定点租赁", "base_cny": "50", "per_km_cny": "2.50",
                            "per_hour_cny": "30", "max_seats": 7, "contract_until": f"{THIS_YEAR + 5}-12-31"}
    rentals.add_provider(session, ADMIN, data=RentalProviderIn.parse({**data, **overrides}))


@pytest.fixture
def live(session: Session) -> Session:
    """武汉市, live since the end of last year; WH-GA (quota: 2 general, 1 law-enforcement); provider ZL-WH."""
    jurisdiction_tree(session, live_on=LIVE_ON)
    agency(session, "WH-GA", quotas={GEN: 2, LE: 1})
    provider(session)
    return session


def rental(session: Session, code: str = "WH-GA", **overrides: Any) -> Any:
    return registered(session, code, **{"source": VehicleSource.rental, "rental_provider": "ZL-WH", **overrides})


# --- 1. a rental car -----------------------------------------------------------------------------------------------


class TestRentalCars:
    def test_a_rental_car_is_hired_from_its_provider_and_stays_out_of_the_quota(self, live: Session) -> None:
        registered(live, category=GEN)
        registered(live, category=GEN)  # full
        hired = rental(live, category=GEN, acquired_on=clock.today())  # after go-live, over quota: both fine
        assert hired.rental_provider is not None
        assert hired.rental_provider.code == "ZL-WH"
        assert queries.held_count(live, hired.agency_id, GEN) == 2

    def test_a_rental_car_without_a_provider_is_refused(self, live: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            registered(live, source=VehicleSource.rental)
        assert refused.value.field == "rental_provider"

    def test_an_unknown_provider_is_refused(self, live: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            rental(live, rental_provider="ZL-NONE")
        assert refused.value.field == "rental_provider"

    def test_an_inactive_provider_is_refused(self, live: Session) -> None:
        provider(live, "ZL-OFF", active=False)
        with pytest.raises(InvalidState) as refused:
            rental(live, rental_provider="ZL-OFF")
        assert refused.value.field == "rental_provider"

    def test_a_provider_whose_contract_has_ended_is_refused(self, live: Session) -> None:
        provider(live, "ZL-OLD", contract_until=(clock.today() - timedelta(days=1)).isoformat())
        with pytest.raises(InvalidState, match="contract ended") as refused:
            rental(live, rental_provider="ZL-OLD")
        assert refused.value.field == "rental_provider"

    def test_a_contract_running_to_today_still_covers_it(self, live: Session) -> None:
        provider(live, "ZL-END", contract_until=clock.today().isoformat())
        assert rental(live, rental_provider="ZL-END").rental_provider_id is not None

    def test_a_vehicle_held_names_no_provider(self, live: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            registered(live, rental_provider="ZL-WH")
        assert refused.value.field == "rental_provider"

    def test_the_equipment_standard_applies_to_a_rental_car(self, live: Session) -> None:
        with pytest.raises(StandardExceeded) as refused:
            rental(live, price_cny=Decimal(500000), displacement_l=Decimal("3.0"))
        assert refused.value.field == "price_cny"
        leased = rental(live, price_cny=Decimal(500000), displacement_l=Decimal("3.0"),
                        registration_basis=RegistrationBasis.confiscation, registration_note="特批文件 3 号")
        assert leased.registration_basis is RegistrationBasis.confiscation

    def test_a_plan_line_does_not_acquire_a_rental_car(self, live: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            vehicles.acquire(live, ADMIN, plan_line_id=1, data=vehicle_in(source=VehicleSource.rental))
        assert refused.value.field == "source"

    def test_a_renewal_does_not_bring_in_a_rental_car(self, live: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            vehicles.renew(live, ADMIN, plan_line_id=1, replaced_vehicle_id=1,
                           data=vehicle_in(source=VehicleSource.rental, rental_provider="ZL-WH"),
                           disposal=DisposalIn(method="scrap", disposed_on=clock.today()))
        assert refused.value.field == "source"

    def test_a_plan_line_names_no_provider(self, live: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            vehicles.acquire(live, ADMIN, plan_line_id=1, data=vehicle_in(rental_provider="ZL-WH"))
        assert refused.value.field == "rental_provider"

    def test_the_source_is_not_amended(self) -> None:
        with pytest.raises(InvalidInput) as refused:
            VehiclePatch.parse({"source": "rental"})
        assert refused.value.field == "source"


# --- 2. go-live is never ahead -------------------------------------------------------------------------------------


class TestGoLiveNotAhead:
    def test_a_go_live_day_after_today_is_refused(self, session: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(
                code="420000", name="湖北省", level="province", live_on=date(2100, 12, 31)))
        assert refused.value.field == "live_on"
        assert session.scalar(sa.select(sa.func.count()).select_from(Jurisdiction)) == 0

    def test_today_is_a_go_live_day(self, session: Session) -> None:
        made = registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(
            code="420000", name="湖北省", level="province", live_on=clock.today()))
        assert made.live_on == clock.today()

    def test_a_stored_day_ahead_counts_as_today(self, live: Session) -> None:
        live.execute(sa.update(Jurisdiction).values(live_on=date(2100, 12, 31)))
        live.expire_all()
        assert registered(live, acquired_on=clock.today()).acquired_on == clock.today()
        with pytest.raises(RegistrationRefused) as refused:
            registered(live, acquired_on=clock.today() + timedelta(days=1))
        assert refused.value.field == "acquired_on"


# --- 3. a renewal replaces a vehicle held ----------------------------------------------------------------------------


def renewal(plate: str) -> PlanIn:
    return PlanIn.parse({"agency": "WH-GA", "year": THIS_YEAR, "lines": [
        {"kind": "renewal", "category": "law_enforcement", "powertrain": "bev", "count": 1,
         "unit_price_cny": 150000, "replaces": [plate]}]})


def old_le(session: Session, **overrides: Any) -> Any:
    return registered(session, category=LE, acquired_on=date(THIS_YEAR - 9, 1, 1), **overrides)


class TestRenewalOfARentalCar:
    def test_a_plan_cannot_replace_a_rental_car(self, live: Session) -> None:
        hired = rental(live, category=LE)
        with pytest.raises(InvalidInput, match="rental car") as refused:
            plans.create_plan(live, ADMIN, data=renewal(hired.plate))
        assert refused.value.field == "lines.1.replaces"
        assert live.scalar(sa.select(sa.func.count()).select_from(Plan)) == 0

    def test_review_does_not_count_a_rental_car_as_removed(self, live: Session) -> None:
        """A plan drafted before the refusal existed, replacing a car since recorded as hired."""
        replaced = old_le(live)
        plan = plans.create_plan(live, ADMIN, data=renewal(replaced.plate))
        plans.submit_plan(live, ADMIN, plan_id=plan.id)
        replaced.source = VehicleSource.rental
        live.flush()
        registered(live, category=LE)  # the one law-enforcement place, held
        findings = plans.review(live, plan)
        assert [type(f) for f in findings] == [QuotaExceeded]

    def test_a_rental_car_in_an_approved_plan_is_no_pending_disposal(self, live: Session) -> None:
        replaced = old_le(live)
        plan = plans.create_plan(live, ADMIN, data=renewal(replaced.plate))
        plans.submit_plan(live, ADMIN, plan_id=plan.id)
        plans.approve_plan(live, ADMIN, plan_id=plan.id)
        assert queries.committed_count(live, plan.agency_id, LE) == 0  # one to buy, one to dispose of
        replaced.source = VehicleSource.rental
        live.flush()
        assert queries.committed_count(live, plan.agency_id, LE) == 1  # its going frees nothing


# --- 4. back-filled readings and days ------------------------------------------------------------------------------


class TestBackFill:
    def cost(self, session: Session, vehicle_id: int, on: date, km: int | None = None) -> Any:
        return costs.record_cost(session, ADMIN, vehicle_id=vehicle_id, data=CostIn(
            kind="fuel", incurred_on=on, amount_cny=Decimal(300), odometer_km=km))

    def test_a_reading_above_a_later_one_is_refused_and_nothing_stored(self, live: Session) -> None:
        v = registered(live, odometer_km=20000)  # read today
        readings = live.scalar(sa.select(sa.func.count()).select_from(OdometerReading))
        with pytest.raises(InvalidInput, match="above a later reading of 20000 km") as refused:
            self.cost(live, v.id, clock.today() - timedelta(days=1), 900000)
        assert refused.value.field == "odometer_km"
        assert live.scalar(sa.select(sa.func.count()).select_from(OdometerReading)) == readings
        assert v.odometer_km == 20000

    def test_a_reading_between_its_neighbours_is_taken(self, live: Session) -> None:
        v = registered(live, odometer_km=20000)
        self.cost(live, v.id, clock.today() - timedelta(days=10), 19000)
        self.cost(live, v.id, clock.today() - timedelta(days=5), 19500)
        with pytest.raises(InvalidInput, match="below an earlier reading"):
            self.cost(live, v.id, clock.today() - timedelta(days=3), 18000)

    def test_a_reading_before_the_vehicle_was_acquired_is_refused(self, live: Session) -> None:
        v = registered(live)
        with pytest.raises(InvalidInput) as refused:
            vehicles.record_odometer(live, v, 5, date(1990, 1, 1), "trip.start")
        assert refused.value.field == "at"

    def test_a_reading_after_today_is_refused(self, live: Session) -> None:
        v = registered(live)
        with pytest.raises(InvalidInput) as refused:
            vehicles.record_odometer(live, v, 5, clock.today() + timedelta(days=1), "trip.start")
        assert refused.value.field == "at"

    @pytest.mark.parametrize("days", [-4000, 1])
    def test_maintenance_days_lie_between_acquisition_and_today(self, live: Session, days: int) -> None:
        v = registered(live)
        with pytest.raises(InvalidInput) as refused:
            vehicles.maintenance_in(live, ADMIN, vehicle_id=v.id, reason="保养", on=clock.today() + timedelta(days))
        assert refused.value.field == "on"
        vehicles.maintenance_in(live, ADMIN, vehicle_id=v.id, reason="保养", on=clock.today())
        with pytest.raises(InvalidInput) as refused:
            vehicles.maintenance_out(live, ADMIN, vehicle_id=v.id, odometer_km=10,
                                     on=clock.today() + timedelta(days))
        assert refused.value.field == "on"

    def test_a_cost_is_not_booked_ahead(self, live: Session) -> None:
        v = registered(live)
        with pytest.raises(InvalidInput) as refused:
            self.cost(live, v.id, clock.today() + timedelta(days=1))
        assert refused.value.field == "incurred_on"


# --- 5. a dissolved agency receives nothing ------------------------------------------------------------------------


def dissolve(session: Session, code: str = "WH-GA") -> None:
    found = session.scalars(sa.select(Agency).where(Agency.code == code)).one()
    found.dissolved_on = clock.today()
    session.flush()


def new_plan() -> PlanIn:
    return PlanIn.parse({"agency": "WH-GA", "year": THIS_YEAR, "lines": [
        {"kind": "new", "category": "general", "powertrain": "bev", "count": 1, "unit_price_cny": 150000}]})


class TestDissolvedAgency:
    def test_no_quota(self, live: Session) -> None:
        dissolve(live)
        with pytest.raises(InvalidState, match="dissolved") as refused:
            registry.set_quota(live, ADMIN, data=QuotaIn(agency="WH-GA", category=GEN, limit=9, reason="编制"))
        assert refused.value.field == "agency"

    def test_no_child_agency(self, live: Session) -> None:
        dissolve(live)
        with pytest.raises(InvalidState, match="dissolved") as refused:
            registry.create_agency(live, ADMIN, data=AgencyIn(code="WH-GA-1", name="下属单位", jurisdiction="420100",
                                                              parent="WH-GA"))
        assert refused.value.field == "parent"

    def test_no_new_plan(self, live: Session) -> None:
        dissolve(live)
        with pytest.raises(InvalidState, match="dissolved") as refused:
            plans.create_plan(live, ADMIN, data=new_plan())
        assert refused.value.field == "agency"

    def test_no_submission(self, live: Session) -> None:
        plan = plans.create_plan(live, ADMIN, data=new_plan())
        dissolve(live)
        with pytest.raises(InvalidState, match="dissolved"):
            plans.submit_plan(live, ADMIN, plan_id=plan.id)

    def test_no_approval(self, live: Session) -> None:
        plan = plans.create_plan(live, ADMIN, data=new_plan())
        plans.submit_plan(live, ADMIN, plan_id=plan.id)
        dissolve(live)
        with pytest.raises(InvalidState, match="dissolved"):
            plans.approve_plan(live, ADMIN, plan_id=plan.id)

    def test_no_user(self, live: Session) -> None:
        dissolve(live)
        with pytest.raises(InvalidState, match="dissolved") as refused:
            users.add_user(live, ADMIN, name="req-ga", role=Role.requester, agency="WH-GA")
        assert refused.value.field == "agency"
