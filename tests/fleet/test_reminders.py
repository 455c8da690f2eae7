"""Reminders: the inspection schedules as the rules state them, maintenance by km or months, and what is due."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import islice, pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fleet import amendments, clock, drivers, reminders, vehicles
from fleet.enums import Category
from fleet.reminders import (
    LARGE_PASSENGER,
    SMALL_PASSENGER,
    InspectionMode,
    ReminderKind,
    add_months,
    inspection_ages,
    inspection_rule,
    next_inspection,
    next_service,
)
from fleet.schemas import DisposalIn, DriverIn, DriverPatch, VehiclePatch
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

ON, STICKER = InspectionMode.on_site, InspectionMode.sticker
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))


class TestInspectionRules:
    def test_small_cars_after_the_2022_reform(self) -> None:
        ages = list(islice(inspection_ages(SMALL_PASSENGER), 13))
        assert ages[:5] == [(24, STICKER), (48, STICKER), (72, ON), (96, STICKER), (120, ON)]
        assert [a for a, _ in ages[5:10]] == [132, 144, 156, 168, 180]  # yearly after 10 years
        assert [a for a, _ in ages[10:]] == [186, 192, 198]  # every six months after 15

    def test_buses_every_year_then_every_six_months(self) -> None:
        ages = [a for a, _ in islice(inspection_ages(LARGE_PASSENGER), 12)]
        assert ages == [12, 24, 36, 48, 60, 72, 84, 96, 108, 120, 126, 132]
        assert inspection_rule(10) is LARGE_PASSENGER
        assert inspection_rule(9) is SMALL_PASSENGER

    def test_each_rule_names_its_source(self) -> None:
        assert all("第十六条" in rule.source for rule in reminders.INSPECTION_RULES)
        assert "2022" in SMALL_PASSENGER.source

    @pytest.mark.parametrize(("inspected_on", "due"), [
        (None, (date(2022, 3, 1), STICKER)),
        (date(2022, 2, 10), (date(2024, 3, 1), STICKER)),  # early, within three months: covers year 2
        (date(2024, 3, 1), (date(2026, 3, 1), ON)),
        (date(2026, 1, 5), (date(2028, 3, 1), STICKER)),
        (date(2030, 3, 1), (date(2031, 3, 1), ON)),
        (date(2035, 2, 1), (date(2035, 9, 1), ON)),  # past 15 years: every six months
    ])
    def test_next_inspection_of_a_car_registered_in_march_2020(self, inspected_on: date | None,
                                                               due: tuple[date, InspectionMode]) -> None:
        assert next_inspection(SMALL_PASSENGER, date(2020, 3, 1), inspected_on, date(2021, 6, 1)) == due

    def test_with_no_inspection_on_record_the_schedule_is_taken_as_kept(self) -> None:
        # registered March 2014, nothing on the record: the next due day from today, not an overdue year 2
        assert next_inspection(SMALL_PASSENGER, date(2014, 3, 1), None, date(2026, 5, 2)) == (date(2027, 3, 1), ON)
        assert next_inspection(SMALL_PASSENGER, date(2014, 3, 1), None, date(2026, 3, 1)) == (date(2026, 3, 1), ON)

    @given(days, st.integers(0, 40 * 12), st.sampled_from(reminders.INSPECTION_RULES))
    def test_the_next_inspection_is_the_first_due_day_not_covered(self, registered_on: date, months_later: int,
                                                                  rule: reminders.InspectionRule) -> None:
        inspected = add_months(registered_on, months_later)
        due, _ = next_inspection(rule, registered_on, inspected, inspected)
        covered = add_months(inspected, reminders.EARLY_INSPECTION_MONTHS)
        assert due > covered
        schedule = [add_months(registered_on, a) for a, _ in islice(inspection_ages(rule), 80)]
        assert due in schedule
        assert not [d for d in schedule if covered < d < due]

    @given(st.sampled_from(reminders.INSPECTION_RULES))
    def test_ages_only_grow(self, rule: reminders.InspectionRule) -> None:
        ages = [a for a, _ in islice(inspection_ages(rule), 60)]
        assert all(a < b for a, b in pairwise(ages))


@given(days, st.integers(0, 600))
def test_add_months_keeps_the_day_or_the_months_last(day: date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day == day.day or (moved.day < day.day and (moved + timedelta(days=1)).day == 1)


class TestService:
    def test_by_months_or_km_from_the_last_service(self) -> None:
        due = next_service(acquired_on=date(2020, 1, 1), serviced_on=date(2025, 6, 1), serviced_km=50_000,
                           interval_km=None, interval_months=6, today=date(2025, 7, 1))
        assert (due.on, due.at_km) == (date(2025, 12, 1), 60_000)

    def test_defaults_and_a_service_without_its_km(self) -> None:
        never = next_service(acquired_on=date(2020, 5, 31), serviced_on=None, serviced_km=None, interval_km=None,
                             interval_months=None, today=date(2026, 2, 1))
        assert (never.on, never.at_km) == (date(2026, 5, 31), None)  # taken as kept: the next yearly interval
        unknown_km = next_service(acquired_on=date(2024, 5, 31), serviced_on=date(2025, 1, 31), serviced_km=None,
                                  interval_km=15_000, interval_months=None, today=date(2025, 2, 1))
        assert (unknown_km.on, unknown_km.at_km) == (date(2026, 1, 31), None)
        by_km = next_service(acquired_on=date(2024, 5, 31), serviced_on=date(2025, 1, 31), serviced_km=42_000,
                             interval_km=None, interval_months=None, today=date(2025, 2, 1))
        assert by_km.at_km == 42_000 + reminders.DEFAULT_SERVICE_KM

    def test_a_vehicle_due_by_km_before_its_months(self, fleet: Session) -> None:
        today = clock.today()
        car = registered(fleet, "WH-GA", acquired_on=today - timedelta(days=1000), odometer_km=60_000)
        amendments.amend_vehicle(fleet, ADMIN, vehicle_id=car.id, data=VehiclePatch.parse(
            {"serviced_on": (today - timedelta(days=30)).isoformat(), "serviced_km": 50_500}))
        # 60 km a day on average: 500 km to go is about 8 days, long before the twelve months
        found = [r for r in reminders.due(fleet, today=today, within_days=30) if r.label == car.plate]
        assert [(r.kind, r.due_km) for r in found] == [(ReminderKind.maintenance, 60_500)]
        assert 0 < found[0].days_left <= 10

    @given(st.integers(0, 500_000), st.integers(0, 500_000), st.floats(0, 1000))
    def test_the_km_day_is_never_past_and_comes_when_reached(self, at_km: int, odometer: int, pace: float) -> None:
        today = date(2026, 1, 1)
        day = reminders.km_day(at_km=at_km, odometer_km=odometer, km_per_day=pace, today=today)
        assert day >= today
        assert (day == today) == (odometer >= at_km or (pace > 0 and (at_km - odometer) / pace < 1))


@pytest.fixture
def fleet(session: Session) -> Session:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 5})
    agency(session, "WH-CG", quotas={Category.general: 5})
    return session


def _kinds(found: list[reminders.Reminder], label: str) -> set[ReminderKind]:
    return {r.kind for r in found if r.label == label}


class TestDue:
    def test_insurance_and_licence_within_the_window(self, fleet: Session) -> None:
        today = clock.today()
        car = registered(fleet, "WH-GA", acquired_on=today - timedelta(days=200))
        amendments.amend_vehicle(fleet, ADMIN, vehicle_id=car.id, data=VehiclePatch.parse(
            {"insurance_expires_on": (today + timedelta(days=10)).isoformat()}))
        driver = drivers.add_driver(fleet, ADMIN, data=DriverIn(name="王", licence_class="C1", agency="WH-GA",
                                                                shift_start="08:00", shift_end="17:00"))
        amendments.amend_driver(fleet, ADMIN, driver_id=driver.id, data=DriverPatch.parse(
            {"licence_expires_on": (today - timedelta(days=3)).isoformat()}))
        found = reminders.due(fleet, today=today, within_days=30)
        assert _kinds(found, car.plate) == {ReminderKind.insurance}
        insurance = next(r for r in found if r.label == car.plate)
        assert (insurance.days_left, insurance.agency) == (10, "WH-GA")
        licence = next(r for r in found if r.label == "王")
        assert (licence.kind, licence.days_left) == (ReminderKind.licence, -3)  # overdue
        assert _kinds(reminders.due(fleet, today=today, within_days=5), car.plate) == set()
        assert found == sorted(found, key=lambda r: r.due_on)

    def test_inspection_maintenance_and_renewal_of_an_old_car(self, fleet: Session) -> None:
        today = clock.today()
        old = registered(fleet, "WH-GA", acquired_on=add_months(today, -12 * 8) + timedelta(days=5),
                         odometer_km=120_000)
        found = reminders.due(fleet, today=today, within_days=30)
        # 8 years old in 5 days: the renewal age (8) and the year-8 sticker; never serviced on the record
        assert _kinds(found, old.plate) == {ReminderKind.renewal, ReminderKind.inspection, ReminderKind.maintenance}
        assert next(r for r in found if r.kind is ReminderKind.renewal).days_left == 5

    def test_a_renewal_age_passed_is_not_overdue(self, fleet: Session) -> None:
        today = clock.today()
        past = registered(fleet, "WH-GA", acquired_on=add_months(today, -12 * 9))
        found = reminders.due(fleet, today=today, within_days=3660, kinds=[ReminderKind.renewal])
        assert past.plate not in {r.label for r in found}

    def test_disposed_vehicles_and_inactive_drivers_are_left_out_and_filters_apply(self, fleet: Session) -> None:
        today = clock.today()
        gone = registered(fleet, "WH-GA", acquired_on=today - timedelta(days=800))
        kept = registered(fleet, "WH-CG", acquired_on=today - timedelta(days=800))
        vehicles.dispose(fleet, ADMIN, vehicle_id=gone.id, data=DisposalIn(method="scrap", disposed_on=today))
        driver = drivers.add_driver(fleet, ADMIN, data=DriverIn(name="李", licence_class="C1", shift_start="08:00",
                                                                shift_end="17:00"))
        amendments.amend_driver(fleet, ADMIN, driver_id=driver.id, data=DriverPatch.parse(
            {"licence_expires_on": today.isoformat()}))
        drivers.deactivate_driver(fleet, ADMIN, driver_id=driver.id, reason="调离")
        found = reminders.due(fleet, today=today, within_days=3660)
        labels = {r.label for r in found}
        assert kept.plate in labels
        assert gone.plate not in labels
        assert "李" not in labels
        only = reminders.due(fleet, today=today, within_days=3660, kinds=[ReminderKind.renewal])
        assert {r.kind for r in only} == {ReminderKind.renewal}
        ga = reminders.due(fleet, today=today, within_days=3660, agency_ids=[kept.agency_id])
        assert {r.agency for r in ga} == {"WH-CG"}
