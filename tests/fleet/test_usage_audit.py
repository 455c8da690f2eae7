"""The usage audit (公车使用监督): each rule on hand-made days with known answers, its near misses, the rules file
loader, and properties of the calendar and the geofences. Database tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from dispatch.travel import Geodesic
from fleet import audit, registry, usage_audit, vehicles
from fleet.enums import AssignmentSource, Category, DisposalMethod, MarkingStatus, Priority, TripStatus, VehicleStatus
from fleet.errors import PolicyError
from fleet.models import Agency, Assignment, AuditRecord, Trip, Vehicle
from fleet.schemas import DisposalIn, QuotaIn
from fleet.settings import Settings
from fleet.usage_audit import (
    SHIPPED_RULES,
    AuditRules,
    Calendar,
    CircleGeofence,
    Finding,
    FindingKind,
    GeofenceKind,
    Holiday,
    PolygonGeofence,
    default_rules,
    findings,
    load_rules,
)
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

CHINA = ZoneInfo("Asia/Shanghai")
TRAVEL = Geodesic(1.3)
YARD = (30.5928, 114.3055)  # 江岸区, the test fleet's home yard
CITY_HALL = (30.5460, 114.2960)
HOSPITAL = (30.5820, 114.2700)
MONTH = (datetime(2026, 2, 1, tzinfo=CHINA), datetime(2026, 5, 1, tzinfo=CHINA))


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA)


MONDAY = date(2026, 3, 9)
SATURDAY = date(2026, 3, 14)
MAKE_UP_SATURDAY = date(2026, 2, 28)  # 调休上班 after 春节
QINGMING_MONDAY = date(2026, 4, 6)


def audit_of(session: Session, *, kinds: set[FindingKind], rules: AuditRules | None = None,
             agency_ids: list[int] | None = None) -> list[Finding]:
    return findings(session, start=MONTH[0], end=MONTH[1], rules=rules or default_rules(), kinds=kinds,
                    agency_ids=agency_ids)


def add_trip(
    session: Session, held_by: Agency, *, at: datetime, minutes: int = 30, vehicle: Vehicle | None = None,
    priority: Priority = Priority.routine, status: TripStatus = TripStatus.completed, started: bool = True,
    pickup: tuple[float, float] = CITY_HALL, dropoff: tuple[float, float] = HOSPITAL,
    dropoff_address: str = "武汉市江汉区解放大道1095号", planned_km: float | None = None,
    odometer: tuple[int, int] | None = None, active: bool = True,
) -> Trip:
    """A trip row as the booking service leaves it; started trips carry their actual times and readings."""
    ends = at + timedelta(minutes=minutes)
    trip = Trip(
        agency_id=held_by.id, purpose="赴市卫健委开展检查", priority=priority, categories=[Category.general.value],
        passengers=1, pickup_lat=pickup[0], pickup_lon=pickup[1], pickup_address="武汉市江岸区沿江大道188号",
        dropoff_lat=dropoff[0], dropoff_lon=dropoff[1], dropoff_address=dropoff_address,
        earliest_pickup=at, latest_pickup=at + timedelta(minutes=15), dwell_min=0,
        planned_km=planned_km if planned_km is not None else TRAVEL.pair_km(pickup, dropoff), status=status,
        started_at=at if started else None,
        completed_at=ends if started and status is TripStatus.completed else None,
        odometer_start_km=odometer[0] if odometer else None,
        odometer_end_km=odometer[1] if odometer and status is TripStatus.completed else None,
    )
    session.add(trip)
    session.flush()
    if vehicle is not None:
        session.add(Assignment(trip_id=trip.id, vehicle_id=vehicle.id, starts_at=at, ends_at=ends,
                               source=AssignmentSource.manual, active=active))
        session.flush()
    return trip


@pytest.fixture
def ga(session: Session) -> Agency:
    jurisdiction_tree(session)
    return agency(session, "WH-GA", quotas={Category.general: 10, Category.law_enforcement: 5})


def kinds_of(found: list[Finding]) -> list[tuple[FindingKind, int | None]]:
    return [(f.kind, f.trip_id) for f in found]


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

FENCE = CircleGeofence(name="某高尔夫俱乐部", kind=GeofenceKind.golf_course, lat=30.6630, lon=114.2060, radius_m=500)
LAKE = PolygonGeofence(name="某风景区", kind=GeofenceKind.scenic_area,
                       vertices=((30.56, 114.40), (30.56, 114.44), (30.54, 114.44), (30.54, 114.40)))


def offset(point: tuple[float, float], metres: float, bearing: float = 0.0) -> tuple[float, float]:
    moved = geodesic(meters=metres).destination(point, bearing)
    return moved.latitude, moved.longitude


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
        # A "U": the notch between the arms is outside.
        u = PolygonGeofence(name="U", kind=GeofenceKind.other, vertices=(
            (0, 0), (0, 3), (3, 3), (3, 2), (1, 2), (1, 1), (3, 1), (3, 0)))
        assert u.contains(0.5, 1.5)
        assert not u.contains(2, 1.5)
        assert u.contains(2, 0.5)

    @settings(max_examples=300, deadline=None)
    @given(
        lat=st.floats(min_value=-85, max_value=85), lon=st.floats(min_value=-180, max_value=180),
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
        assert {h.name for h in rules.calendar.holidays if h.first.year == 2026} >= {"春节", "国庆节", "中秋节"}
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
        monkeypatch.setattr(usage_audit, "get_settings", lambda: Settings(usage_audit_file=path))
        assert usage_audit.configured_rules().odometer_gap_km == 12
        monkeypatch.setattr(usage_audit, "get_settings", lambda: Settings(usage_audit_file=None))
        assert usage_audit.configured_rules() is default_rules()


# --- the rules on the database ----------------------------------------------------------------------------------


class TestOffHours:
    def test_flagged_and_near_misses(self, session: Session, ga: Agency) -> None:
        car, other = registered(session, "WH-GA"), registered(session, "WH-GA")
        in_hours = add_trip(session, ga, at=local(MONDAY, 17, 0), minutes=59, vehicle=car)
        ends_late = add_trip(session, ga, at=local(MONDAY, 17, 31), minutes=30, vehicle=other)
        starts_early = add_trip(session, ga, at=local(MONDAY, 7, 59), minutes=20)
        at_eight = add_trip(session, ga, at=local(MONDAY, 8, 0), minutes=20)
        weekend = add_trip(session, ga, at=local(SATURDAY, 10))
        make_up = add_trip(session, ga, at=local(MAKE_UP_SATURDAY, 10))
        qingming = add_trip(session, ga, at=local(QINGMING_MONDAY, 10))
        emergency = add_trip(session, ga, at=local(MONDAY, 2), priority=Priority.emergency)
        enforcement = add_trip(session, ga, at=local(SATURDAY, 23), priority=Priority.law_enforcement)
        overnight = add_trip(session, ga, at=local(date(2026, 3, 10), 17), minutes=16 * 60)
        planned_evening = add_trip(session, ga, at=local(date(2026, 3, 11), 20), vehicle=car,
                                   status=TripStatus.assigned, started=False)
        cancelled = add_trip(session, ga, at=local(date(2026, 3, 12), 21), vehicle=car, active=False,
                             status=TripStatus.cancelled, started=False)

        found = {f.trip_id: f for f in audit_of(session, kinds={FindingKind.off_hours})}

        assert set(found) == {ends_late.id, starts_early.id, weekend.id, qingming.id, overnight.id,
                              planned_evening.id}
        for near_miss in (in_hours, at_eight, make_up, emergency, enforcement, cancelled):
            assert near_miss.id not in found
        assert found[ends_late.id].evidence["reasons"] == ["end_outside_hours"]
        assert found[ends_late.id].evidence["end_local"] == "2026-03-09T18:01:00+08:00"
        assert "18:01" in found[ends_late.id].detail
        assert found[ends_late.id].plate == other.plate
        assert found[starts_early.id].evidence["reasons"] == ["start_outside_hours"]
        assert found[weekend.id].evidence["reasons"] == ["start_weekend", "end_weekend"]
        assert found[qingming.id].evidence["day_off"]["start"] == "holiday 清明节"
        assert "清明节" in found[qingming.id].detail
        assert found[overnight.id].evidence["reasons"] == ["overnight"]
        assert found[planned_evening.id].evidence["start_source"] == "assigned"
        assert found[planned_evening.id].at == local(date(2026, 3, 11), 20)


class TestOdometerGap:
    @staticmethod
    def expected(via_home: bool) -> float:
        if via_home:
            return TRAVEL.pair_km(HOSPITAL, YARD) + TRAVEL.pair_km(YARD, CITY_HALL)
        return TRAVEL.pair_km(HOSPITAL, CITY_HALL)

    @pytest.mark.parametrize("via_home", [True, False])
    def test_just_over_and_just_under_the_threshold(self, session: Session, ga: Agency, via_home: bool) -> None:
        home = {"home_lat": YARD[0], "home_lon": YARD[1]} if via_home else {}
        expected = self.expected(via_home)
        under, over = registered(session, "WH-GA", **home), registered(session, "WH-GA", **home)
        for car, gap in ((under, math.ceil(expected) + 29), (over, math.floor(expected) + 31)):
            add_trip(session, ga, at=local(MONDAY, 9), vehicle=car, odometer=(1000, 1008))
            add_trip(session, ga, at=local(MONDAY, 14), vehicle=car, odometer=(1008 + gap, 1016 + gap))

        found = audit_of(session, kinds={FindingKind.odometer_gap})

        assert [f.plate for f in found] == [over.plate]
        evidence = found[0].evidence
        assert evidence["previous_odometer_end_km"] == 1008
        assert evidence["gap_km"] == math.floor(expected) + 31
        assert evidence["expected_km"] == round(expected, 1)
        assert 30 < evidence["excess_km"] <= 31
        assert (evidence["home"] is not None) is via_home
        assert found[0].at == local(MONDAY, 14)
        assert f"{evidence['gap_km']} km" in found[0].detail

    def test_the_previous_trip_may_lie_before_the_window(self, session: Session, ga: Agency) -> None:
        car = registered(session, "WH-GA", home_lat=YARD[0], home_lon=YARD[1])
        first = add_trip(session, ga, at=local(date(2026, 1, 30), 9), vehicle=car, odometer=(500, 508))
        second = add_trip(session, ga, at=local(date(2026, 2, 2), 9), vehicle=car, odometer=(700, 708))
        found = audit_of(session, kinds={FindingKind.odometer_gap})
        assert [(f.evidence["previous_trip_id"], f.trip_id) for f in found] == [(first.id, second.id)]

    def test_consecutive_trips_with_legitimate_drives_pass(self, session: Session, ga: Agency) -> None:
        car = registered(session, "WH-GA", home_lat=YARD[0], home_lon=YARD[1])
        reading = 1000
        for hour in (8, 10, 12, 14, 16):
            add_trip(session, ga, at=local(MONDAY, hour), vehicle=car, odometer=(reading, reading + 7))
            reading += 7 + math.ceil(self.expected(True))
        assert audit_of(session, kinds={FindingKind.odometer_gap}) == []

    def test_an_unfinished_trip_in_between_breaks_the_chain(self, session: Session, ga: Agency) -> None:
        car = registered(session, "WH-GA")
        add_trip(session, ga, at=local(MONDAY, 8), vehicle=car, odometer=(1000, 1008))
        add_trip(session, ga, at=local(MONDAY, 10), vehicle=car, odometer=(1020, 0), status=TripStatus.in_progress)
        add_trip(session, ga, at=local(MONDAY, 14), vehicle=car, odometer=(1100, 1108))
        assert audit_of(session, kinds={FindingKind.odometer_gap}) == []


class TestOverdriven:
    @pytest.mark.parametrize(("planned", "driven", "flagged"), [
        (10.0, 15, False),  # exactly 1.5×
        (10.0, 16, True),
        (1.0, 3, False),  # 3× a short trip, within the 5 km slack
        (1.0, 6, False),
        (1.0, 7, True),
        (40.0, 60, False),
        (40.0, 61, True),
    ])
    def test_ratio_and_slack(self, session: Session, ga: Agency, planned: float, driven: int,
                             flagged: bool) -> None:
        car = registered(session, "WH-GA")
        trip = add_trip(session, ga, at=local(MONDAY, 9), vehicle=car, planned_km=planned,
                        odometer=(2000, 2000 + driven))
        found = audit_of(session, kinds={FindingKind.overdriven})
        assert [f.trip_id for f in found] == ([trip.id] if flagged else [])
        if flagged:
            assert found[0].evidence["driven_km"] == driven
            assert found[0].evidence["odometer_end_km"] == 2000 + driven
            assert f"{driven} km" in found[0].detail

    def test_trips_without_readings_are_not_judged(self, session: Session, ga: Agency) -> None:
        add_trip(session, ga, at=local(MONDAY, 9), vehicle=registered(session, "WH-GA"), planned_km=1)
        assert audit_of(session, kinds={FindingKind.overdriven}) == []


class TestGeofence:
    RULES = AuditRules(calendar=default_rules().calendar, geofences=(FENCE, LAKE))

    def test_inside_and_just_outside(self, session: Session, ga: Agency) -> None:
        centre = (FENCE.lat, FENCE.lon)
        inside = add_trip(session, ga, at=local(SATURDAY, 9), dropoff=offset(centre, 490, 120),
                          dropoff_address="东西湖区金银湖路")
        outside = add_trip(session, ga, at=local(SATURDAY, 11), dropoff=offset(centre, 510, 120))
        lake = add_trip(session, ga, at=local(MONDAY, 15), dropoff=(30.55, 114.42), status=TripStatus.requested,
                        started=False)
        refused = add_trip(session, ga, at=local(MONDAY, 16), dropoff=(30.55, 114.42), status=TripStatus.rejected,
                           started=False)
        found = {f.trip_id: f for f in audit_of(session, kinds={FindingKind.geofence}, rules=self.RULES)}
        assert set(found) == {inside.id, lake.id}
        assert outside.id not in found
        assert refused.id not in found
        evidence = found[inside.id].evidence
        assert evidence["geofence"] == FENCE.name
        assert evidence["geofence_kind"] == "golf_course"
        assert 489 < evidence["distance_m"] < 491
        assert evidence["radius_m"] == 500
        assert FENCE.name in found[inside.id].detail
        assert found[lake.id].evidence["geofence_shape"] == "polygon"

    def test_exempt_priorities(self, session: Session, ga: Agency) -> None:
        add_trip(session, ga, at=local(MONDAY, 9), dropoff=(30.55, 114.42), priority=Priority.emergency)
        rules = self.RULES.model_copy(update={"geofence_exempt": frozenset({Priority.emergency})})
        assert audit_of(session, kinds={FindingKind.geofence}, rules=rules) == []
        assert len(audit_of(session, kinds={FindingKind.geofence}, rules=self.RULES)) == 1


@dataclass
class Clock:
    """The audit log's clock, set by the test: status changes happen when the test says."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    ticking = Clock()
    monkeypatch.setattr(audit, "utcnow", ticking)
    return ticking


class TestUnusableVehicle:
    def test_sealed_then_unsealed(self, session: Session, ga: Agency, clock: Clock) -> None:
        car = registered(session, "WH-GA")
        before = add_trip(session, ga, at=local(date(2026, 3, 8), 10), vehicle=car)
        clock.now = local(MONDAY, 10)
        sealed = vehicles.seal(session, ADMIN, vehicle_id=car.id, reason="超编待处置")
        seal_seq = session.scalar(sa.select(sa.func.max(AuditRecord.seq)))
        during = add_trip(session, ga, at=local(date(2026, 3, 10), 10), vehicle=car)
        planned = add_trip(session, ga, at=local(date(2026, 3, 11), 9), vehicle=car, status=TripStatus.assigned,
                           started=False)
        clock.now = local(date(2026, 3, 11), 10)
        vehicles.unseal(session, ADMIN, vehicle_id=sealed.id, reason="重新启用")
        after = add_trip(session, ga, at=local(date(2026, 3, 12), 10), vehicle=car)

        found = {f.trip_id: f for f in audit_of(session, kinds={FindingKind.unusable_vehicle})}

        assert set(found) == {during.id, planned.id}
        assert before.id not in found
        assert after.id not in found
        evidence = found[during.id].evidence
        assert evidence["vehicle_status"] == "sealed"
        assert evidence["audit_seq"] == seal_seq
        assert evidence["audit_action"] == "vehicle.seal"
        assert evidence["reason"] == "超编待处置"
        assert f"#{seal_seq}" in found[during.id].detail
        assert found[planned.id].evidence["time_source"] == "assigned"

    def test_in_the_workshop(self, session: Session, ga: Agency, clock: Clock) -> None:
        car = registered(session, "WH-GA")
        clock.now = local(MONDAY, 10)
        vehicles.maintenance_in(session, ADMIN, vehicle_id=car.id, reason="更换刹车片")
        during = add_trip(session, ga, at=local(MONDAY, 14), vehicle=car)
        clock.now = local(MONDAY, 16)
        vehicles.maintenance_out(session, ADMIN, vehicle_id=car.id)
        after = add_trip(session, ga, at=local(MONDAY, 16, 30), vehicle=car)
        found = audit_of(session, kinds={FindingKind.unusable_vehicle})
        assert [(f.trip_id, f.evidence["vehicle_status"]) for f in found] == [(during.id, "maintenance")]
        assert after.id not in {f.trip_id for f in found}

    def test_disposed_of(self, session: Session, ga: Agency, clock: Clock) -> None:
        car = registered(session, "WH-GA")
        clock.now = local(date(2026, 3, 20), 9)
        vehicles.dispose(session, ADMIN, vehicle_id=car.id,
                         data=DisposalIn(method=DisposalMethod.auction, disposed_on=date(2026, 3, 20)))
        to_auction = add_trip(session, ga, at=local(date(2026, 3, 20), 15), vehicle=car)
        afterwards = add_trip(session, ga, at=local(date(2026, 3, 21), 10), vehicle=car)
        found = audit_of(session, kinds={FindingKind.unusable_vehicle})
        assert [f.trip_id for f in found] == [afterwards.id]
        assert found[0].evidence["vehicle_status"] == "disposed"
        assert found[0].evidence["disposed_on"] == "2026-03-20"
        assert found[0].evidence["audit_action"] == "vehicle.disposed"
        assert to_auction.id not in {f.trip_id for f in found}

    def test_sealed_with_no_logged_change_is_sealed_throughout(self, session: Session, ga: Agency) -> None:
        car = registered(session, "WH-GA")
        car.status = VehicleStatus.sealed  # as a bulk import would leave it: no audit record
        trip = add_trip(session, ga, at=local(MONDAY, 10), vehicle=car)
        found = audit_of(session, kinds={FindingKind.unusable_vehicle})
        assert [(f.trip_id, f.evidence["audit_seq"], f.evidence["status_basis"]) for f in found] == [
            (trip.id, None, "current")]

    def test_status_before_the_first_logged_change_is_its_from(self, session: Session, ga: Agency,
                                                               clock: Clock) -> None:
        car = registered(session, "WH-GA")
        car.status = VehicleStatus.sealed  # sealed before the system kept a log
        session.flush()
        while_sealed = add_trip(session, ga, at=local(MONDAY, 10), vehicle=car)
        clock.now = local(date(2026, 3, 10), 9)
        vehicles.unseal(session, ADMIN, vehicle_id=car.id, reason="重新启用")
        unseal_seq = session.scalar(sa.select(sa.func.max(AuditRecord.seq)))
        add_trip(session, ga, at=local(date(2026, 3, 10), 10), vehicle=car)
        found = audit_of(session, kinds={FindingKind.unusable_vehicle})
        assert [(f.trip_id, f.evidence["audit_seq"], f.evidence["status_basis"]) for f in found] == [
            (while_sealed.id, unseal_seq, "before")]
        assert f"#{unseal_seq} changed it from sealed" in found[0].detail


class TestFleetRules:
    def test_over_quota_three_of_two_not_two_of_two(self, session: Session) -> None:
        jurisdiction_tree(session)
        agency(session, "WH-A", quotas={Category.general: 3})
        agency(session, "WH-B", quotas={Category.general: 2})
        plates = [registered(session, "WH-A").plate for _ in range(3)]
        registered(session, "WH-B")
        registered(session, "WH-B")
        registry.set_quota(session, ADMIN, data=QuotaIn(agency="WH-A", category=Category.general, limit=2,
                                                        reason="编制 cut"))
        found = audit_of(session, kinds={FindingKind.over_quota})
        assert [(f.agency, f.evidence["held"], f.evidence["limit"]) for f in found] == [("WH-A", 3, 2)]
        assert sorted(found[0].evidence["plates"]) == sorted(plates)
        assert found[0].at is None
        assert "holds 3 general" in found[0].detail
        assert "quota of 2" in found[0].detail

    def test_disposed_vehicles_do_not_count(self, session: Session) -> None:
        jurisdiction_tree(session)
        agency(session, "WH-A", quotas={Category.general: 3})
        cars = [registered(session, "WH-A") for _ in range(3)]
        vehicles.dispose(session, ADMIN, vehicle_id=cars[0].id,
                         data=DisposalIn(method=DisposalMethod.scrap, disposed_on=date(2026, 3, 1)))
        registry.set_quota(session, ADMIN, data=QuotaIn(agency="WH-A", category=Category.general, limit=2,
                                                        reason="编制 cut"))
        assert audit_of(session, kinds={FindingKind.over_quota}) == []

    def test_unmarked(self, session: Session, ga: Agency) -> None:
        bare = registered(session, "WH-GA", marking=MarkingStatus.unmarked)
        registered(session, "WH-GA", marking=MarkingStatus.unmarked, marking_exemption="机要通信, 经批准免于标识")
        registered(session, "WH-GA", marking=MarkingStatus.exempt, marking_exemption="涉密")
        registered(session, "WH-GA")
        gone = registered(session, "WH-GA", marking=MarkingStatus.unmarked)
        vehicles.dispose(session, ADMIN, vehicle_id=gone.id,
                         data=DisposalIn(method=DisposalMethod.scrap, disposed_on=date(2026, 3, 1)))
        sealed = registered(session, "WH-GA", marking=MarkingStatus.unmarked)
        vehicles.seal(session, ADMIN, vehicle_id=sealed.id, reason="封存")
        found = audit_of(session, kinds={FindingKind.unmarked})
        assert sorted(f.plate or "" for f in found) == sorted([bare.plate, sealed.plate])
        assert all(f.vehicle_id in (bare.id, sealed.id) and f.evidence["marking"] == "unmarked" for f in found)


class TestFindings:
    def test_agency_scope_hides_other_agencies(self, session: Session) -> None:
        jurisdiction_tree(session)
        mine = agency(session, "WH-A", quotas={Category.general: 5})
        theirs = agency(session, "WH-B", quotas={Category.general: 5})
        my_car = registered(session, "WH-A", marking=MarkingStatus.unmarked)
        registered(session, "WH-B", marking=MarkingStatus.unmarked)
        my_trip = add_trip(session, mine, at=local(SATURDAY, 10), vehicle=my_car)
        their_trip = add_trip(session, theirs, at=local(SATURDAY, 10))

        everyone = audit_of(session, kinds=set(FindingKind))
        assert {f.trip_id for f in everyone} >= {my_trip.id, their_trip.id}
        assert {f.agency for f in everyone} == {"WH-A", "WH-B"}

        scoped = audit_of(session, kinds=set(FindingKind), agency_ids=[mine.id])
        assert {f.agency for f in scoped} == {"WH-A"}
        assert {(f.kind, f.trip_id) for f in scoped} == {(FindingKind.off_hours, my_trip.id),
                                                          (FindingKind.unmarked, None)}
        assert audit_of(session, kinds=set(FindingKind), agency_ids=[]) == []

    def test_window_and_order(self, session: Session, ga: Agency) -> None:
        registered(session, "WH-GA", marking=MarkingStatus.unmarked)
        early = add_trip(session, ga, at=local(SATURDAY, 10), planned_km=1, odometer=(0, 20),
                         vehicle=registered(session, "WH-GA"))
        late = add_trip(session, ga, at=local(date(2026, 3, 21), 10))
        outside = add_trip(session, ga, at=local(date(2026, 5, 2), 10))
        found = findings(session, start=MONTH[0], end=MONTH[1], rules=default_rules())
        assert [(f.kind, f.trip_id) for f in found] == [
            (FindingKind.unmarked, None),  # not tied to a time: listed at the window's start
            (FindingKind.off_hours, early.id),
            (FindingKind.overdriven, early.id),
            (FindingKind.off_hours, late.id),
        ]
        assert outside.id not in {f.trip_id for f in found}

    def test_evidence_is_json(self, session: Session, ga: Agency, clock: Clock) -> None:
        car = registered(session, "WH-GA", home_lat=YARD[0], home_lon=YARD[1], marking=MarkingStatus.unmarked)
        clock.now = local(date(2026, 3, 1), 10)
        vehicles.seal(session, ADMIN, vehicle_id=car.id, reason="test")
        add_trip(session, ga, at=local(SATURDAY, 9), vehicle=car, planned_km=1, odometer=(0, 40),
                 dropoff=(FENCE.lat, FENCE.lon))
        add_trip(session, ga, at=local(SATURDAY, 15), vehicle=car, odometer=(500, 510))
        rules = AuditRules(calendar=default_rules().calendar, geofences=(FENCE,))
        found = findings(session, start=MONTH[0], end=MONTH[1], rules=rules)
        assert {f.kind for f in found} == set(FindingKind) - {FindingKind.over_quota}
        for f in found:
            json.dumps(f.evidence, ensure_ascii=False, allow_nan=False)
            assert Finding.model_validate_json(f.model_dump_json()) == f

    def test_naive_window_is_refused(self, session: Session) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            findings(session, start=datetime(2026, 3, 1), end=datetime(2026, 4, 1))

    def test_a_bounded_number_of_queries(self, session: Session) -> None:
        jurisdiction_tree(session)
        big = agency(session, "WH-BIG", quotas={Category.general: 100})

        def statements(trips: int) -> int:
            for n in range(trips):
                car = registered(session, "WH-BIG", home_lat=YARD[0], home_lon=YARD[1])
                add_trip(session, big, at=local(MONDAY, 9) + timedelta(days=n % 20), vehicle=car,
                         odometer=(100, 108))
                add_trip(session, big, at=local(MONDAY, 22) + timedelta(days=n % 20), vehicle=car,
                         odometer=(400, 408))
            count = 0

            def tally(*_: Any) -> None:
                nonlocal count
                count += 1

            engine = session.get_bind().engine
            sa.event.listen(engine, "before_cursor_execute", tally)
            try:
                found = findings(session, start=MONTH[0], end=MONTH[1], rules=default_rules())
            finally:
                sa.event.remove(engine, "before_cursor_execute", tally)
            assert len(found) >= trips
            return count

        few = statements(2)
        assert statements(40) == few
        assert few <= 6
