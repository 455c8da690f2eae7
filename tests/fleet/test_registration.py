"""Registration is for the fleet held when the platform went live (issue 14): a vehicle acquired since comes through
a plan line, one above the equipment standard is refused as a plan line would be, and either passes only with a
recorded basis the annual report lists. A rental car (社会化租赁) is hired, not held: it never touches 编制."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fleet import clock, queries, registry, rentals, usage_audit, vehicles
from fleet.enums import Category, RegistrationBasis, VehicleSource
from fleet.errors import InvalidInput, QuotaExceeded, RegistrationRefused, StandardExceeded
from fleet.models import AuditRecord, Jurisdiction, Vehicle
from fleet.reports import annual_report
from fleet.schemas import JurisdictionIn, RentalProviderIn, TransferIn
from fleet.usage_audit.checks import FindingKind
from tests.factories import ADMIN, THIS_YEAR, agency, jurisdiction_tree, registered, vehicle_in

LIVE_ON = date(THIS_YEAR - 1, 12, 31)
GEN = Category.general


@pytest.fixture
def live(session: Session) -> Session:
    """武汉市, live since the end of last year, with WH-GA (quota: 2 general) and WH-CG (quota: 1 general)."""
    jurisdiction_tree(session, live_on=LIVE_ON)
    agency(session, "WH-GA", quotas={GEN: 2})
    agency(session, "WH-CG", quotas={GEN: 1})
    return session


def vehicle_count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Vehicle)) or 0


class TestGoLive:
    def test_a_jurisdiction_goes_live_today_unless_told(self, session: Session) -> None:
        with clock.travel(clock.local_moment(date(2031, 5, 6), time(10))):
            made = registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(
                code="420000", name="湖北省", level="province"))
        assert made.live_on == date(2031, 5, 6)
        record = session.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert record is not None
        assert record.changes["live_on"] == "2031-05-06"

    def test_a_vehicle_acquired_after_go_live_is_refused_and_nothing_stored(self, live: Session) -> None:
        before = vehicle_count(live)
        with pytest.raises(RegistrationRefused, match="after 武汉市 went live") as refused:
            registered(live, acquired_on=LIVE_ON + timedelta(days=1))
        assert refused.value.field == "acquired_on"
        assert refused.value.to_dict()["rule"] == "registration"
        assert vehicle_count(live) == before

    def test_the_fleet_held_at_go_live_is_registered(self, live: Session) -> None:
        held = registered(live, acquired_on=LIVE_ON)
        assert held.registration_basis is None

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(offset=st.integers(-4000, 400))
    def test_only_the_days_after_go_live_are_refused(self, live: Session, offset: int) -> None:
        with live.begin_nested() as example:
            acquired = LIVE_ON + timedelta(days=offset)
            if offset > 0:
                with pytest.raises(RegistrationRefused):
                    registered(live, acquired_on=acquired)
            else:
                assert registered(live, acquired_on=acquired).acquired_on == acquired
            example.rollback()

    def test_a_recorded_basis_lets_it_pass_and_the_annual_report_lists_it(self, live: Session) -> None:
        note = "鄂机管〔2026〕12号调拨单"
        late = registered(live, acquired_on=LIVE_ON + timedelta(days=20),
                          registration_basis=RegistrationBasis.transfer_in, registration_note=note)
        assert (late.registration_basis, late.registration_note) == (RegistrationBasis.transfer_in, note)
        registered(live)  # an ordinary one, not listed
        report = annual_report(live, year=late.acquired_on.year, jurisdiction="420100")
        listed = report.table("registered_by_exception")
        assert [row[0] for row in listed.rows] == [late.plate]
        assert listed.rows[0][6:] == [RegistrationBasis.transfer_in, "上级或外地调入", note]
        assert report.summary["registered_by_exception"] == 1
        assert "registered_by_exception" in report.to_csv()

    @pytest.mark.parametrize("given_field", ["registration_basis", "registration_note"])
    def test_basis_and_note_go_together(self, given_field: str) -> None:
        value = {"registration_basis": RegistrationBasis.donation, "registration_note": "捐赠协议"}[given_field]
        with pytest.raises(InvalidInput) as refused:
            vehicle_in(**{given_field: value})
        missing = {"registration_basis": "registration_note", "registration_note": "registration_basis"}
        assert refused.value.field == missing[given_field]


class TestStandard:
    def test_a_luxury_sedan_is_refused_naming_the_vehicles_price(self, live: Session) -> None:
        """The issue's case: 500,000 CNY, a 3.0 L petrol sedan, registered straight onto the books."""
        with pytest.raises(StandardExceeded, match="registration_basis") as refused:
            registered(live, price_cny=Decimal(500000), displacement_l=Decimal("3.0"), acquired_on=LIVE_ON)
        assert refused.value.field == "price_cny"

    def test_an_engine_above_the_standard_is_refused(self, live: Session) -> None:
        with pytest.raises(StandardExceeded) as refused:
            registered(live, displacement_l=Decimal("3.0"), acquired_on=LIVE_ON)
        assert refused.value.field == "displacement_l"

    def test_a_recorded_basis_lets_it_pass(self, live: Session) -> None:
        confiscated = registered(live, price_cny=Decimal(500000), displacement_l=Decimal("3.0"),
                                 registration_basis=RegistrationBasis.confiscation,
                                 registration_note="罚没决定书 12 号")
        assert confiscated.registration_basis is RegistrationBasis.confiscation


class TestPlanLinesNeedNoBasis:
    def test_acquiring_with_a_registration_basis_is_refused(self, live: Session) -> None:
        with pytest.raises(InvalidInput) as refused:
            vehicles.acquire(live, ADMIN, plan_line_id=1, data=vehicle_in(
                registration_basis=RegistrationBasis.donation, registration_note="捐赠协议"))
        assert refused.value.field == "registration_basis"


class TestRentalCars:
    @pytest.fixture(autouse=True)
    def _provider(self, live: Session) -> None:
        rentals.add_provider(live, ADMIN, data=RentalProviderIn.parse({
            "code": "ZL-WH", "name": "武汉定点租赁", "base_cny": "50", "per_km_cny": "2.50", "per_hour_cny": "30",
            "contract_until": f"{THIS_YEAR + 5}-12-31"}))

    def rental(self, session: Session, code: str = "WH-GA", **overrides: object) -> Vehicle:
        return registered(session, code, source=VehicleSource.rental, rental_provider="ZL-WH", **overrides)

    def test_a_rental_car_does_not_count_against_the_quota(self, live: Session) -> None:
        registered(live, category=GEN)
        registered(live, category=GEN)  # WH-GA's 2 general vehicles: full
        hired = self.rental(live, category=GEN, acquired_on=clock.today())
        assert hired.source is VehicleSource.rental
        assert queries.held_count(live, hired.agency_id, GEN) == 2
        with pytest.raises(QuotaExceeded):
            registered(live, category=GEN)  # a vehicle held still needs the quota

    def test_go_live_does_not_apply_to_a_rental_but_the_standard_does(self, live: Session) -> None:
        hired = self.rental(live, acquired_on=LIVE_ON + timedelta(days=30))
        assert hired.registration_basis is None
        assert hired.rental_provider is not None
        assert hired.rental_provider.code == "ZL-WH"
        with pytest.raises(StandardExceeded):  # a leased official car keeps to the standard too
            self.rental(live, price_cny=Decimal(500000), displacement_l=Decimal("3.0"))

    def test_moving_a_rental_car_to_a_full_agency_does_not_count_either(self, live: Session) -> None:
        registered(live, "WH-CG", category=GEN)  # WH-CG's one general vehicle: full
        hired = self.rental(live)
        moved = vehicles.transfer(live, ADMIN, vehicle_id=hired.id, data=TransferIn(
            to_agency="WH-CG", transferred_on=clock.today(), reason="租赁合同转至城管局"))
        assert moved.agency.code == "WH-CG"
        assert queries.held_count(live, moved.agency_id, GEN) == 1

    def test_the_usage_audit_finds_no_agency_over_quota_for_its_rentals(self, live: Session) -> None:
        registered(live, "WH-CG", category=GEN)  # WH-CG's one general vehicle: full
        self.rental(live, "WH-CG", category=GEN)
        moment = clock.local_moment(clock.today())
        found = usage_audit.findings(live, start=moment, end=moment + timedelta(days=1),
                                     kinds=[FindingKind.over_quota])
        assert found == []

    def test_the_annual_reports_quota_use_leaves_rentals_out(self, live: Session) -> None:
        registered(live, category=GEN)
        self.rental(live, category=GEN)
        report = annual_report(live, year=THIS_YEAR, agency="WH-GA")
        row = next(r for r in report.table("quota_use").rows if r[2] is GEN)
        assert (row[3], row[4]) == (2, 1)
        assert report.summary["quota_use_pct"] == 50.0


def test_jurisdictions_created_before_go_live_dates_existed_are_not_refused(live: Session) -> None:
    """A row without a go-live day (none is made now, but an old database may hold one) restricts nothing."""
    live.execute(sa.update(Jurisdiction).values(live_on=None))
    assert registered(live, acquired_on=clock.today()).acquired_on == clock.today()
