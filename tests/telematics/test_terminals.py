"""Terminal registration (0x0100's result codes), authentication and deregistration, and OsmAnd bindings: on SQLite
and PostgreSQL, each change audited."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import terminals, vehicles
from fleet.clock import today as china_today  # China's date: after 16:00 UTC it is already tomorrow
from fleet.enums import DisposalMethod
from fleet.models import AuditRecord, Terminal
from fleet.schemas import DisposalIn
from fleet.terminals import RegisterOutcome
from tests.factories import ADMIN
from tests.telematics.fleet_of import fleet_of


def _register(session: Session, phone: str, plate: str = "", colour: int = 1, version: int | None = None,
              authenticated: bool = False) -> tuple[RegisterOutcome, str | None, int | None]:
    return terminals.register(session, phone=phone, version=version, province=42, city=100, maker="MK",
                              model="M1", device_no="D1", plate_colour=colour, plate=plate,
                              authenticated=authenticated)


def test_bound_by_the_registry_number_with_leading_zeros_stripped(session: Session) -> None:
    car, = fleet_of(session, ["13912345678"])
    result, code, vehicle_id = _register(session, "013912345678")  # a 2013 header's 12 digits
    assert (result, vehicle_id) == (RegisterOutcome.OK, car.id)
    assert code
    assert code.isascii()
    row = session.scalars(sa.select(Terminal)).one()
    assert row.phone == "13912345678"
    assert row.auth_digest == terminals.digest(code)
    assert code not in row.auth_digest
    assert terminals.authenticate(session, phone="00000000013912345678", code=code) == car.id  # 2019: 20 digits
    assert terminals.authenticate(session, phone="13912345678", code=code + "x") is None
    logged = session.scalars(sa.select(AuditRecord).where(AuditRecord.entity == "terminal")).one()
    assert logged.action == "terminal.registered"
    assert code not in str(logged.changes)


def test_bound_by_plate_or_vin(session: Session) -> None:
    car, unplated = fleet_of(session, [None, None])
    assert _register(session, "1001", plate=car.plate)[0] == RegisterOutcome.OK
    assert _register(session, "1002", plate=unplated.vin, colour=0)[2] == unplated.id


def test_result_codes(session: Session) -> None:
    a, b, c = fleet_of(session, ["500", None, None])
    assert _register(session, "999", plate="鄂Z99999")[0] == RegisterOutcome.NO_VEHICLE
    assert _register(session, "501", plate=a.plate)[0] == RegisterOutcome.NO_TERMINAL  # the registry says 500
    assert _register(session, "600", plate=b.plate)[0] == RegisterOutcome.OK
    assert _register(session, "601", plate=b.plate)[0] == RegisterOutcome.VEHICLE_TAKEN
    assert _register(session, "600", plate=c.plate)[0] == RegisterOutcome.TERMINAL_TAKEN
    # Again, same vehicle: refused to anyone but the terminal's own authenticated session, which gets a new code.
    assert _register(session, "600", plate=b.plate)[0] == RegisterOutcome.TERMINAL_TAKEN
    first = _register(session, "600", plate=b.plate, authenticated=True)
    assert first[0] == RegisterOutcome.OK
    second = _register(session, "600", plate=b.plate, authenticated=True)
    assert second[1] != first[1]
    assert terminals.authenticate(session, phone="600", code=first[1] or "") is None
    assert terminals.authenticate(session, phone="600", code=second[1] or "") == b.id
    # Deregistered (0x0003): the code stops working, and the vehicle may take another terminal.
    assert terminals.deregister(session, phone="600")
    assert not terminals.deregister(session, phone="600")
    assert terminals.authenticate(session, phone="600", code=second[1] or "") is None
    assert _register(session, "601", plate=b.plate)[0] == RegisterOutcome.OK
    actions = session.scalars(sa.select(AuditRecord.action).where(AuditRecord.entity == "terminal")).all()
    assert actions.count("terminal.deregistered") == 1
    assert actions.count("terminal.registered") == 4


def test_a_disposed_vehicle_is_no_vehicle(session: Session) -> None:
    car, = fleet_of(session, ["700"])
    vehicles.dispose(session, ADMIN, vehicle_id=car.id, data=DisposalIn(
        method=DisposalMethod.scrap, disposed_on=china_today()))
    assert _register(session, "700")[0] == RegisterOutcome.NO_VEHICLE
    assert terminals.osmand_vehicle(session, "700") is None
    assert "700" not in terminals.bindings(session)


def test_osmand_bindings(session: Session) -> None:
    car, other = fleet_of(session, ["0042", "43"])
    assert terminals.osmand_vehicle(session, "42") == car.id
    assert terminals.osmand_vehicle(session, "00043") == other.id
    assert terminals.osmand_vehicle(session, "phone-x") is None
    assert terminals.bindings(session) == {"42": car.id, "43": other.id}


def test_osmand_never_speaks_for_a_jt808_vehicle(session: Session) -> None:
    """A vehicle with an active JT/T 808 terminal takes positions from that authenticated terminal only; once the
    terminal is deregistered the number may report over OsmAnd again."""
    jt, phone = fleet_of(session, ["13912345678", "88001"])
    assert _register(session, "013912345678")[0] == RegisterOutcome.OK
    assert terminals.osmand_vehicle(session, "13912345678") is None
    assert terminals.osmand_vehicle(session, "88001") == phone.id
    assert terminals.bindings(session) == {"88001": phone.id}
    assert terminals.deregister(session, phone="13912345678")
    assert terminals.osmand_vehicle(session, "13912345678") == jt.id
    assert terminals.bindings(session)["13912345678"] == jt.id


def test_nobody_takes_a_registered_terminal_or_a_recorded_vehicle(session: Session) -> None:
    """The holes a rogue 0x0100 could use: a terminal's number known (re-register to get a code of one's own), a
    plate known (bind a fake terminal to a vehicle that records another), a number of zeros."""
    recorded, bare = fleet_of(session, ["13900000001", None])
    result, code, _ = _register(session, "013900000001")
    assert result == RegisterOutcome.OK
    assert _register(session, "13900000001")[0] == RegisterOutcome.TERMINAL_TAKEN
    assert terminals.authenticate(session, phone="13900000001", code=code or "") == recorded.id  # still valid
    assert _register(session, "13900000002", plate=recorded.plate)[0] == RegisterOutcome.NO_TERMINAL
    assert _register(session, "000000000000", plate=bare.plate)[0] == RegisterOutcome.NO_TERMINAL
    assert _register(session, "13900000003", plate=bare.plate)[0] == RegisterOutcome.OK
    assert _register(session, "13900000004", plate=bare.plate)[0] == RegisterOutcome.VEHICLE_TAKEN
    assert session.scalar(sa.select(sa.func.count()).select_from(Terminal)) == 2
