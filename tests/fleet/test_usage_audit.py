"""The usage audit end to end through the database: that ``findings(session, ...)`` loads the evidence the checks
read (trips in the window with their vehicles, status changes from the audit log, quotas, markings), scopes it by
agency, orders it, and keeps its evidence JSON. The rules themselves are in test_usage_audit_checks.py. These tests
run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, registry, vehicles
from fleet.clock import CHINA
from fleet.enums import AssignmentSource, Category, DisposalMethod, MarkingStatus, Priority, TripStatus, VehicleStatus
from fleet.models import Agency, Assignment, AuditRecord, Trip, Vehicle
from fleet.schemas import DisposalIn, QuotaIn
from fleet.usage_audit import TRACK_KINDS, AuditRules, Finding, FindingKind, default_rules, findings
from tests.factories import ADMIN, agency, jurisdiction_tree, registered
from tests.fleet.usage_audit_data import (
    CITY_HALL,
    FENCE,
    HOSPITAL,
    LAKE,
    MONDAY,
    SATURDAY,
    TRAVEL,
    YARD,
    local,
)

MONTH = (datetime(2026, 2, 1, tzinfo=CHINA), datetime(2026, 5, 1, tzinfo=CHINA))


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


# --- trips in the window ----------------------------------------------------------------------------------------


class TestTrips:
    def test_actual_and_assigned_times_but_not_withdrawn_trips(self, session: Session, ga: Agency) -> None:
        car = registered(session, "WH-GA")
        weekend = add_trip(session, ga, at=local(SATURDAY, 10))
        planned_evening = add_trip(session, ga, at=local(date(2026, 3, 11), 20), vehicle=car,
                                   status=TripStatus.assigned, started=False)
        cancelled = add_trip(session, ga, at=local(date(2026, 3, 12), 21), vehicle=car, active=False,
                             status=TripStatus.cancelled, started=False)
        refused = add_trip(session, ga, at=local(SATURDAY, 11), status=TripStatus.rejected, started=False)
        later = add_trip(session, ga, at=local(date(2026, 5, 2), 10))

        found = {f.trip_id: f for f in audit_of(session, kinds={FindingKind.off_hours})}

        assert set(found) == {weekend.id, planned_evening.id}
        assert {cancelled.id, refused.id, later.id}.isdisjoint(found)
        assert found[weekend.id].evidence["reasons"] == ["start_weekend", "end_weekend"]
        assert found[weekend.id].evidence["end_source"] == "actual"
        assert found[planned_evening.id].plate == car.plate
        assert found[planned_evening.id].evidence["start_source"] == "assigned"
        assert found[planned_evening.id].at == local(date(2026, 3, 11), 20)

    def test_drop_offs_and_requested_trips(self, session: Session, ga: Agency) -> None:
        rules = AuditRules(calendar=default_rules().calendar, geofences=(FENCE, LAKE))
        golf = add_trip(session, ga, at=local(SATURDAY, 9), dropoff=(FENCE.lat, FENCE.lon),
                        dropoff_address="东西湖区金银湖路")
        lake = add_trip(session, ga, at=local(MONDAY, 15), dropoff=(30.55, 114.42), status=TripStatus.requested,
                        started=False)
        refused = add_trip(session, ga, at=local(MONDAY, 16), dropoff=(30.55, 114.42), status=TripStatus.rejected,
                           started=False)
        found = {f.trip_id: f for f in audit_of(session, kinds={FindingKind.geofence}, rules=rules)}
        assert set(found) == {golf.id, lake.id}
        assert refused.id not in found
        assert found[golf.id].evidence["dropoff"]["address"] == "东西湖区金银湖路"
        assert found[lake.id].at == local(MONDAY, 15)

    def test_odometer_gap_reads_the_previous_trip_before_the_window_and_the_home_yard(
        self, session: Session, ga: Agency,
    ) -> None:
        car = registered(session, "WH-GA", home_lat=YARD[0], home_lon=YARD[1])
        first = add_trip(session, ga, at=local(date(2026, 1, 30), 9), vehicle=car, odometer=(500, 508))
        second = add_trip(session, ga, at=local(date(2026, 2, 2), 9), vehicle=car, odometer=(700, 708))
        found = audit_of(session, kinds={FindingKind.odometer_gap})
        assert [(f.evidence["previous_trip_id"], f.trip_id) for f in found] == [(first.id, second.id)]
        assert found[0].evidence["home"] == {"lat": YARD[0], "lon": YARD[1]}
        assert found[0].agency == "WH-GA"


# --- vehicle status from the audit log --------------------------------------------------------------------------


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


class TestStatusLog:
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

    def test_sealed_with_no_logged_change_is_sealed_throughout(self, session: Session, ga: Agency) -> None:
        car = registered(session, "WH-GA")
        car.status = VehicleStatus.sealed  # as a bulk import would leave it: no audit record
        trip = add_trip(session, ga, at=local(MONDAY, 10), vehicle=car)
        found = audit_of(session, kinds={FindingKind.unusable_vehicle})
        assert [(f.trip_id, f.evidence["audit_seq"], f.evidence["status_basis"]) for f in found] == [
            (trip.id, None, "current")]


# --- the fleet on the books -------------------------------------------------------------------------------------


class TestFleet:
    def test_over_quota_reads_the_current_quota(self, session: Session) -> None:
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

    def test_disposed_vehicles_do_not_count(self, session: Session) -> None:
        jurisdiction_tree(session)
        agency(session, "WH-A", quotas={Category.general: 3})
        cars = [registered(session, "WH-A") for _ in range(3)]
        vehicles.dispose(session, ADMIN, vehicle_id=cars[0].id,
                         data=DisposalIn(method=DisposalMethod.scrap, disposed_on=date(2026, 3, 1)))
        registry.set_quota(session, ADMIN, data=QuotaIn(agency="WH-A", category=Category.general, limit=2,
                                                        reason="编制 cut"))
        assert audit_of(session, kinds={FindingKind.over_quota}) == []

    def test_unmarked_reads_markings_and_exemptions(self, session: Session, ga: Agency) -> None:
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


# --- findings as a whole ----------------------------------------------------------------------------------------


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
        # no fixes here: the track rules' evidence is checked in test_usage_audit_tracks.py
        assert {f.kind for f in found} == set(FindingKind) - {FindingKind.over_quota} - set(TRACK_KINDS)
        for f in found:
            json.dumps(f.evidence, ensure_ascii=False, allow_nan=False)
            assert Finding.model_validate_json(f.model_dump_json()) == f

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
            audit.head(session)  # chains the records made above, as their commit would: findings' statements alone
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
