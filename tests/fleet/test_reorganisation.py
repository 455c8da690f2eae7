"""机构改革: merging and splitting agencies moves what they hold, under audit, and a dissolved agency takes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, bookings, changes, clock, drivers, plans, queries, reorganisation, reports, users, vehicles
from fleet.enums import Category, PlanStatus, Role, TripStatus, VehicleSource, VehicleStatus
from fleet.errors import AlreadyExists, Conflict, InvalidInput, InvalidState, NotFound, QuotaExceeded
from fleet.models import AuditRecord, Driver, Plan, Transfer, Trip, User, Vehicle
from fleet.schemas import DisposalIn, DriverIn, MergeIn, PlanIn, SplitIn, TransferIn, TripIn
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

TODAY = clock.today()


def trip_in(**overrides: Any) -> TripIn:
    start = clock.now() + timedelta(days=2)
    body: dict[str, Any] = {
        "purpose": "执法检查", "priority": "law_enforcement", "passengers": 1,
        "pickup": {"lat": 30.59, "lon": 114.30, "address": "江岸区"},
        "dropoff": {"lat": 30.62, "lon": 114.33, "address": "黄陂区"},
        "earliest_pickup": start.isoformat(), "latest_pickup": (start + timedelta(minutes=30)).isoformat(),
    }
    return TripIn.parse(body | overrides)


@pytest.fixture
def two(session: Session) -> Session:
    """WH-GA (3 general, 1 law enforcement held; a driver, a requester, an open and a completed trip) and WH-CG."""
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 4, Category.law_enforcement: 2})
    agency(session, "WH-CG", quotas={Category.general: 1})
    for _ in range(3):
        registered(session, "WH-GA")
    registered(session, "WH-GA", category=Category.law_enforcement)
    registered(session, "WH-CG")
    drivers.add_driver(session, ADMIN, data=DriverIn(name="张师傅", licence_class="C1", agency="WH-GA",
                                                     shift_start="08:00", shift_end="18:00"))
    users.add_user(session, ADMIN, name="req-ga", role=Role.requester, agency="WH-GA")
    bookings.book(session, ADMIN, agency="WH-GA", data=trip_in())
    done, _ = bookings.book(session, ADMIN, agency="WH-GA", data=trip_in(purpose="已完成的出行"))
    done.status = TripStatus.completed  # history: stays where it happened
    audit.record(session, ADMIN, "trip.test_completed", done, {"status": "completed"})
    return session


def _quota(session: Session, code: str, category: Category) -> int:
    return queries.quota_limit(session, queries.agency_by_code(session, code).id, category)


def _held(session: Session, code: str) -> list[str]:
    holder = queries.agency_by_code(session, code)
    return sorted(v.plate for v in queries.vehicles_touching(session, [holder.id])
                  if v.agency_id == holder.id and v.status is not VehicleStatus.disposed)


class TestMerge:
    def test_everything_open_moves_and_history_stays(self, two: Session) -> None:
        session = two
        plates = _held(session, "WH-GA")
        done = reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY,
                                                                               reason="机构改革 合并"))
        source, target = queries.agency_by_code(session, "WH-GA"), queries.agency_by_code(session, "WH-CG")
        assert (source.dissolved_on, source.successor) == (TODAY, target)
        assert _held(session, "WH-GA") == []
        assert set(plates) < set(_held(session, "WH-CG"))
        assert done.vehicles == {"WH-CG": plates}
        # quotas summed per category; the source keeps none
        assert _quota(session, "WH-CG", Category.general) == 5
        assert _quota(session, "WH-CG", Category.law_enforcement) == 2
        assert _quota(session, "WH-GA", Category.general) == 0
        assert done.quotas == {"WH-CG": {"general": 5, "law_enforcement": 2}}
        # drivers, users and the open trip moved; the completed trip stayed
        assert {d.agency_id for d in session.scalars(sa.select(Driver))} == {target.id}
        assert session.scalar(sa.select(User.agency_id).where(User.name == "req-ga")) == target.id
        trips = {t.purpose: t.agency_id for t in session.scalars(sa.select(Trip))}
        assert trips == {"执法检查": target.id, "已完成的出行": source.id}
        # each vehicle's move is a transfer dated on the merge day, so reports place it where it was
        assert session.scalar(sa.select(sa.func.count()).select_from(Transfer)) == len(plates)
        assert queries.holders_on(session, {queries.vehicle_by_plate(session, plates[0]):
                                            TODAY - timedelta(days=1)}).popitem()[1] == source.id
        assert audit.verify(session).ok

    def test_each_move_is_audited_and_summarised(self, two: Session) -> None:
        session = two
        before = changes.head(session)
        reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY, reason="合并"))
        records = session.scalars(sa.select(AuditRecord).where(AuditRecord.seq > before)
                                  .order_by(AuditRecord.seq)).all()
        actions = [r.action for r in records]
        assert actions.count("vehicle.transferred") == 4
        assert {"quota.changed", "driver.reassigned", "user.reassigned", "trip.reassigned"} <= set(actions)
        summary = records[-1]
        assert (summary.action, summary.entity) == ("agency.merged", "agency")
        assert summary.changes["into"] == "WH-CG"
        assert len(summary.changes["vehicles"]["WH-CG"]) == 4

    def test_a_dissolved_agency_books_holds_and_receives_nothing(self, two: Session) -> None:
        session = two
        reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY, reason="合并"))
        with pytest.raises(InvalidState, match="dissolved") as booked:
            bookings.book(session, ADMIN, agency="WH-GA", data=trip_in())
        assert booked.value.context["successor"] == "WH-CG"
        with pytest.raises(InvalidState, match="successor WH-CG"):
            registered(session, "WH-GA")
        moved = queries.vehicle_by_plate(session, _held(session, "WH-CG")[0])
        with pytest.raises(InvalidState) as received:
            vehicles.transfer(session, ADMIN, vehicle_id=moved.id, data=TransferIn(
                to_agency="WH-GA", transferred_on=TODAY, reason="调剂"))
        assert received.value.field == "to_agency"
        with pytest.raises(InvalidState):
            drivers.add_driver(session, ADMIN, data=DriverIn(name="李", licence_class="C1", agency="WH-GA",
                                                             shift_start="08:00", shift_end="17:00"))
        with pytest.raises(InvalidState):
            reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY, reason="再并"))

    @pytest.mark.parametrize(("into", "on", "error", "field"), [
        ("WH-GA", TODAY, InvalidInput, "into"),
        ("NOPE", TODAY, NotFound, "into"),
        ("WH-CG", TODAY + timedelta(days=1), InvalidInput, "on"),
        ("WH-CG", date(2000, 1, 1), InvalidInput, "on"),  # before the vehicles were acquired
    ])
    def test_refusals_leave_nothing(self, two: Session, into: str, on: date, error: type[Exception],
                                    field: str) -> None:
        session = two
        before = changes.head(session)
        with pytest.raises(error) as refused:
            reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into=into, on=on, reason="合并"))
        assert getattr(refused.value, "field", None) == field
        assert changes.head(session) == before
        assert queries.agency_by_code(session, "WH-GA").dissolved_on is None
        assert len(_held(session, "WH-GA")) == 4

    def test_a_merge_dated_before_the_platform_went_live_or_a_vehicles_last_transfer_is_refused(
            self, two: Session) -> None:
        """Dated back, a merge would rewrite the years already reported (the successor's annual report), or put a
        vehicle with its new holder before it reached its last one."""
        session = two
        ga = queries.agency_by_code(session, "WH-GA")
        ga.jurisdiction.live_on = TODAY - timedelta(days=30)
        before = changes.head(session)
        for on, cause in ((TODAY - timedelta(days=31), "went live"), (TODAY - timedelta(days=10), "last transferred")):
            if cause == "last transferred":
                plate = _held(session, "WH-GA")[0]
                vehicle = session.scalar(sa.select(Vehicle).where(Vehicle.plate == plate))
                session.add(Transfer(vehicle_id=vehicle.id, from_agency_id=ga.id, to_agency_id=ga.id,
                                     transferred_on=TODAY - timedelta(days=5), reason="调剂"))
                session.flush()
                before = changes.head(session)
            with pytest.raises(InvalidInput, match=cause) as refused:
                reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=on, reason="合并"))
            assert refused.value.field == "on"
            assert changes.head(session) == before
            assert queries.agency_by_code(session, "WH-GA").dissolved_on is None
        done = reorganisation.merge(session, ADMIN, code="WH-GA",
                                    data=MergeIn(into="WH-CG", on=TODAY - timedelta(days=5), reason="合并"))
        assert done.vehicles["WH-CG"]

    def test_into_another_jurisdiction(self, two: Session) -> None:
        agency(two, "JA-X", jurisdiction="420102")
        done = reorganisation.merge(two, ADMIN, code="WH-GA", data=MergeIn(into="JA-X", on=TODAY, reason="合并"))
        assert len(done.vehicles["JA-X"]) == 4
        assert audit.verify(two).ok

    def test_an_unfinished_plan_moves_and_the_successors_report_covers_the_predecessor(self, two: Session) -> None:
        session = two
        plan = plans.create_plan(session, ADMIN, data=PlanIn.parse({
            "agency": "WH-GA", "year": TODAY.year, "lines": [{"kind": "new", "category": "general",
                                                             "powertrain": "bev", "count": 1,
                                                             "unit_price_cny": "150000"}]}))
        disposed = queries.vehicle_by_plate(session, _held(session, "WH-GA")[0])
        vehicles.dispose(session, ADMIN, vehicle_id=disposed.id, data=DisposalIn(
            method="auction", disposed_on=TODAY, proceeds_cny="1000"))
        done = reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY,
                                                                               reason="合并"))
        assert done.plans == [plan.id]
        assert session.get(Plan, plan.id).agency.code == "WH-CG"  # type: ignore[union-attr]
        assert session.get(Plan, plan.id).status is PlanStatus.draft  # type: ignore[union-attr]
        assert disposed.agency.code == "WH-GA"  # a disposed vehicle is history
        report = reports.annual_report(session, year=TODAY.year, agency="WH-CG")
        table = report.table("quota_use")
        agencies = {row[table.columns.index("agency")] for row in table.rows}
        assert {"WH-GA", "WH-CG"} <= agencies

    def test_sub_agencies_move_under_the_successor(self, two: Session) -> None:
        from fleet import registry
        from fleet.schemas import AgencyIn

        registry.create_agency(two, ADMIN, data=AgencyIn(code="WH-GA-1", name="下属", jurisdiction="420100",
                                                         parent="WH-GA"))
        done = reorganisation.merge(two, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY, reason="合并"))
        assert done.agencies == ["WH-GA-1"]
        assert queries.agency_by_code(two, "WH-GA-1").parent.code == "WH-CG"  # type: ignore[union-attr]
        assert audit.verify(two).ok

    def test_a_rented_trip_moves_with_the_open_ones(self, two: Session) -> None:
        session = two
        rented, _ = bookings.book(session, ADMIN, agency="WH-GA", data=trip_in(purpose="转租赁的出行"))
        rented.status = TripStatus.rented
        audit.record(session, ADMIN, "trip.test_rented", rented, {"status": "rented"})
        done = reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY, reason="合并"))
        assert rented.id in done.trips
        assert rented.agency.code == "WH-CG"

    def test_a_summed_quota_past_the_bound_is_refused(self, two: Session) -> None:
        session = two
        agency(session, "WH-BIG", quotas={Category.general: reorganisation.QUOTA_BOUND})
        before = changes.head(session)
        with pytest.raises(Conflict) as refused:
            reorganisation.merge(session, ADMIN, code="WH-GA", data=MergeIn(into="WH-BIG", on=TODAY, reason="合并"))
        assert refused.value.status == 409
        assert refused.value.field == "into"
        assert refused.value.context["category"] == "general"
        assert changes.head(session) == before
        assert len(_held(session, "WH-GA")) == 4

    def test_into_a_grandchild_leaves_no_loop(self, two: Session) -> None:
        # WH-GA <- WH-GA-1 <- WH-GA-2: merging WH-GA into its grandchild puts the grandchild in WH-GA's place and its
        # former parent under it, never the grandchild under its own sub-agency
        from fleet import amendments, registry
        from fleet.schemas import AgencyIn, AgencyPatch

        registry.create_agency(two, ADMIN, data=AgencyIn(code="WH-ROOT", name="上级", jurisdiction="420100"))
        amendments.amend_agency(two, ADMIN, code="WH-GA", data=AgencyPatch.parse({"parent": "WH-ROOT"}))
        registry.create_agency(two, ADMIN, data=AgencyIn(code="WH-GA-1", name="下属", jurisdiction="420100",
                                                         parent="WH-GA"))
        registry.create_agency(two, ADMIN, data=AgencyIn(code="WH-GA-2", name="再下属", jurisdiction="420100",
                                                         parent="WH-GA-1"))
        done = reorganisation.merge(two, ADMIN, code="WH-GA", data=MergeIn(into="WH-GA-2", on=TODAY, reason="合并"))
        grandchild, child = queries.agency_by_code(two, "WH-GA-2"), queries.agency_by_code(two, "WH-GA-1")
        assert grandchild.parent.code == "WH-ROOT"  # type: ignore[union-attr]
        assert child.parent.code == "WH-GA-2"  # type: ignore[union-attr]
        assert done.agencies == ["WH-GA-1"]
        # the tree has no loop: moving the grandchild again finishes and refuses a move under its own sub-agency
        with pytest.raises(InvalidInput) as refused:
            amendments.amend_agency(two, ADMIN, code="WH-GA-2", data=AgencyPatch.parse({"parent": "WH-GA-1"}))
        assert refused.value.field == "parent"
        assert audit.verify(two).ok


class TestSplit:
    def _split(self, session: Session, **part: Any) -> reorganisation.Reorganised:
        body = {"code": "WH-GA-N", "name": "新设单位", "vehicles": _held(session, "WH-GA")[:2],
                "quotas": {"general": 2}} | part
        return reorganisation.split(session, ADMIN, code="WH-GA", data=SplitIn.parse({
            "into": [body], "on": TODAY.isoformat(), "reason": "机构改革 分设"}))

    def test_parts_take_their_vehicles_and_quota(self, two: Session) -> None:
        session = two
        plates = _held(session, "WH-GA")
        general = [p for p in plates if queries.vehicle_by_plate(session, p).category is Category.general]
        done = self._split(session, vehicles=general[:2])
        created = queries.agency_by_code(session, "WH-GA-N")
        assert created.jurisdiction.code == "420100"
        assert _held(session, "WH-GA-N") == sorted(general[:2])
        assert len(_held(session, "WH-GA")) == 2
        assert _quota(session, "WH-GA-N", Category.general) == 2
        assert _quota(session, "WH-GA", Category.general) == 2
        assert queries.agency_by_code(session, "WH-GA").dissolved_on is None  # the source continues
        assert [a.code for a in done.receivers] == ["WH-GA-N"]
        assert audit.verify(session).ok

    def test_quota_parts_may_not_exceed_the_source(self, two: Session) -> None:
        with pytest.raises(QuotaExceeded) as refused:
            self._split(two, vehicles=[], quotas={"general": 5})
        assert refused.value.field == "into"
        assert queries.agency_by_code(two, "WH-GA").code == "WH-GA"
        with pytest.raises(NotFound):
            queries.agency_by_code(two, "WH-GA-N")

    def test_a_part_holds_its_vehicles_within_its_quota(self, two: Session) -> None:
        general = [p for p in _held(two, "WH-GA") if queries.vehicle_by_plate(two, p).category is Category.general]
        with pytest.raises(QuotaExceeded) as refused:
            self._split(two, vehicles=general[:2], quotas={"general": 1})
        assert refused.value.field == "into.0.quotas"

    def test_the_source_keeps_its_rest_within_what_is_left(self, two: Session) -> None:
        # three general vehicles stay, but the part would leave only one of four general places
        with pytest.raises(QuotaExceeded, match="keep 3"):
            self._split(two, vehicles=[], quotas={"general": 3})

    def test_rental_cars_count_against_no_quota(self, two: Session) -> None:
        # one of WH-GA's three general vehicles is a rental car (hired, not held): 编制 counts two
        general = [p for p in _held(two, "WH-GA") if queries.vehicle_by_plate(two, p).category is Category.general]
        queries.vehicle_by_plate(two, general[0]).source = VehicleSource.rental
        # the part takes the rental car and one held vehicle with a quota of one
        self._split(two, vehicles=general[:2], quotas={"general": 1})
        assert _held(two, "WH-GA-N") == sorted(general[:2])
        # the source keeps one held general vehicle and may give the next part all but one of its three places
        reorganisation.split(two, ADMIN, code="WH-GA", data=SplitIn.parse({
            "into": [{"code": "WH-GA-M", "name": "又一新设单位", "quotas": {"general": 2}}],
            "on": TODAY.isoformat(), "reason": "机构改革 分设"}))
        assert _quota(two, "WH-GA", Category.general) == 1

    def test_only_the_sources_vehicles(self, two: Session) -> None:
        theirs = _held(two, "WH-CG")[0]
        with pytest.raises(InvalidInput) as refused:
            self._split(two, vehicles=[theirs])
        assert refused.value.field == "into.0.vehicles"

    def test_an_existing_code_is_refused(self, two: Session) -> None:
        with pytest.raises(AlreadyExists) as refused:
            self._split(two, code="WH-CG")
        assert refused.value.field == "into.0.code"

    def test_a_plate_in_two_parts_is_refused_by_the_schema(self) -> None:
        with pytest.raises(InvalidInput) as refused:
            SplitIn.parse({"into": [{"code": "A", "name": "a", "vehicles": ["鄂A00001"]},
                                    {"code": "B", "name": "b", "vehicles": ["鄂A 00001"]}],
                           "on": "2026-01-01", "reason": "分设"})
        assert refused.value.field == "into.1.vehicles"


def test_lineage_follows_successors(two: Session) -> None:
    agency(two, "WH-X")
    reorganisation.merge(two, ADMIN, code="WH-X", data=MergeIn(into="WH-GA", on=TODAY, reason="合并"))
    reorganisation.merge(two, ADMIN, code="WH-GA", data=MergeIn(into="WH-CG", on=TODAY, reason="合并"))
    ids = {queries.agency_by_code(two, c).id for c in ("WH-X", "WH-GA", "WH-CG")}
    assert set(reorganisation.lineage_ids(two, queries.agency_by_code(two, "WH-CG").id)) == ids
