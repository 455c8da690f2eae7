"""fleet.scopes on both databases: the scope of each kind of user, the audit records and users a scope holds, the
dispatch runs it reads, and which agency a change of the live feed belongs to."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import changes, scopes, users, vehicles
from fleet.audit import Actor
from fleet.enums import Category, OversightOffice, Role
from fleet.models import AuditRecord, DispatchRun, User
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

CITY, COUNTY = "420100", "420102"


def city(session: Session) -> dict[str, User]:
    """Agency WH-GA in the city, WH-CG in its district; a vehicle each; a user of every kind of scope."""
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.general: 3})
    agency(session, "WH-CG", jurisdiction=COUNTY, quotas={Category.general: 3})
    registered(session, "WH-GA")
    registered(session, "WH-CG")
    made = {}
    for name, role, kwargs in (
        ("county", Role.supervisor, {"jurisdiction": COUNTY, "office": OversightOffice.audit}),
        ("city", Role.admin, {"jurisdiction": CITY}),
        ("whole", Role.supervisor, {}),
        ("unit", Role.supervisor, {"agency": "WH-GA"}),
        ("req-b", Role.requester, {"agency": "WH-CG"}),
        ("disp-county", Role.dispatcher, {"jurisdiction": COUNTY}),
    ):
        made[name] = users.add_user(session, ADMIN, name=name, role=role, **kwargs)[0]  # type: ignore[arg-type]
    session.flush()
    return made


def agency_ids(session: Session) -> dict[str, int]:
    return {code: id_ for code, id_ in session.execute(sa.text("SELECT code, id FROM agencies"))}


def test_each_kind_of_scope(session: Session) -> None:
    made = city(session)
    ids = agency_ids(session)
    assert scopes.scope_of(session, made["county"]).agency_ids == {ids["WH-CG"]}
    assert scopes.scope_of(session, made["city"]).agency_ids == {ids["WH-GA"], ids["WH-CG"]}
    assert scopes.scope_of(session, made["whole"]).whole
    assert scopes.scope_of(session, made["unit"]).agency_ids == {ids["WH-GA"]}
    assert scopes.scope_of(session, made["req-b"]).agency_ids == {ids["WH-CG"]}


def test_audit_records_and_users_of_a_scope(session: Session) -> None:
    made = city(session)
    county = scopes.scope_of(session, made["county"])
    seen = session.execute(sa.select(AuditRecord.entity, AuditRecord.changes).where(scopes.audit_filter(county))).all()
    assert {entity for entity, _ in seen} >= {"vehicle", "quota", "agency", "user"}
    every = session.execute(sa.select(AuditRecord.entity, AuditRecord.changes)).all()
    codes = {str(c.get("agency")) for _, c in seen if isinstance(c, dict) and c.get("agency")}
    assert codes <= {"WH-CG"}, codes
    assert len(seen) < len(every)
    assert {u.name for u in users.list_users(session, county)} == {"county", "req-b", "disp-county"}
    assert {u.name for u in users.list_users(session, scopes.scope_of(session, made["city"]))} >= {
        "county", "city", "unit", "req-b", "disp-county"}


def test_runs_read_by_a_scope_are_its_dispatchers(session: Session) -> None:
    made = city(session)
    county = scopes.scope_of(session, made["county"])
    assert scopes.run_makers(session, county) == ["disp-county (dispatcher)"]
    assert scopes.run_makers(session, scopes.WHOLE) is None
    assert session.scalar(sa.select(sa.func.count()).select_from(DispatchRun)) == 0


def test_a_vehicle_change_names_its_agency(session: Session) -> None:
    made = city(session)
    ids = agency_ids(session)
    start = changes.head(session)
    held_b = registered(session, "WH-CG")
    vehicles.seal(session, Actor("admin", "admin"), vehicle_id=held_b.id, reason="闲置封存")
    found = [c for c in changes.after(session, start) if c.entity == "vehicle"]
    assert found
    assert {c.agency_id for c in found} == {ids["WH-CG"]}
    county, unit = (scopes.scope_of(session, made[n]) for n in ("county", "unit"))
    assert all(c.visible_to(made["county"], county) for c in found)
    assert not any(c.visible_to(made["unit"], unit) for c in found)
