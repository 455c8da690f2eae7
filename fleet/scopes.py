"""Who sees what: the part of the platform a user acts for (its scope), and the checks that keep it there.

The rule, one for every path (API routes, the live feed, the CLI's grants):

- A requester or an approver acts for its agency.
- A driver sees the trips it drives, nothing of the registry.
- A platform role (dispatcher, supervisor, admin) acts for a level of the jurisdiction tree (``User.jurisdiction_id``:
  that jurisdiction and everything below it: a county's, a city's and its counties', a province's), or for the
  whole platform (no jurisdiction). One made *with an agency* acts for that agency only: a unit's own oversight
  (单位纪检), vehicle manager or car-pool desk. That is what a supervisor created for an agency always meant; it no
  longer sees every agency's trips and findings. A user names an agency or a jurisdiction, never both.

What lies outside the scope is absent: a lookup answers 404 as for an id that does not exist, a list leaves it out.
Drivers of the platform pool (no agency) are the whole platform's: any dispatcher may give one a trip, but only a
whole-platform admin adds or deactivates one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import queries
from fleet.enums import Role
from fleet.errors import NotFound
from fleet.i18n import msg
from fleet.models import (
    Agency,
    Assignment,
    AuditRecord,
    CostEntry,
    Disposal,
    Driver,
    Jurisdiction,
    Plan,
    PlanLine,
    Quota,
    Transfer,
    Trip,
    User,
    Vehicle,
)

AGENCY_ROLES = frozenset({Role.requester, Role.approver})
PLATFORM_ROLES = frozenset({Role.dispatcher, Role.supervisor, Role.admin})

@dataclass(frozen=True)
class Scope:
    """The agencies and jurisdictions a user acts for; ``None`` for either means all of them (the whole platform).

    ``driver_id`` is set for a driver user: it reaches the trips it drives and no agency."""

    agency_ids: frozenset[int] | None
    jurisdiction_ids: frozenset[int] | None
    label: str
    driver_id: int | None = None

    @property
    def whole(self) -> bool:
        """Whether this is the whole platform's scope."""
        return self.agency_ids is None

    def has_agency(self, agency_id: int | None) -> bool:
        """Whether the agency lies in the scope; ``None`` (the platform pool) only in the whole platform's."""
        return self.agency_ids is None or (agency_id is not None and agency_id in self.agency_ids)

    def has_jurisdiction(self, jurisdiction_id: int | None) -> bool:
        """Whether the jurisdiction lies at or below the scope's level; ``None`` (a root yet to be made) only in the
        whole platform's."""
        return self.jurisdiction_ids is None or (jurisdiction_id is not None
                                                 and jurisdiction_id in self.jurisdiction_ids)

    def covers(self, other: Scope) -> bool:
        """Whether ``other`` lies wholly within this scope (what an admin may grant)."""
        if self.agency_ids is None:
            return True
        if other.agency_ids is None or not other.agency_ids <= self.agency_ids:
            return False
        return other.jurisdiction_ids is not None and (
            self.jurisdiction_ids is None or other.jurisdiction_ids <= self.jurisdiction_ids)

    def agency_filter(self, column: sa.ColumnElement[int] | sa.orm.InstrumentedAttribute[int]
                      | sa.orm.InstrumentedAttribute[int | None]) -> sa.ColumnElement[bool]:
        """A WHERE clause keeping rows whose agency ``column`` lies in the scope."""
        return sa.true() if self.agency_ids is None else column.in_(sorted(self.agency_ids))

    def ids(self) -> list[int] | None:
        """The scope's agency ids, sorted; None for the whole platform (what `fleet.usage_audit.findings` takes)."""
        return None if self.agency_ids is None else sorted(self.agency_ids)


WHOLE = Scope(None, None, msg("the whole platform"))


def _subtree(session: Session, jurisdiction: Jurisdiction) -> Scope:
    jurisdictions = frozenset(queries.jurisdiction_subtree_ids(session, jurisdiction))
    agencies = frozenset(session.scalars(sa.select(Agency.id).where(Agency.jurisdiction_id.in_(jurisdictions))))
    return Scope(agencies, jurisdictions, f"{jurisdiction.code} {jurisdiction.name}")


def scope_for(session: Session, role: Role, *, agency: Agency | None, jurisdiction: Jurisdiction | None,
              driver_id: int | None = None) -> Scope:
    """The scope of a user of ``role`` acting for ``agency`` or ``jurisdiction`` (or neither)."""
    if role is Role.driver:
        return Scope(frozenset(), frozenset(), msg("the trips driver {driver_id} drives", driver_id=driver_id),
                     driver_id)
    if agency is not None:
        return Scope(frozenset({agency.id}), frozenset(), f"{agency.code} {agency.name}")
    if role in AGENCY_ROLES:  # a requester without an agency reaches nothing (add_user refuses making one)
        return Scope(frozenset(), frozenset(), msg("no agency"))
    if jurisdiction is not None:
        return _subtree(session, jurisdiction)
    return WHOLE


def scope_of(session: Session, user: User) -> Scope:
    """``user``'s scope, worked out once per transaction (agencies added meanwhile join it at the next one)."""
    key, current = ("fleet.scopes", user.id), session.get_transaction()
    kept = session.info.get(key)
    if isinstance(kept, tuple) and kept[0] is current and current is not None:
        return kept[1]  # type: ignore[no-any-return]
    found = scope_for(session, user.role, agency=user.agency, jurisdiction=user.jurisdiction,
                      driver_id=user.driver_id)
    session.info[key] = (current, found)
    return found


# --- lookups within a scope: what lies outside is absent -----------------------------------------------------------


def agency(session: Session, scope: Scope, code: str, *, field: str = "agency") -> Agency:
    found = queries.agency_by_code(session, code, field=field)
    if not scope.has_agency(found.id):
        raise NotFound(msg("unknown agency {code!r}", code=code), field=field)
    return found


def jurisdiction(session: Session, scope: Scope, code: str, *, field: str = "jurisdiction") -> Jurisdiction:
    found = queries.jurisdiction_by_code(session, code, field=field)
    if not scope.has_jurisdiction(found.id):
        raise NotFound(msg("unknown jurisdiction {code!r}", code=code), field=field)
    return found


def vehicle(session: Session, scope: Scope, vehicle_id: int) -> Vehicle:
    found = queries.vehicle(session, vehicle_id)
    if not scope.has_agency(found.agency_id):
        raise NotFound(msg("unknown vehicle id {vehicle_id}", vehicle_id=vehicle_id), field="vehicle_id")
    return found


def plan(session: Session, scope: Scope, plan_id: int) -> Plan:
    found = queries.plan(session, plan_id)
    if not scope.has_agency(found.agency_id):
        raise NotFound(msg("unknown plan id {plan_id}", plan_id=plan_id), field="plan_id")
    return found


def plan_line(session: Session, scope: Scope, line_id: int) -> PlanLine:
    found = queries.plan_line(session, line_id)
    if not scope.has_agency(found.plan.agency_id):
        raise NotFound(msg("unknown plan line id {line_id}", line_id=line_id), field="plan_line_id")
    return found


def driver(session: Session, scope: Scope, driver_id: int, *, field: str = "driver_id") -> Driver:
    """A driver the scope may manage: one of its agencies' (the pool's only for the whole platform)."""
    found = session.get(Driver, driver_id)
    if found is None or not scope.has_agency(found.agency_id):
        raise NotFound(msg("unknown driver id {driver_id}", driver_id=driver_id), field=field)
    return found


def assignable_driver(session: Session, scope: Scope, driver_id: int) -> Driver:
    """A driver a dispatcher of ``scope`` may give a trip: one of its agencies' or of the platform pool."""
    found = session.get(Driver, driver_id)
    if found is None or (found.agency_id is not None and not scope.has_agency(found.agency_id)):
        raise NotFound(msg("unknown driver id {driver_id}", driver_id=driver_id), field="driver_id")
    return found


def trip(session: Session, scope: Scope, trip_id: int) -> Trip:
    found = session.get(Trip, trip_id)
    if found is None or not sees_trip(scope, found):
        raise NotFound(msg("unknown trip id {trip_id}", trip_id=trip_id), field="trip_id")
    return found


def sees_trip(scope: Scope, booked: Trip) -> bool:
    """Whether the scope reaches the trip: its agency's, or (a driver's scope) a trip it drives now."""
    if scope.driver_id is not None:
        holding = booked.assignment
        return holding is not None and holding.driver_id == scope.driver_id
    return scope.has_agency(booked.agency_id)


def sees_user(scope: Scope, user: User) -> bool:
    """Whether an admin of ``scope`` manages ``user``: the user's own scope lies within it. A driver user goes with
    its driver record's agency."""
    if scope.whole:
        return True
    if user.role is Role.driver:
        return user.driver is not None and user.driver.agency_id is not None and scope.has_agency(
            user.driver.agency_id)
    if user.agency_id is not None:
        return scope.has_agency(user.agency_id)
    return user.jurisdiction_id is not None and scope.has_jurisdiction(user.jurisdiction_id)


def users_filter(scope: Scope) -> sa.ColumnElement[bool]:
    """`sees_user` as a WHERE clause over `User`."""
    if scope.agency_ids is None:
        return sa.true()
    agencies, jurisdictions = sorted(scope.agency_ids), sorted(scope.jurisdiction_ids or ())
    driven = sa.select(Driver.id).where(Driver.agency_id.in_(agencies))
    return sa.or_(sa.and_(User.role == Role.driver, User.driver_id.in_(driven)),
                  sa.and_(User.role != Role.driver, User.agency_id.in_(agencies)),
                  sa.and_(User.role != Role.driver, User.agency_id.is_(None),
                          User.jurisdiction_id.in_(jurisdictions)))


def _ids_as_text(select: sa.Select[Any]) -> sa.Select[Any]:
    column = select.selected_columns[0]
    return select.with_only_columns(sa.cast(column, sa.String))


def audit_filter(scope: Scope) -> sa.ColumnElement[bool]:
    """The audit records a scoped supervisor or admin reads: those about an entity of an agency in its scope.

    The chain is one log of the whole platform. A record is about one row (``entity``, ``entity_id``); where that
    row belongs to an agency (a trip, a vehicle, its costs, disposal and transfers, an assignment, a plan and its
    lines, a quota, a driver, the agency itself, a user acting for it), the record is the agency's, and an
    oversight body of a district reads its agencies' records, as it reads their trips. Records of rows that belong
    to no agency (dispatch runs over the whole platform, jurisdictions, rental providers, the pool's drivers, whole-
    platform users) are the platform's: only whole-platform supervisors and admins read them, and only they verify
    the chain (`/audit/verify` re-computes every record, whoever's it is)."""
    if scope.agency_ids is None:
        return sa.true()
    ids = sorted(scope.agency_ids)
    vehicles = sa.select(Vehicle.id).where(Vehicle.agency_id.in_(ids))
    plans = sa.select(Plan.id).where(Plan.agency_id.in_(ids))
    trips = sa.select(Trip.id).where(Trip.agency_id.in_(ids))
    owned: dict[str, sa.Select[Any]] = {
        "trip": trips,
        "vehicle": vehicles,
        "cost": sa.select(CostEntry.id).where(CostEntry.vehicle_id.in_(vehicles)),
        "disposal": sa.select(Disposal.id).where(Disposal.vehicle_id.in_(vehicles)),
        "transfer": sa.select(Transfer.id).where(Transfer.from_agency_id.in_(ids) | Transfer.to_agency_id.in_(ids)),
        "assignment": sa.select(Assignment.id).where(Assignment.trip_id.in_(trips)),
        "plan": plans,
        "plan_line": sa.select(PlanLine.id).where(PlanLine.plan_id.in_(plans)),
        "quota": sa.select(Quota.id).where(Quota.agency_id.in_(ids)),
        "driver": sa.select(Driver.id).where(Driver.agency_id.in_(ids)),
        "agency": sa.select(Agency.id).where(Agency.id.in_(ids)),
        "user": sa.select(User.id).where(users_filter(scope)),
    }
    return sa.or_(*(sa.and_(AuditRecord.entity == entity, AuditRecord.entity_id.in_(_ids_as_text(rows)))
                    for entity, rows in owned.items()))



def run_makers(session: Session, scope: Scope) -> list[str] | None:
    """The actors (``name (role)``) whose dispatch runs a watcher of ``scope`` reads: the dispatchers whose own scope
    lies within it (a run takes its maker's trips and vehicles only, `fleet.dispatching.run`); None: every run."""
    if scope.whole:
        return None
    found = session.execute(sa.select(User.name, User.role).where(users_filter(scope), User.role == Role.dispatcher))
    return [f"{name} ({role.value})" for name, role in found]
