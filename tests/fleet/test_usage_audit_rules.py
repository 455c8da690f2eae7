"""The usage audit's rules as data: the calendar (holidays, make-up days, local time), the geofences' geometry,
and the rules file loader with its errors. No database."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.errors import PolicyError
from fleet.schemas import CHINA_LAT, CHINA_LON
from fleet.settings import Settings
from fleet.usage_audit import (
    SHIPPED_RULES,
    Calendar,
    CircleGeofence,
    GeofenceKind,
    Holiday,
    PolygonGeofence,
    config,
    configured_rules,
    default_rules,
    load_rules,
)
from tests.fleet.usage_audit_data import FENCE, LAKE, MAKE_UP_SATURDAY, MONDAY, QINGMING_MONDAY, SATURDAY, local, offset

# --- the calendar -----------------------------------------------------------------------------------------------


class TestCalendar:
    @pytest.mark.parametrize(("moment", "working"), [
        (local(MONDAY, 8, 0), True),
        (local(MONDAY, 7, 59), False),
        (local(MONDAY, 17, 59), True),
        (local(MONDAY, 18, 0), True),
        (local(MONDAY, 18, 1), False),
        (local(SATURDAY, 10), False),
        (local(MAKE_UP_SATURDAY, 10), True),
        (local(date(2026, 2, 14), 10), True),  # the other 春节 make-up Saturday
        (local(date(2026, 2, 16), 10), False),  # 春节, a Monday
        (local(QINGMING_MONDAY, 10), False),
        (local(date(2026, 1, 4), 10), True),  # 元旦 make-up Sunday
        (local(date(2026, 9, 20), 10), True),  # 国庆 make-up Sunday
        (local(date(2026, 10, 8), 10), True),  # the Thursday after 国庆
        (local(date(2025, 10, 8), 10), False),  # 2025's 国庆 ran to the 8th
    ])
    def test_shipped_working_time(self, moment: datetime, working: bool) -> None:
        assert default_rules().is_working_time(moment) is working

    def test_local_time_decides_not_utc(self) -> None:
        # 01:30 UTC on a Monday is 09:30 in Wuhan; 10:30 UTC is 18:30 there.
        assert default_rules().is_working_time(datetime(2026, 3, 9, 1, 30, tzinfo=UTC))
        assert not default_rules().is_working_time(datetime(2026, 3, 9, 10, 30, tzinfo=UTC))

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            default_rules().is_working_time(datetime(2026, 3, 9, 10))

    def test_day_off_names_the_holiday(self) -> None:
        calendar = default_rules().calendar
        assert calendar.day_off(date(2026, 10, 1)) == "holiday 国庆节"
        assert calendar.day_off(SATURDAY) == "weekend"
        assert calendar.day_off(MAKE_UP_SATURDAY) is None

    def test_a_make_up_day_inside_another_holiday_is_refused(self) -> None:
        with pytest.raises(ValueError, match="inside the holiday A"):
            Calendar(holidays=(Holiday(name="A", first=date(2026, 5, 1), last=date(2026, 5, 5)),
                               Holiday(name="B", first=date(2026, 5, 8), last=date(2026, 5, 8),
                                       workdays=(date(2026, 5, 3),))))

    @settings(max_examples=200, deadline=None)
    @given(
        moment=st.datetimes(min_value=datetime(2024, 12, 1), max_value=datetime(2027, 1, 31), timezones=st.just(UTC)),
        offset_min=st.integers(min_value=-12 * 60, max_value=14 * 60),
    )
    def test_working_time_is_invariant_to_the_zone_the_instant_is_written_in(
        self, moment: datetime, offset_min: int,
    ) -> None:
        rules = default_rules()
        elsewhere = moment.astimezone(timezone(timedelta(minutes=offset_min)))
        assert rules.is_working_time(elsewhere) == rules.is_working_time(moment)
        assert rules.is_working_time(moment.astimezone(ZoneInfo("America/New_York"))) == rules.is_working_time(moment)


# --- geofences --------------------------------------------------------------------------------------------------


class TestGeofences:
    def test_circle_just_inside_and_just_outside(self) -> None:
        centre = (FENCE.lat, FENCE.lon)
        assert FENCE.contains(*offset(centre, 499, 37))
        assert not FENCE.contains(*offset(centre, 501, 37))

    def test_polygon_by_ray_casting(self) -> None:
        assert LAKE.contains(30.55, 114.42)
        assert not LAKE.contains(30.55, 114.45)
        assert not LAKE.contains(30.57, 114.42)

    def test_concave_polygon(self) -> None:
        # A "U" (in degrees from 30°N 114°E): the notch between the arms is outside.
        u = PolygonGeofence(name="U", kind=GeofenceKind.other, vertices=tuple((30 + a, 114 + b) for a, b in (
            (0, 0), (0, 3), (3, 3), (3, 2), (1, 2), (1, 1), (3, 1), (3, 0))))
        assert u.contains(30.5, 115.5)
        assert not u.contains(32, 115.5)
        assert u.contains(32, 114.5)

    # geopy's Karney geodesic is the independent reference here: the fence measures with dispatch.travel's Vincenty.
    @settings(max_examples=300, deadline=None)
    @given(
        lat=st.floats(min_value=CHINA_LAT[0], max_value=CHINA_LAT[1]),
        lon=st.floats(min_value=CHINA_LON[0], max_value=CHINA_LON[1]),
        radius=st.floats(min_value=10, max_value=50_000), bearing=st.floats(min_value=0, max_value=360),
        share=st.floats(min_value=0, max_value=3),
    )
    def test_circle_agrees_with_the_geodesic_distance(
        self, lat: float, lon: float, radius: float, bearing: float, share: float,
    ) -> None:
        fence = CircleGeofence(name="c", kind=GeofenceKind.other, lat=lat, lon=lon, radius_m=radius)
        point = offset((lat, lon), radius * share, bearing)
        distance = geodesic((lat, lon), point).meters
        if math.isclose(distance, radius, abs_tol=0.01):
            return  # the destination's own rounding decides a point on the rim
        assert fence.contains(*point) == (distance <= radius)


# --- the rules file ---------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audit.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class TestRulesFile:
    def test_shipped_rules_load(self) -> None:
        rules = default_rules()
        assert rules == load_rules(SHIPPED_RULES)
        assert (rules.odometer_gap_km, rules.overdriven_ratio, rules.overdriven_slack_km) == (30, 1.5, 5)
        # 2026's holidays come from the chinese-calendar package now (tests/fleet/test_usage_audit_calendar.py)
        assert {rules.calendar.day_off(date(2026, 2, 17)), rules.calendar.day_off(date(2026, 9, 25))} == {
            "holiday 春节", "holiday 中秋节"}
        assert rules.geofences

    def test_a_file_overrides_key_by_key(self, tmp_path: Path) -> None:
        rules = load_rules(write(tmp_path, "odometer_gap_km: 50\ncalendar:\n  working_hours: {start: '08:30'}\n"))
        assert rules.odometer_gap_km == 50
        assert rules.calendar.working_hours.start.hour == 8
        assert rules.calendar.working_hours.end.hour == 18
        assert rules.calendar.holidays == default_rules().calendar.holidays

    def test_a_list_replaces_the_shipped_one(self, tmp_path: Path) -> None:
        assert load_rules(write(tmp_path, "geofences: []\n")).geofences == ()

    @pytest.mark.parametrize(("text", "line", "field"), [
        ("odometer_gap_km: 30\noverdriven_ratio: 0.5\n", 2, "overdriven_ratio"),
        ("road_factr: 1.3\n", 1, "road_factr"),
        ("calendar:\n  working_hours:\n    start: '08:00'\n    end: 18:00\n", 4, "calendar.working_hours.end"),
        ("calendar:\n  working_hours: {start: '18:00', end: '08:00'}\n", 2, "calendar.working_hours.end"),
        # working hours are China's wall clock: an offset would be dropped or break every comparison with a trip's
        ("calendar:\n  working_hours: {start: '08:00+08:00', end: '18:00'}\n", 2, "calendar.working_hours.start"),
        ("calendar:\n  working_hours: {start: '08:00Z', end: '18:00Z'}\n", 2, "calendar.working_hours.start"),
        ("calendar:\n  timezone: Asia/Wuhan\n", 2, "calendar.timezone"),
        ("calendar:\n  holidays:\n    - {name: 春节, first: 2026-02-15, last: 2026-02-23,\n"
         "       workdays: [2026-02-16]}\n", 4, "calendar.holidays.0.workdays.0"),
        ("geofences:\n  - {name: a, kind: golf_course, shape: circle, lat: 30, lon: 114, radius_m: 100}\n"
         "  - name: b\n    kind: golf_course\n    shape: circle\n    lat: 30\n    lon: 114\n"
         "    radius_m: -5\n", 8, "geofences.1.radius_m"),
        ("geofences:\n  - name: c\n    kind: casino\n    shape: circle\n    lat: 30\n    lon: 114\n"
         "    radius_m: 5\n", 3, "geofences.0.kind"),
        ("geofences:\n  - {name: d, kind: other, shape: polygon, vertices: [[30, 114], [31, 114]]}\n",
         2, "geofences.0.vertices"),
        ("geofences:\n  - {name: a, kind: other, shape: circle, lat: 30, lon: 114, radius_m: 1}\n"
         "  - {name: a, kind: other, shape: circle, lat: 31, lon: 114, radius_m: 1}\n", 3, "geofences.1.name"),
        ("off_hours_exempt: [emergency, vip]\n", 1, "off_hours_exempt.1"),
        # a place outside China is a typo (a lost digit, 0,0), as in the API's typed places
        ("geofences:\n  - name: e\n    kind: resort\n    shape: circle\n    lat: 3.05\n    lon: 114\n"
         "    radius_m: 50\n", 5, "geofences.0.lat"),
        ("geofences:\n  - {name: f, kind: other, shape: polygon,\n"
         "     vertices: [[30, 114], [30.1, 114], [30, 14.1]]}\n", 3, "geofences.0.vertices.2.1"),
    ])
    def test_a_bad_file_is_refused_naming_line_and_field(self, tmp_path: Path, text: str, line: int,
                                                         field: str) -> None:
        path = write(tmp_path, text)
        with pytest.raises(PolicyError) as caught:
            load_rules(path)
        assert str(caught.value).startswith(f"{path}:{line}: field '{field}'"), str(caught.value)
        assert caught.value.field == field

    def test_unquoted_time_says_to_quote_it(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError, match="quoted string"):
            load_rules(write(tmp_path, "calendar:\n  working_hours: {start: '07:30', end: 18:30}\n"))

    def test_broken_yaml_names_the_line(self, tmp_path: Path) -> None:
        path = write(tmp_path, "road_factor: 1.3\ngeofences: [\n  {name: a\n")
        with pytest.raises(PolicyError, match=rf"^{path}:\d+: not valid YAML"):
            load_rules(path)

    def test_not_a_mapping(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError, match=":1: a usage audit rules file is a mapping"):
            load_rules(write(tmp_path, "- 1\n- 2\n"))

    def test_settings_name_the_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        path = write(tmp_path, "odometer_gap_km: 12\n")
        monkeypatch.setattr(config, "get_settings", lambda: Settings(usage_audit_file=path))
        assert configured_rules().odometer_gap_km == 12
        monkeypatch.setattr(config, "get_settings", lambda: Settings(usage_audit_file=None))
        assert configured_rules() is default_rules()
