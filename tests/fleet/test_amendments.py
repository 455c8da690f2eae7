"""Edits of vehicles, drivers and agencies: partial, checked on the record as it would stand, audited from -> to."""

from __future__ import annotations

import signal
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fleet import amendments, audit, changes, clock, drivers, queries, registry, vehicles
from fleet.enums import Category, MarkingStatus
from fleet.errors import AlreadyExists, InvalidInput, InvalidState
from fleet.models import Agency, AuditRecord, Vehicle
from fleet.schemas import AgencyIn, AgencyPatch, DisposalIn, DriverIn, DriverPatch, VehiclePatch
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

TODAY = clock.today()


@pytest.fixture
def city(session: Session) -> Session:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 3})
    agency(session, "WH-CG", quotas={Category.general: 3})
    return session


def _last(session: Session) -> AuditRecord:
    record = session.scalar(sa.select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1))
    assert record is not None
    return record


def _patch(session: Session, vehicle: Vehicle, **fields: Any) -> Vehicle:
    return amendments.amend_vehicle(session, ADMIN, vehicle_id=vehicle.id, data=VehiclePatch.parse(fields))


class TestVehicle:
    def test_changed_fields_are_audited_from_and_to(self, city: Session) -> None:
        vehicle = registered(city, "WH-GA")
        _patch(city, vehicle, colour="白", terminal_id="013800138000", insurance_expires_on=TODAY.isoformat(),
               model="test model")  # the model is unchanged: not in the record
        record = _last(city)
        assert (record.action, record.entity_id) == ("vehicle.amended", str(vehicle.id))
        assert record.changes == {"colour": {"from": None, "to": "白"},
                                  "terminal_id": {"from": None, "to": "013800138000"},
                                  "insurance_expires_on": {"from": None, "to": TODAY.isoformat()}}
        assert (vehicle.colour, vehicle.terminal_id, vehicle.insurance_expires_on) == ("白", "013800138000", TODAY)
        assert audit.verify(city).ok

    def test_null_empties_and_an_unchanged_patch_writes_nothing(self, city: Session) -> None:
        vehicle = registered(city, "WH-GA")
        _patch(city, vehicle, colour="黑")
        _patch(city, vehicle, colour=None)
        assert vehicle.colour is None
        before = changes.head(city)
        _patch(city, vehicle, colour=None)
        assert changes.head(city) == before

    def test_an_exempt_vehicle_needs_its_reason_and_loses_it_when_marked(self, city: Session) -> None:
        vehicle = registered(city, "WH-GA")
        with pytest.raises(InvalidInput) as refused:
            _patch(city, vehicle, marking="exempt")
        assert refused.value.field == "marking_exemption"
        _patch(city, vehicle, marking="exempt", marking_exemption="机要通信, 保密需要")
        assert vehicle.marking is MarkingStatus.exempt
        _patch(city, vehicle, marking="marked")
        assert vehicle.marking_exemption is None
        assert _last(city).changes["marking_exemption"] == {"from": "机要通信, 保密需要", "to": None}
        with pytest.raises(InvalidInput):
            _patch(city, vehicle, marking_exemption="不需要")

    def test_a_terminal_fits_one_vehicle(self, city: Session) -> None:
        first, second = registered(city, "WH-GA"), registered(city, "WH-GA")
        _patch(city, first, terminal_id="13800138000")
        with pytest.raises(AlreadyExists) as refused:
            _patch(city, second, terminal_id="13800138000")
        assert refused.value.field == "terminal_id"
        _patch(city, first, terminal_id="13800138000")  # its own: no conflict

    @pytest.mark.parametrize(("fields", "field"), [
        ({"home_lat": 30.5}, "home_lon"),
        ({"inspected_on": (TODAY + timedelta(days=1)).isoformat()}, "inspected_on"),
        ({"serviced_on": "2000-01-01"}, "serviced_on"),
    ])
    def test_refusals_name_the_field(self, city: Session, fields: dict[str, Any], field: str) -> None:
        vehicle = registered(city, "WH-GA")
        before = changes.head(city)
        with pytest.raises(InvalidInput) as refused:
            _patch(city, vehicle, **fields)
        assert refused.value.field == field
        assert changes.head(city) == before

    @pytest.mark.parametrize(("body", "field"), [
        ({}, None), ({"plate": "鄂A00001"}, "plate"), ({"model": None}, "model"),
        ({"terminal_id": "12345678901234567890123"}, "terminal_id"), ({"terminal_id": "1380013800a"}, "terminal_id"),
        ({"service_interval_km": 0}, "service_interval_km"),
    ])
    def test_the_patch_schema(self, body: dict[str, Any], field: str | None) -> None:
        with pytest.raises(InvalidInput) as refused:
            VehiclePatch.parse(body)
        assert refused.value.field == field

    def test_a_disposed_vehicles_record_is_closed(self, city: Session) -> None:
        vehicle = registered(city, "WH-GA")
        vehicles.dispose(city, ADMIN, vehicle_id=vehicle.id, data=DisposalIn(method="scrap", disposed_on=TODAY))
        with pytest.raises(InvalidState):
            _patch(city, vehicle, colour="白")


class TestDriver:
    def test_licence_phone_shift_and_agency(self, city: Session) -> None:
        driver = drivers.add_driver(city, ADMIN, data=DriverIn(name="王", licence_class="C1", agency="WH-GA",
                                                               shift_start="08:00", shift_end="17:00"))
        amendments.amend_driver(city, ADMIN, driver_id=driver.id, data=DriverPatch.parse({
            "licence_class": "B1", "licence_no": "42010219800101123x", "licence_expires_on": "2031-05-01",
            "phone": "13800138000", "shift_end": "18:00", "agency": "WH-CG"}))
        assert driver.agency is not None
        assert (driver.licence_class, driver.licence_no, driver.agency.code) == ("B1", "42010219800101123X",
                                                                               "WH-CG")
        record = _last(city)
        assert record.changes["agency"] == {"from": "WH-GA", "to": "WH-CG"}
        assert record.changes["shift_end"] == {"from": "17:00:00", "to": "18:00:00"}
        amendments.amend_driver(city, ADMIN, driver_id=driver.id, data=DriverPatch.parse({"agency": None}))
        assert driver.agency is None
        assert audit.verify(city).ok

    def test_a_shift_keeps_its_length(self, city: Session) -> None:
        driver = drivers.add_driver(city, ADMIN, data=DriverIn(name="王", licence_class="C1", shift_start="08:00",
                                                               shift_end="17:00"))
        with pytest.raises(InvalidInput) as refused:
            amendments.amend_driver(city, ADMIN, driver_id=driver.id, data=DriverPatch.parse({"shift_end": "08:00"}))
        assert refused.value.field == "shift_end"


class TestAgency:
    def test_rename_and_reparent_but_never_under_itself(self, city: Session) -> None:
        registry.create_agency(city, ADMIN, data=AgencyIn(code="WH-GA-1", name="下属", jurisdiction="420100",
                                                          parent="WH-GA"))
        amendments.amend_agency(city, ADMIN, code="WH-GA", data=AgencyPatch.parse({"name": "公安局"}))
        assert queries.agency_by_code(city, "WH-GA").name == "公安局"
        with pytest.raises(InvalidInput) as refused:
            amendments.amend_agency(city, ADMIN, code="WH-GA", data=AgencyPatch.parse({"parent": "WH-GA-1"}))
        assert refused.value.field == "parent"
        amendments.amend_agency(city, ADMIN, code="WH-GA-1", data=AgencyPatch.parse({"parent": "WH-CG"}))
        assert _last(city).changes == {"parent": {"from": "WH-GA", "to": "WH-CG"}}

    def test_a_loop_left_in_the_tree_never_hangs_a_request(self, city: Session) -> None:
        # bad data (written before merges kept the tree sound): WH-GA and WH-CG each other's parent
        first, second = queries.agency_by_code(city, "WH-GA"), queries.agency_by_code(city, "WH-CG")
        city.execute(sa.update(Agency).where(Agency.id == first.id).values(parent_id=second.id))
        city.execute(sa.update(Agency).where(Agency.id == second.id).values(parent_id=first.id))
        city.expire_all()
        registry.create_agency(city, ADMIN, data=AgencyIn(code="WH-X", name="另一单位", jurisdiction="420100"))

        def hung(signum: int, frame: Any) -> None:
            raise TimeoutError("the ancestor walk went round the loop")

        previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(5)
        try:
            amendments.amend_agency(city, ADMIN, code="WH-X", data=AgencyPatch.parse({"parent": "WH-GA"}))
            with pytest.raises(InvalidInput):
                amendments.amend_agency(city, ADMIN, code="WH-GA", data=AgencyPatch.parse({"parent": "WH-X"}))
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 3)),
       st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 3)))
def test_diff_lists_exactly_the_fields_that_change(current: dict[str, int], wanted: dict[str, int]) -> None:
    current = {k: current.get(k, 0) for k in "abc"}
    found = amendments.diff(current, wanted)
    assert set(found) == {k for k, v in wanted.items() if current[k] != v}
    assert all(current[k] == c["from"] and wanted[k] == c["to"] for k, c in found.items())
