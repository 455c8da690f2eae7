"""The audit's holiday calendar: the State Council's days from the chinese-calendar package, the rules file's
overrides over them, and a day no calendar covers reported (in the findings and in /healthz) rather than taken
for a working day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import create_app
from fleet import clock
from fleet.enums import Priority
from fleet.settings import Settings
from fleet.usage_audit import AuditRules, Calendar, FindingKind, Holiday, calendar_health, checks, config, default_rules
from fleet.usage_audit.calendar import state_council_days, year_ranges
from tests.fleet.test_usage_audit_checks import by_trip, trip
from tests.fleet.usage_audit_data import local

NEW_YEAR_2027 = date(2027, 1, 1)  # 元旦, a Friday: outside chinese-calendar 1.11's years
LAST_COVERED = max(state_council_days().years)


def off_hours(rules: AuditRules, *days: date, hour: int = 10) -> dict[int | None, checks.Finding]:
    return by_trip(list(checks.off_hours([trip(local(day, hour)) for day in days], rules)))


class TestUncoveredDays:
    def test_a_routine_trip_on_new_year_2027_is_a_finding(self) -> None:
        # The package the project pins does not know 2027 (when it does, the test moves on to the next gap).
        day = NEW_YEAR_2027 if NEW_YEAR_2027.year > LAST_COVERED else date(LAST_COVERED + 1, 1, 1)
        [found] = off_hours(default_rules(), day).values()
        assert found.kind is FindingKind.off_hours
        assert found.evidence["reasons"] == ["start_unknown_day", "end_unknown_day"]
        assert found.evidence["day_off"] == {"start": "unknown", "end": "unknown"}
        assert found.evidence["uncovered_years"] == [day.year]
        assert f"does not cover {day.year}" in found.detail

    def test_outside_hours_on_an_uncovered_day_says_both(self) -> None:
        day = date(LAST_COVERED + 1, 3, 3)
        [found] = off_hours(default_rules(), day, hour=20).values()
        assert found.evidence["reasons"][:2] == ["start_unknown_day", "start_outside_hours"]

    def test_a_weekend_of_an_uncovered_year_is_still_a_weekend(self) -> None:
        saturday = date(LAST_COVERED + 1, 1, 2) if date(LAST_COVERED + 1, 1, 2).isoweekday() == 6 else None
        day = saturday or next(date(LAST_COVERED + 1, 1, d) for d in range(1, 8)
                               if date(LAST_COVERED + 1, 1, d).isoweekday() == 6)
        [found] = off_hours(default_rules(), day).values()
        assert found.evidence["reasons"] == ["start_weekend", "end_weekend"]
        assert found.evidence["uncovered_years"] == [day.year]

    def test_exempt_priorities_stay_exempt(self) -> None:
        row = trip(local(NEW_YEAR_2027, 10), priority=Priority.emergency)
        assert not list(checks.off_hours([row], default_rules()))


class TestStateCouncilDays:
    @pytest.mark.parametrize(("day", "name"), [
        (date(2024, 2, 12), "holiday 春节"),  # a Monday of 2024's 春节: no year before 2025 is in the rules file
        (date(2019, 10, 1), "holiday 国庆节"),
        (date(2020, 1, 31), "holiday 春节"),  # 2020's 春节 was extended for the epidemic
        (date(2024, 4, 4), "holiday 清明节"),
        (date(2024, 2, 4), None),  # a make-up Sunday (调休上班) before 2024's 春节
    ])
    def test_the_package_days_are_used(self, day: date, name: str | None) -> None:
        assert default_rules().calendar.day_off(day) == name
        assert default_rules().calendar.covers(day)

    def test_a_2024_holiday_is_a_finding(self) -> None:
        [found] = off_hours(default_rules(), date(2024, 2, 12)).values()
        assert found.evidence["reasons"] == ["start_holiday", "end_holiday"]
        assert found.evidence["uncovered_years"] == []

    def test_the_shipped_file_lists_no_holidays_of_its_own(self) -> None:
        assert default_rules().calendar.holidays == ()
        assert default_rules().calendar.years == state_council_days().years

    @settings(max_examples=200, deadline=None)
    @given(day=st.dates(min_value=date(2004, 1, 1), max_value=date(LAST_COVERED, 12, 31)))
    def test_the_calendar_agrees_with_the_package_on_every_covered_day(self, day: date) -> None:
        import chinese_calendar

        assert default_rules().calendar.is_working_day(day) is chinese_calendar.is_workday(day)


class TestOverrides:
    def test_overrides_win_over_the_package(self) -> None:
        calendar = Calendar(holidays=(
            # a local holiday on a working Monday, paid for by working the package's 春节 Monday
            Holiday(name="地方节日", first=date(2024, 3, 11), last=date(2024, 3, 11), workdays=(date(2024, 2, 12),)),
        ))
        assert calendar.day_off(date(2024, 3, 11)) == "holiday 地方节日"
        assert calendar.day_off(date(2024, 2, 12)) is None
        assert calendar.day_off(date(2024, 2, 13)) == "holiday 春节"  # the rest of the package's days stand

    def test_a_make_up_day_of_the_package_can_be_made_a_holiday(self) -> None:
        calendar = Calendar(holidays=(Holiday(name="改", first=date(2024, 2, 4), last=date(2024, 2, 4)),))
        assert calendar.day_off(date(2024, 2, 4)) == "holiday 改"

    def test_one_holiday_does_not_cover_its_year(self) -> None:
        # 元旦 alone says nothing of 春节: the year's other weekdays stay unknown, never plain working days
        year = LAST_COVERED + 1
        calendar = Calendar(holidays=(Holiday(name="元旦", first=date(year, 1, 1), last=date(year, 1, 1)),))
        assert calendar.years == state_council_days().years
        assert not calendar.covers(date(year, 2, 10))
        assert calendar.day_off(date(year, 1, 1)) == "holiday 元旦"  # the listed day still applies
        rules = AuditRules(calendar=calendar)
        weekday = next(date(year, 2, d) for d in range(8, 15) if date(year, 2, d).isoweekday() < 6)
        found = off_hours(rules, date(year, 1, 1), weekday)
        assert sorted(f.evidence["reasons"][0] for f in found.values()) == ["start_holiday", "start_unknown_day"]

    def test_a_year_declared_in_the_file_is_covered(self) -> None:
        year = LAST_COVERED + 1
        calendar = Calendar(holidays=(Holiday(name="元旦", first=date(year, 1, 1), last=date(year, 1, 1)),),
                            covered_years=frozenset({year}))
        assert calendar.covers(date(year, 6, 1))
        assert not calendar.covers(date(year + 1, 1, 1))
        rules = AuditRules(calendar=calendar)
        found = off_hours(rules, date(year, 1, 1), date(year, 6, 2) if date(year, 6, 2).isoweekday() < 6
                          else date(year, 6, 4))
        assert [f.evidence["reasons"] for f in found.values()] == [["start_holiday", "end_holiday"]]

    def test_without_the_package_only_the_file_counts(self) -> None:
        calendar = Calendar(state_council=False)
        assert calendar.years == frozenset()
        assert not calendar.covers(date(2024, 2, 12))
        assert calendar.day_off(date(2024, 2, 12)) is None


class TestHealth:
    def test_coverage_and_the_warning(self) -> None:
        calendar = default_rules().calendar
        last = date(LAST_COVERED, 12, 31)
        quiet = calendar_health(calendar, date(LAST_COVERED, 6, 1))
        assert quiet == {"years": f"2004–{LAST_COVERED}", "today_covered": True, "first_uncovered_day": None}
        near = calendar_health(calendar, date(LAST_COVERED, 12, 2), days=60)
        assert near["today_covered"] is True
        assert near["first_uncovered_day"] == date(LAST_COVERED + 1, 1, 1).isoformat()
        assert f"does not cover {LAST_COVERED + 1}" in near["warning"]
        assert calendar_health(calendar, last, days=0)["first_uncovered_day"] is None
        assert calendar_health(calendar, date(LAST_COVERED + 1, 1, 1))["today_covered"] is False

    def test_year_ranges(self) -> None:
        assert year_ranges([2028, 2004, 2005, 2006, 2026]) == "2004–2006, 2026, 2028"
        assert year_ranges([]) == ""

    def test_healthz_reports_the_calendar(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        client = TestClient(create_app(sa.create_engine("sqlite://")))
        with clock.travel(local(date(LAST_COVERED, 12, 2), 9), tick=False):
            body = client.get("/healthz").json()
        assert body["status"] == "ok"
        assert body["calendar"]["years"] == f"2004–{LAST_COVERED}"
        assert body["calendar"]["first_uncovered_day"] == f"{LAST_COVERED + 1}-01-01"
        assert "warning" in body["calendar"]

        # A rules file that only lists a holiday of the coming year does not cover it ...
        holiday = (f"calendar:\n  holidays:\n    - {{name: 元旦, first: {LAST_COVERED + 1}-01-01, "
                   f"last: {LAST_COVERED + 1}-01-01}}\n")
        path = tmp_path / "rules.yaml"
        path.write_text(holiday, encoding="utf-8")
        monkeypatch.setattr(config, "get_settings", lambda: Settings(usage_audit_file=path))
        with clock.travel(local(date(LAST_COVERED, 12, 2), 9), tick=False):
            body = client.get("/healthz").json()
        assert body["calendar"]["years"] == f"2004–{LAST_COVERED}"
        assert body["calendar"]["first_uncovered_day"] == f"{LAST_COVERED + 1}-01-01"

        # ... one that declares the year covered quiets the warning.
        declared = tmp_path / "declared.yaml"
        declared.write_text(holiday + f"  covered_years: [{LAST_COVERED + 1}]\n", encoding="utf-8")
        monkeypatch.setattr(config, "get_settings", lambda: Settings(usage_audit_file=declared))
        with clock.travel(local(date(LAST_COVERED, 12, 2), 9), tick=False):
            body = client.get("/healthz").json()
        assert body["calendar"]["years"] == f"2004–{LAST_COVERED + 1}"
        assert "warning" not in body["calendar"]
