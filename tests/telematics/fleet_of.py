"""A small fleet for the ingest's tests: an agency and vehicles whose registry records terminal numbers."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet.db import unit_of_work
from fleet.enums import Category
from fleet.models import Vehicle
from tests.factories import agency, jurisdiction_tree, registered


def fleet_of(session: Session, terminals: list[str | None], *, code: str = "WH-GA") -> list[Vehicle]:
    """One vehicle per entry, each recording that terminal number (None: none recorded)."""
    jurisdiction_tree(session)
    agency(session, code, quotas={Category.general: max(10, len(terminals))})
    cars = [registered(session, code) for _ in terminals]
    for car, number in zip(cars, terminals, strict=True):
        car.terminal_id = number  # as an amendment would record it (noted by the registration's audit record)
    session.flush()
    return cars


def committed_fleet(engine: Engine, terminals: list[str | None]) -> list[int]:
    """``fleet_of`` committed; the vehicles' ids."""
    with unit_of_work(engine) as session:
        return [v.id for v in fleet_of(session, terminals)]
