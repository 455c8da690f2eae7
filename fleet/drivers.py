"""Drivers: an agency's own or the platform's shared pool, each with a licence class and a shift."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fleet import audit, queries
from fleet.audit import Actor
from fleet.db import atomic
from fleet.errors import InvalidState, NotFound
from fleet.i18n import msg
from fleet.models import Driver
from fleet.reorganisation import check_active
from fleet.schemas import DriverIn


@atomic
def add_driver(session: Session, actor: Actor, *, data: DriverIn) -> Driver:
    agency = check_active(queries.agency_by_code(session, data.agency)) if data.agency else None
    driver = Driver(agency=agency, **data.model_dump(exclude={"agency"}))
    session.add(driver)
    audit.record(session, actor, "driver.added", driver, data.model_dump())
    return driver


@atomic
def deactivate_driver(session: Session, actor: Actor, *, driver_id: int, reason: str) -> Driver:
    driver = session.get(Driver, driver_id, with_for_update={"key_share": True})
    if driver is None:
        raise NotFound(msg("unknown driver id {driver_id}", driver_id=driver_id), field="driver_id")
    if not driver.active:
        raise InvalidState(msg("driver {name} is already inactive", name=driver.name), field="active")
    driver.active = False
    audit.record(session, actor, "driver.deactivated", driver, {"reason": reason})
    return driver
