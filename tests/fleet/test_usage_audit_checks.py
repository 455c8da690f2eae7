"""The usage audit's seven checks on hand-built evidence rows: each rule on hand-made days with known answers and
its near misses. No database: the rows are what ``fleet.usage_audit.evidence`` would load."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy.orm import Session

from fleet.enums import Category, MarkingStatus, Priority, TripStatus, VehicleStatus
from fleet.usage_audit import AuditRules, Finding, FindingKind, checks, default_rules, findings, track_checks
from fleet.usage_audit.evidence import DISPOSAL, HeldVehicle, StatusChange, TripRow
from tests.factories import plate
from tests.fleet.usage_audit_data import (
    CITY_HALL,
    FENCE,
    HOSPITAL,
    LAKE,
    MAKE_UP_SATURDAY,
    MONDAY,
    QINGMING_MONDAY,
    SATURDAY,
    TRAVEL,
    YARD,
    local,
    offset,
)

RULES = default_rules()
_ids = count(1)


@dataclass(frozen=True)
class Car:
    """A vehicle as a trip row carries it."""

    id: int
    agency: str = "WH-GA"
    home: tuple[float, float] | None = None
    status: VehicleStatus = VehicleStatus.active
    disposed_on: date | None = None

    @property
    def plate(self) -> str:
        return plate(self.id)


def trip(
    at: datetime, *, minutes: int = 30, vehicle: Car | None = None, priority: Priority = Priority.routine,
    status: TripStatus = TripStatus.completed, started: bool = True,
    pickup: tuple[float, float] = CITY_HALL, dropoff: tuple[float, float] = HOSPITAL,
    dropoff_address: str = "武汉市江汉区解放大道1095号", planned_km: float | None = None,
    odometer: tuple[int, int] | None = None,
) -> TripRow:
    """A trip row as the booking service leaves it; started trips carry their actual times and readings."""
    ends = at + timedelta(minutes=minutes)
    return TripRow(
        id=next(_ids), agency_id=1, agency="WH-GA", priority=priority, purpose="赴市卫健委开展检查", status=status,
        pickup=pickup, pickup_address="武汉市江岸区沿江大道188号", dropoff=dropoff, dropoff_address=dropoff_address,
        earliest_pickup=at, planned_km=planned_km if planned_km is not None else TRAVEL.pair_km(pickup, dropoff),
        started_at=at if started else None,
        completed_at=ends if started and status is TripStatus.completed else None,
        odometer_start_km=odometer[0] if odometer else None,
        odometer_end_km=odometer[1] if odometer and status is TripStatus.completed else None,
        vehicle_id=vehicle.id if vehicle else None, assigned_from=at if vehicle else None,
        assigned_to=ends if vehicle else None, plate=vehicle.plate if vehicle else None,
        vehicle_agency_id=1 if vehicle else None, vehicle_agency=vehicle.agency if vehicle else None,
        home=vehicle.home if vehicle else None, vehicle_status=vehicle.status if vehicle else None,
        disposed_on=vehicle.disposed_on if vehicle else None,
    )


def change(seq: int, at: datetime, action: str, before: VehicleStatus | None, after: VehicleStatus | None,
           reason: str | None = None) -> StatusChange:
    return StatusChange(seq=seq, at=at, action=action, before=before, after=after, reason=reason)


def held(vehicle_id: int, agency: str = "WH-GA", *, limit: int | None = 10,
         status: VehicleStatus = VehicleStatus.active, marking: MarkingStatus = MarkingStatus.marked,
         exemption: str | None = None) -> HeldVehicle:
    return HeldVehicle(id=vehicle_id, plate=plate(vehicle_id), agency_id=1, agency=agency, category=Category.general,
                       status=status, marking=marking, marking_exemption=exemption, limit=limit)


def by_trip(found: list[Finding]) -> dict[int | None, Finding]:
    return {f.trip_id: f for f in found}


class TestOffHours:
    def test_flagged_and_near_misses(self) -> None:
        car, other = Car(1), Car(2)
        in_hours = trip(local(MONDAY, 17, 0), minutes=59, vehicle=car)
        ends_late = trip(local(MONDAY, 17, 31), minutes=30, vehicle=other)
        starts_early = trip(local(MONDAY, 7, 59), minutes=20)
        at_eight = trip(local(MONDAY, 8, 0), minutes=20)
        weekend = trip(local(SATURDAY, 10))
        make_up = trip(local(MAKE_UP_SATURDAY, 10))
        qingming = trip(local(QINGMING_MONDAY, 10))
        emergency = trip(local(MONDAY, 2), priority=Priority.emergency)
        enforcement = trip(local(SATURDAY, 23), priority=Priority.law_enforcement)
        overnight = trip(local(date(2026, 3, 10), 17), minutes=16 * 60)
        planned_evening = trip(local(date(2026, 3, 11), 20), vehicle=car, status=TripStatus.assigned, started=False)
        rows = [in_hours, ends_late, starts_early, at_eight, weekend, make_up, qingming, emergency, enforcement,
                overnight, planned_evening]

        found = by_trip(list(checks.off_hours(rows, RULES)))

        assert set(found) == {ends_late.id, starts_early.id, weekend.id, qingming.id, overnight.id,
                              planned_evening.id}
        for near_miss in (in_hours, at_eight, make_up, emergency, enforcement):
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
    def test_just_over_and_just_under_the_threshold(self, via_home: bool) -> None:
        home = YARD if via_home else None
        expected = self.expected(via_home)
        under, over = Car(1, home=home), Car(2, home=home)
        rows: list[TripRow] = []
        for car, gap in ((under, math.ceil(expected) + 29), (over, math.floor(expected) + 31)):
            rows.append(trip(local(MONDAY, 9), vehicle=car, odometer=(1000, 1008)))
            rows.append(trip(local(MONDAY, 14), vehicle=car, odometer=(1008 + gap, 1016 + gap)))

        found = list(checks.odometer_gap(rows, {}, RULES))

        assert [f.plate for f in found] == [over.plate]
        evidence = found[0].evidence
        assert evidence["previous_odometer_end_km"] == 1008
        assert evidence["gap_km"] == math.floor(expected) + 31
        assert evidence["expected_km"] == round(expected, 1)
        assert 30 < evidence["excess_km"] <= 31
        assert (evidence["home"] is not None) is via_home
        assert found[0].at == local(MONDAY, 14)
        assert f"{evidence['gap_km']} km" in found[0].detail

    def test_the_previous_trip_may_lie_before_the_window(self) -> None:
        car = Car(1, home=YARD)
        first = trip(local(date(2026, 1, 30), 9), vehicle=car, odometer=(500, 508))
        second = trip(local(date(2026, 2, 2), 9), vehicle=car, odometer=(700, 708))
        found = list(checks.odometer_gap([second], {car.id: first}, RULES))
        assert [(f.evidence["previous_trip_id"], f.trip_id) for f in found] == [(first.id, second.id)]

    def test_consecutive_trips_with_legitimate_drives_pass(self) -> None:
        car = Car(1, home=YARD)
        reading = 1000
        rows: list[TripRow] = []
        for hour in (8, 10, 12, 14, 16):
            rows.append(trip(local(MONDAY, hour), vehicle=car, odometer=(reading, reading + 7)))
            reading += 7 + math.ceil(self.expected(True))
        assert list(checks.odometer_gap(rows, {}, RULES)) == []

    def test_an_unfinished_trip_in_between_breaks_the_chain(self) -> None:
        car = Car(1)
        rows = [
            trip(local(MONDAY, 8), vehicle=car, odometer=(1000, 1008)),
            trip(local(MONDAY, 10), vehicle=car, odometer=(1020, 0), status=TripStatus.in_progress),
            trip(local(MONDAY, 14), vehicle=car, odometer=(1100, 1108)),
        ]
        assert list(checks.odometer_gap(rows, {}, RULES)) == []


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
    def test_ratio_and_slack(self, planned: float, driven: int, flagged: bool) -> None:
        row = trip(local(MONDAY, 9), vehicle=Car(1), planned_km=planned, odometer=(2000, 2000 + driven))
        found = list(checks.overdriven([row], RULES))
        assert [f.trip_id for f in found] == ([row.id] if flagged else [])
        if flagged:
            assert found[0].evidence["driven_km"] == driven
            assert found[0].evidence["odometer_end_km"] == 2000 + driven
            assert f"{driven} km" in found[0].detail

    def test_trips_without_readings_are_not_judged(self) -> None:
        row = trip(local(MONDAY, 9), vehicle=Car(1), planned_km=1)
        assert list(checks.overdriven([row], RULES)) == []


class TestGeofence:
    RULES = AuditRules(calendar=default_rules().calendar, geofences=(FENCE, LAKE))

    def test_inside_and_just_outside(self) -> None:
        centre = (FENCE.lat, FENCE.lon)
        inside = trip(local(SATURDAY, 9), dropoff=offset(centre, 490, 120), dropoff_address="东西湖区金银湖路")
        outside = trip(local(SATURDAY, 11), dropoff=offset(centre, 510, 120))
        lake = trip(local(MONDAY, 15), dropoff=(30.55, 114.42), status=TripStatus.requested, started=False)
        found = by_trip(list(checks.geofence([inside, outside, lake], self.RULES)))
        assert set(found) == {inside.id, lake.id}
        assert outside.id not in found
        evidence = found[inside.id].evidence
        assert evidence["geofence"] == FENCE.name
        assert evidence["geofence_kind"] == "golf_course"
        assert 489 < evidence["distance_m"] < 491
        assert evidence["radius_m"] == 500
        assert FENCE.name in found[inside.id].detail
        assert found[lake.id].evidence["geofence_shape"] == "polygon"

    def test_exempt_priorities(self) -> None:
        row = trip(local(MONDAY, 9), dropoff=(30.55, 114.42), priority=Priority.emergency)
        rules = self.RULES.model_copy(update={"geofence_exempt": frozenset({Priority.emergency})})
        assert list(checks.geofence([row], rules)) == []
        assert len(list(checks.geofence([row], self.RULES))) == 1


class TestUnusableVehicle:
    def test_sealed_then_unsealed(self) -> None:
        car = Car(1)
        before = trip(local(date(2026, 3, 8), 10), vehicle=car)
        during = trip(local(date(2026, 3, 10), 10), vehicle=car)
        planned = trip(local(date(2026, 3, 11), 9), vehicle=car, status=TripStatus.assigned, started=False)
        after = trip(local(date(2026, 3, 12), 10), vehicle=car)
        log = {car.id: [
            change(7, local(MONDAY, 10), "vehicle.seal", VehicleStatus.active, VehicleStatus.sealed, "超编待处置"),
            change(8, local(date(2026, 3, 11), 10), "vehicle.unseal", VehicleStatus.sealed, VehicleStatus.active,
                   "重新启用"),
        ]}

        found = by_trip(list(checks.unusable_vehicle([before, during, planned, after], log, RULES)))

        assert set(found) == {during.id, planned.id}
        assert before.id not in found
        assert after.id not in found
        evidence = found[during.id].evidence
        assert evidence["vehicle_status"] == "sealed"
        assert evidence["audit_seq"] == 7
        assert evidence["audit_action"] == "vehicle.seal"
        assert evidence["reason"] == "超编待处置"
        assert "#7" in found[during.id].detail
        assert found[planned.id].evidence["time_source"] == "assigned"

    def test_in_the_workshop(self) -> None:
        car = Car(1)
        during = trip(local(MONDAY, 14), vehicle=car)
        after = trip(local(MONDAY, 16, 30), vehicle=car)
        log = {car.id: [
            change(3, local(MONDAY, 10), "vehicle.maintenance_in", VehicleStatus.active, VehicleStatus.maintenance,
                   "更换刹车片"),
            change(4, local(MONDAY, 16), "vehicle.maintenance_out", VehicleStatus.maintenance, VehicleStatus.active),
        ]}
        found = list(checks.unusable_vehicle([during, after], log, RULES))
        assert [(f.trip_id, f.evidence["vehicle_status"]) for f in found] == [(during.id, "maintenance")]
        assert after.id not in {f.trip_id for f in found}

    def test_disposed_of(self) -> None:
        car = Car(1, status=VehicleStatus.disposed, disposed_on=date(2026, 3, 20))
        to_auction = trip(local(date(2026, 3, 20), 15), vehicle=car)
        afterwards = trip(local(date(2026, 3, 21), 10), vehicle=car)
        log = {car.id: [change(5, local(date(2026, 3, 20), 9), DISPOSAL, VehicleStatus.active,
                               VehicleStatus.disposed)]}
        found = list(checks.unusable_vehicle([to_auction, afterwards], log, RULES))
        assert [f.trip_id for f in found] == [afterwards.id]
        assert found[0].evidence["vehicle_status"] == "disposed"
        assert found[0].evidence["disposed_on"] == "2026-03-20"
        assert found[0].evidence["audit_action"] == "vehicle.disposed"
        assert to_auction.id not in {f.trip_id for f in found}

    def test_sealed_with_no_logged_change_is_sealed_throughout(self) -> None:
        row = trip(local(MONDAY, 10), vehicle=Car(1, status=VehicleStatus.sealed))
        found = list(checks.unusable_vehicle([row], {}, RULES))
        assert [(f.trip_id, f.evidence["audit_seq"], f.evidence["status_basis"]) for f in found] == [
            (row.id, None, "current")]

    def test_status_before_the_first_logged_change_is_its_from(self) -> None:
        car = Car(1)  # sealed before the system kept a log, unsealed since
        while_sealed = trip(local(MONDAY, 10), vehicle=car)
        later = trip(local(date(2026, 3, 10), 10), vehicle=car)
        log = {car.id: [change(9, local(date(2026, 3, 10), 9), "vehicle.unseal", VehicleStatus.sealed,
                               VehicleStatus.active, "重新启用")]}
        found = list(checks.unusable_vehicle([while_sealed, later], log, RULES))
        assert [(f.trip_id, f.evidence["audit_seq"], f.evidence["status_basis"]) for f in found] == [
            (while_sealed.id, 9, "before")]
        assert "#9 changed it from sealed" in found[0].detail


class TestFleetRules:
    def test_over_quota_three_of_two_not_two_of_two(self) -> None:
        fleet = [held(1, "WH-A", limit=2), held(2, "WH-A", limit=2), held(3, "WH-A", limit=2),
                 held(4, "WH-B", limit=2), held(5, "WH-B", limit=2)]
        found = list(checks.over_quota(fleet))
        assert [(f.agency, f.evidence["held"], f.evidence["limit"]) for f in found] == [("WH-A", 3, 2)]
        assert sorted(found[0].evidence["plates"]) == sorted(plate(n) for n in (1, 2, 3))
        assert found[0].at is None
        assert "holds 3 general" in found[0].detail
        assert "quota of 2" in found[0].detail

    def test_unmarked(self) -> None:
        bare = held(1, marking=MarkingStatus.unmarked)
        excused = held(2, marking=MarkingStatus.unmarked, exemption="机要通信, 经批准免于标识")
        exempt = held(3, marking=MarkingStatus.exempt, exemption="涉密")
        marked = held(4)
        sealed = held(5, marking=MarkingStatus.unmarked, status=VehicleStatus.sealed)
        found = list(checks.unmarked([bare, excused, exempt, marked, sealed]))
        assert sorted(f.plate or "" for f in found) == sorted([bare.plate, sealed.plate])
        assert all(f.vehicle_id in (bare.id, sealed.id) and f.evidence["marking"] == "unmarked" for f in found)


def test_naive_window_is_refused() -> None:
    # Refused before any query: an unbound session is never used.
    with pytest.raises(ValueError, match="timezone-aware"):
        findings(Session(), start=datetime(2026, 3, 1), end=datetime(2026, 4, 1))


def test_every_kind_has_its_check() -> None:
    assert {name for name in FindingKind} <= set(dir(checks)) | set(dir(track_checks))
