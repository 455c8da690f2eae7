"""Edits of the records the office keeps: a vehicle's particulars and reminder dates, a driver's licence and shift,
an agency's name and place in the tree.

Each edit is one audited unit of work whose record lists every field changed as ``{"from": old, "to": new}``. A
field sent with the value it already holds is no change: a patch that changes nothing writes nothing. The checks
that span fields (an exempt vehicle's reason, the yard's two coordinates, a shift's length) are made on the record
as it would stand after the patch, so that one field may be sent alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, clock, queries
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import MarkingStatus, VehicleStatus
from fleet.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from fleet.i18n import field_label, field_message, msg
from fleet.models import Agency, Driver, Vehicle
from fleet.reorganisation import check_active
from fleet.schemas import AgencyPatch, DriverPatch, VehiclePatch
from fleet.terminals import normalise

Changes = dict[str, dict[str, Any]]


def diff(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> Changes:
    """``{field: {"from": old, "to": new}}`` for each wanted value that differs from the current one."""
    return {name: {"from": current[name], "to": value} for name, value in wanted.items() if current[name] != value}


def _apply(target: Any, changes: Changes) -> None:
    for name, change in changes.items():
        setattr(target, name, change["to"])


@atomic
def amend_vehicle(session: Session, actor: Actor, *, vehicle_id: int, data: VehiclePatch) -> Vehicle:
    """Change a vehicle's particulars (marking, terminal, colour, model, yard) and the dates its reminders count
    from. A disposed vehicle's record is closed."""
    vehicle = queries.vehicle(session, vehicle_id, lock=True)
    if vehicle.status is VehicleStatus.disposed:
        raise InvalidState(msg("vehicle {plate} was disposed of on {day}; its record is closed", plate=vehicle.plate,
                               day=vehicle.disposed_on), field="vehicle_id")
    wanted = data.sent()
    if wanted.get("marking", vehicle.marking) is not MarkingStatus.exempt and "marking_exemption" not in wanted:
        wanted["marking_exemption"] = None  # the reason goes with the exemption
    after = {name: getattr(vehicle, name) for name in VehiclePatch.model_fields} | wanted
    _check_vehicle(session, vehicle, after)
    changes = diff({name: getattr(vehicle, name) for name in wanted}, wanted)
    if changes:
        _apply(vehicle, changes)
        audit.record(session, actor, "vehicle.amended", vehicle, changes)
    return vehicle


def _check_vehicle(session: Session, vehicle: Vehicle, after: Mapping[str, Any]) -> None:
    if after["marking"] is MarkingStatus.exempt and not after["marking_exemption"]:
        raise InvalidInput(msg("field '{field}': an exempt vehicle needs the reason for its exemption",
                               field="marking_exemption"), field="marking_exemption")
    if after["marking"] is not MarkingStatus.exempt and after["marking_exemption"]:
        raise InvalidInput(msg("field '{field}': only an exempt vehicle has an exemption reason",
                               field="marking_exemption"), field="marking_exemption")
    if (after["home_lat"] is None) != (after["home_lon"] is None):
        missing = "home_lon" if after["home_lon"] is None else "home_lat"
        raise InvalidInput(field_message(missing, msg("{first} and {second} go together", first=field_label("home_lat"),
                                                      second=field_label("home_lon"))), field=missing)
    today = clock.today()
    for name in ("inspected_on", "serviced_on"):
        day = after[name]
        if day is not None and day > today:
            raise InvalidInput(msg("field '{field}': {day} is after today ({today}); record what was done",
                                   field=name, day=day, today=today), field=name)
        if day is not None and day < vehicle.acquired_on:
            raise InvalidInput(msg("field '{field}': {day} is before the vehicle was acquired ({acquired_on})",
                                   field=name, day=day, acquired_on=vehicle.acquired_on), field=name)
    terminal = after["terminal_id"]
    if terminal is not None and terminal != vehicle.terminal_id:
        # The listeners find a vehicle by its terminal number without leading zeros (fleet.terminals), so two
        # records "1380..." and "001380..." would be one terminal, its fixes landing on whichever came first.
        holder = session.scalar(sa.select(Vehicle.plate).where(
            sa.func.ltrim(Vehicle.terminal_id, "0") == normalise(terminal), Vehicle.id != vehicle.id))
        if holder is not None:
            raise AlreadyExists(msg("terminal {terminal_id} is already fitted to {plate}", terminal_id=terminal,
                                    plate=holder), field="terminal_id")


def _driver(session: Session, driver_id: int) -> Driver:
    found = session.get(Driver, driver_id, with_for_update={"key_share": True})
    if found is None:
        raise NotFound(msg("unknown driver id {driver_id}", driver_id=driver_id), field="driver_id")
    return found


@atomic
def amend_driver(session: Session, actor: Actor, *, driver_id: int, data: DriverPatch) -> Driver:
    """Change a driver's licence (class, number, expiry), phone, shift or agency (``None``: the platform's pool)."""
    wanted = data.sent()
    if wanted.get("agency") is not None:
        # The agency before the driver: a merge locks its agencies, then their drivers; the reverse order here
        # deadlocked a driver moved into an agency with a merge into it.
        check_active(queries.agency_by_code(session, wanted["agency"]), field="agency")
    driver = _driver(session, driver_id)
    current = {name: getattr(driver, name) for name in wanted if name != "agency"}
    if "agency" in wanted:
        current["agency"] = driver.agency.code if driver.agency else None
    start, end = wanted.get("shift_start", driver.shift_start), wanted.get("shift_end", driver.shift_end)
    if start == end:
        field = "shift_end" if "shift_end" in wanted else "shift_start"
        raise InvalidInput(msg("field '{field}': equals the other end of the shift: a shift has a length",
                               field=field), field=field)
    changes = diff(current, wanted)
    if changes:
        moved = changes.pop("agency", None)
        _apply(driver, changes)
        if moved is not None:
            driver.agency = queries.agency_by_code(session, moved["to"]) if moved["to"] else None
            changes["agency"] = moved
        audit.record(session, actor, "driver.amended", driver, changes)
    return driver


@atomic
def amend_agency(session: Session, actor: Actor, *, code: str, data: AgencyPatch) -> Agency:
    """Rename an agency, or move it under another parent agency (never under itself or one of its own)."""
    # Locked for update from the start: `check_active`'s shared lock, taken first by two renames at once, would
    # leave each waiting for the other to let go before it may write.
    agency = queries.agency_by_code(session, code, field="code", lock=True)
    check_active(agency, field="code")
    wanted = data.sent()
    current = {"name": agency.name, "parent": agency.parent.code if agency.parent else None}
    changes = diff({name: current[name] for name in wanted}, wanted)
    if "parent" in changes and changes["parent"]["to"] is not None:
        parent = queries.agency_by_code(session, changes["parent"]["to"], field="parent")
        check_active(parent, field="parent")
        ancestor: Agency | None = parent
        seen: set[int] = set()  # a loop left in the tree by bad data ends the walk instead of hanging the request
        while ancestor is not None and ancestor.id not in seen:
            if ancestor.id == agency.id:
                raise InvalidInput(msg("field '{field}': {parent} is {code} or sits under it; an agency cannot be "
                                       "its own parent", field="parent", parent=parent.code, code=agency.code),
                                   field="parent")
            seen.add(ancestor.id)
            ancestor = ancestor.parent
    if changes:
        if "name" in changes:
            agency.name = changes["name"]["to"]
        if "parent" in changes:
            to = changes["parent"]["to"]
            agency.parent = queries.agency_by_code(session, to, field="parent") if to else None
        audit.record(session, actor, "agency.amended", agency, changes)
    return agency
