"""The booking service's rules of "now" and of approval (issue 14), as properties of `fleet.bookings`: a time is
taken as live only within the grace before now and the skew after it; older is a dispatcher's back-fill with its
reason, never before the vehicle was acquired, never in the future; an approval skips the agency's approver only
with a dispatcher's recorded basis."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fleet import backfill, bookings, clock, queries
from fleet.audit import Actor
from fleet.enums import Category, Role, TripStatus
from fleet.errors import InvalidInput, NotPermitted
from fleet.models import AuditRecord, Trip, Vehicle
from fleet.schemas import OdometerIn, TripIn
from fleet.settings import get_settings
from tests.factories import ADMIN, agency, jurisdiction_tree

NOW = datetime(2030, 3, 12, 2, 0, tzinfo=UTC)  # 10:00 in China
DISPATCHER, DRIVER = Actor("desk", Role.dispatcher.value), Actor("wang", Role.driver.value)
APPROVER = Actor("li", Role.approver.value)
REASON = "驾驶员手机没电，按派车单补录"


def window() -> backfill.NowWindow:
    with clock.travel(NOW, tick=False):
        return backfill.now_window()


def vehicle(acquired_on: date = date(2029, 6, 1)) -> Vehicle:
    return Vehicle(plate="鄂A12345", acquired_on=acquired_on)


@given(minutes=st.integers(-90 * 24 * 60, 90 * 24 * 60))
def test_a_time_without_a_reason_is_taken_only_within_the_grace_and_the_skew(minutes: int) -> None:
    settings = get_settings()
    at = NOW + timedelta(minutes=minutes)
    live = -settings.clock_grace_minutes <= minutes <= settings.clock_skew_minutes
    for actor in (DRIVER, DISPATCHER):
        if live:
            assert bookings.driven_at(actor, OdometerIn(odometer_km=1, at=at), vehicle(), window()) == at
        else:
            with pytest.raises(InvalidInput) as refused:
                bookings.driven_at(actor, OdometerIn(odometer_km=1, at=at), vehicle(), window())
            assert refused.value.field == "at"


@given(minutes=st.integers(-400 * 24 * 60, 60), acquired_days_ago=st.integers(0, 300))
def test_a_back_fill_is_a_dispatchers_never_before_acquisition_nor_in_the_future(
        minutes: int, acquired_days_ago: int) -> None:
    at = NOW + timedelta(minutes=minutes)
    held = vehicle(clock.local_date(NOW) - timedelta(days=acquired_days_ago))
    data = OdometerIn(odometer_km=1, at=at, backfill_reason=REASON)
    with pytest.raises(NotPermitted):
        bookings.driven_at(DRIVER, data, held, window())
    settings = get_settings()
    future = minutes > settings.clock_skew_minutes
    live = -settings.clock_grace_minutes <= minutes <= settings.clock_skew_minutes
    before = clock.local_date(at) < held.acquired_on
    if future or live or before:
        with pytest.raises(InvalidInput) as refused:
            bookings.driven_at(DISPATCHER, data, held, window())
        # a live time needs no back-fill: its reason would record a 补录 that never was
        assert refused.value.field == ("backfill_reason" if live else "at")
    else:
        assert bookings.driven_at(DISPATCHER, data, held, window()) == at


@given(days_after=st.integers(-30, 8), hour=st.integers(0, 23))  # back-fills: all before now
def test_even_a_back_fill_is_never_after_the_day_the_vehicle_was_disposed_of(days_after: int, hour: int) -> None:
    disposed_on = clock.local_date(NOW) - timedelta(days=10)
    held = vehicle()
    held.disposed_on = disposed_on
    at = clock.local_moment(disposed_on + timedelta(days=days_after)) + timedelta(hours=hour)
    data = OdometerIn(odometer_km=1, at=at, backfill_reason=REASON)
    if days_after > 0:
        with pytest.raises(InvalidInput) as refused:
            bookings.driven_at(DISPATCHER, data, held, window())
        assert refused.value.field == "at"
        assert "disposed" in str(refused.value)
    else:  # up to the end of the disposal day
        assert bookings.driven_at(DISPATCHER, data, held, window()) == at


def pickup_window(start: datetime, *, started: bool = False) -> Trip:
    return Trip(id=7, earliest_pickup=start, latest_pickup=start + timedelta(minutes=30),
                started_at=start if started else None)


@given(hours=st.integers(-72, 72))
def test_a_back_fill_lies_within_a_day_of_the_trips_pickup_window(hours: int) -> None:
    """A start back-filled more than a day before the earliest pickup or more than a day after the latest one, or a
    completion more than a day before the earliest pickup, is refused naming at; the trip is 09:00-09:30 three days
    ago."""
    pickup = clock.local_moment(clock.local_date(NOW) - timedelta(days=3), time(9))
    at = pickup + timedelta(hours=hours)
    if at >= NOW - timedelta(hours=1):  # keep to back-fills, well before now
        return
    data = OdometerIn(odometer_km=1, at=at, backfill_reason=REASON)
    early = at < pickup - backfill.REACH
    late = at > pickup + timedelta(minutes=30) + backfill.REACH
    for started, refused_when in ((False, early or late), (True, early)):
        if refused_when:
            with pytest.raises(InvalidInput) as refused:
                bookings.driven_at(DISPATCHER, data, vehicle(), window(), pickup_window(pickup, started=started))
            assert refused.value.field == "at"
        else:
            assert bookings.driven_at(DISPATCHER, data, vehicle(), window(),
                                      pickup_window(pickup, started=started)) == at


def test_a_live_time_is_not_bound_to_the_pickup_window() -> None:
    """Only back-fills are held to the window: a live start of a trip booked for next week is taken as now."""
    booked = pickup_window(NOW + timedelta(days=7))
    assert bookings.driven_at(DRIVER, OdometerIn(odometer_km=1), vehicle(), window(), booked) == NOW


def test_no_time_given_is_now() -> None:
    assert bookings.driven_at(DRIVER, OdometerIn(odometer_km=1), vehicle(), window()) == NOW


def test_the_grace_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGCHE_CLOCK_GRACE_MINUTES", "60")
    get_settings.cache_clear()
    try:
        at = NOW - timedelta(minutes=45)
        assert bookings.driven_at(DRIVER, OdometerIn(odometer_km=1, at=at), vehicle(), window()) == at
    finally:
        get_settings.cache_clear()


def trip_in(**extra: object) -> TripIn:
    start = NOW + timedelta(hours=2)
    return TripIn.model_validate({
        "purpose": "执法检查", "priority": "law_enforcement",
        "pickup": {"lat": 30.6, "lon": 114.3, "address": "甲"},
        "dropoff": {"lat": 30.62, "lon": 114.32, "address": "乙"},
        "earliest_pickup": start.isoformat(), "latest_pickup": (start + timedelta(minutes=30)).isoformat(), **extra})


class TestBooking:
    @pytest.fixture
    def desk(self, session: Session) -> Session:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.law_enforcement: 1})
        return session

    def test_a_dispatchers_booking_waits_unless_the_approval_basis_is_recorded(self, desk: Session) -> None:
        with clock.travel(NOW):
            waiting, _ = bookings.book(desk, DISPATCHER, agency="WH-GA", data=trip_in())
            phoned, _ = bookings.book(desk, DISPATCHER, agency="WH-GA", data=trip_in(approval_basis="电话同意"))
        assert (waiting.status, waiting.approval_basis) == (TripStatus.requested, None)
        assert (phoned.status, phoned.approval_basis) == (TripStatus.approved, "电话同意")

    @pytest.mark.parametrize("role", [Role.requester, Role.approver, Role.admin])
    def test_only_a_dispatcher_records_an_approval_basis(self, desk: Session, role: Role) -> None:
        with clock.travel(NOW), pytest.raises(NotPermitted) as refused:
            bookings.book(desk, Actor("someone", role.value), agency="WH-GA", data=trip_in(approval_basis="同意"))
        assert refused.value.field == "approval_basis"

    def test_a_past_pickup_is_a_dispatchers_back_fill(self, desk: Session) -> None:
        later = NOW + timedelta(hours=4)
        with clock.travel(later), pytest.raises(InvalidInput) as refused:
            bookings.book(desk, ADMIN, agency="WH-GA", data=trip_in())
        assert refused.value.field == "latest_pickup"
        with clock.travel(later):
            booked, _ = bookings.book(desk, DISPATCHER, agency="WH-GA", data=trip_in(backfill_reason=REASON))
        assert booked.backfill_reason == REASON

    def test_an_emergency_states_its_reason(self, desk: Session) -> None:
        with clock.travel(NOW), pytest.raises(InvalidInput) as refused:
            bookings.book(desk, DISPATCHER, agency="WH-GA", data=trip_in(priority="emergency"))
        assert refused.value.field == "priority_reason"

    def test_approving_goes_through_approve_which_places_emergencies(self, desk: Session) -> None:
        with clock.travel(NOW):
            booked, _ = bookings.book(desk, ADMIN, agency="WH-GA", data=trip_in())
        with pytest.raises(ValueError, match=r"bookings\.approve"):
            bookings.decide(desk, ADMIN, trip_id=booked.id, decision="approve")

    def test_a_back_fill_reason_for_a_pickup_still_to_come_is_refused(self, desk: Session) -> None:
        with clock.travel(NOW), pytest.raises(InvalidInput) as refused:
            bookings.book(desk, DISPATCHER, agency="WH-GA", data=trip_in(backfill_reason=REASON))
        assert refused.value.field == "backfill_reason"


def audited(session: Session, trip_id: int, action: str) -> dict[str, object]:
    record = session.scalars(sa.select(AuditRecord).where(
        AuditRecord.entity == "trip", AuditRecord.entity_id == str(trip_id), AuditRecord.action == action)).one()
    return record.changes


class TestApproving:
    """Approval is the agency's approver's, or a dispatcher's on a recorded basis; never of a trip gone by."""

    @pytest.fixture
    def desk(self, session: Session) -> Session:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.law_enforcement: 1})
        return session

    def requested(self, session: Session, **extra: object) -> int:
        with clock.travel(NOW):
            booked, _ = bookings.book(session, DISPATCHER, agency="WH-GA", data=trip_in(**extra))
        assert booked.status is TripStatus.requested
        return booked.id

    def approve(self, session: Session, actor: Actor, trip_id: int, note: str | None = None,
                when: datetime = NOW) -> TripStatus:
        with clock.travel(when):
            approved = bookings.approve(session, actor, trip_id=trip_id, engine=session.get_bind().engine, note=note)
        return approved.trip.status

    def test_a_dispatcher_does_not_approve_without_the_basis(self, desk: Session) -> None:
        """The walk-around: book without approval_basis (so it waits), then approve it oneself."""
        trip_id = self.requested(desk)
        for note in (None, "好"):
            with pytest.raises(InvalidInput) as refused:
                self.approve(desk, DISPATCHER, trip_id, note)
            assert refused.value.field == "note"
        assert self.approve(desk, DISPATCHER, trip_id, "王处长电话同意") is TripStatus.approved
        trip = queries.trip(desk, trip_id)
        assert (trip.approval_basis, trip.decision_note) == ("王处长电话同意", "王处长电话同意")
        assert audited(desk, trip_id, "trip.approved")["approval_basis"] == "王处长电话同意"

    def test_the_agencys_approver_approves_as_it_is(self, desk: Session) -> None:
        trip_id = self.requested(desk)
        assert self.approve(desk, APPROVER, trip_id) is TripStatus.approved
        assert queries.trip(desk, trip_id).approval_basis is None
        assert "approval_basis" not in audited(desk, trip_id, "trip.approved")

    @pytest.mark.parametrize("role", [Role.requester, Role.admin, Role.driver, Role.supervisor])
    def test_no_one_else_approves(self, desk: Session, role: Role) -> None:
        trip_id = self.requested(desk)
        with pytest.raises(NotPermitted):
            self.approve(desk, Actor("someone", role.value), trip_id, "同意")

    def test_a_trip_whose_pickup_window_is_over_is_not_approved(self, desk: Session) -> None:
        trip_id = self.requested(desk)  # 12:00-12:30
        with pytest.raises(InvalidInput) as refused:
            self.approve(desk, APPROVER, trip_id, when=NOW + timedelta(hours=3))
        assert refused.value.field == "latest_pickup"
        grace = timedelta(minutes=get_settings().clock_grace_minutes)
        assert self.approve(desk, APPROVER, trip_id, when=NOW + timedelta(hours=2, minutes=29) + grace
                            ) is TripStatus.approved

    def test_a_back_filled_booking_is_approved_after_the_fact(self, desk: Session) -> None:
        with clock.travel(NOW + timedelta(hours=6)):
            booked, _ = bookings.book(desk, DISPATCHER, agency="WH-GA", data=trip_in(backfill_reason=REASON))
        assert self.approve(desk, APPROVER, booked.id, when=NOW + timedelta(hours=7)) is TripStatus.approved
