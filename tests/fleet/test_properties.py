"""Properties over random sequences of registry operations: whatever is tried, in whatever order,
no agency ever holds more than its quota, no approved plan year falls below the new-energy minimum,
and the audit chain always verifies. Refusals are expected; anything but a domain error is a bug."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import audit, plans, queries, vehicles
from fleet.clock import today as china_today  # China's date: after 16:00 UTC it is already tomorrow
from fleet.enums import Category, PlanLineKind, PlanStatus, Powertrain, VehicleSource, VehicleStatus
from fleet.errors import FleetError
from fleet.models import Agency, PlanLine, Quota, Vehicle
from fleet.policy import NATIONAL
from fleet.schemas import DisposalIn, PlanIn, TransferIn
from tests.factories import ADMIN, THIS_YEAR, agency, jurisdiction_tree, registered, vehicle_in

AGENCIES = ("A1", "A2", "A3")
CATEGORIES = (Category.law_enforcement, Category.general)
# New-energy drawn more often than not, so that approvals (and then acquisitions) are common.
POWERTRAINS = (Powertrain.ice, Powertrain.hev, Powertrain.bev, Powertrain.phev, Powertrain.bev)


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            yield session
        outer.rollback()


def line_spec(category: Category, powertrain: Powertrain) -> dict[str, object]:
    engineless = powertrain is Powertrain.bev
    return {"category": category, "powertrain": powertrain, "unit_price_cny": 110000,
            "displacement_l": None if engineless else "1.5"}


def check_invariants(session: Session) -> None:
    for quota in session.scalars(sa.select(Quota)):
        held = queries.held_count(session, quota.agency_id, quota.category)
        assert held <= quota.limit, f"{quota.agency.code} holds {held} {quota.category} > quota {quota.limit}"
    lines = session.scalars(sa.select(PlanLine).join(PlanLine.plan).where(
        PlanLine.plan.has(status=PlanStatus.approved))).all()
    if lines:
        nev = sum(ln.count for ln in lines if NATIONAL.is_new_energy(ln.powertrain))
        total = sum(ln.count for ln in lines)
        assert nev * 10 >= 3 * total, f"approved new-energy share {nev}/{total} below 30 %"
    check_quota_use(session)


def check_quota_use(session: Session) -> None:
    """`GET /quotas`' rows against a count of the vehicles in Python: every quota and every agency and category
    holding vehicles without one, each with what it holds (neither disposed of nor hired); paged, the same rows."""
    held = Counter((v.agency.code, v.category) for v in session.scalars(sa.select(Vehicle))
                   if v.status is not VehicleStatus.disposed and v.source is not VehicleSource.rental)
    limits = {(q.agency.code, q.category): q.limit for q in session.scalars(sa.select(Quota))}
    expected = {(code, category, limits.get((code, category), 0), held[code, category])
                for code, category in limits.keys() | held.keys()}
    whole = queries.quota_use_page(session).rows
    assert {(q.agency, q.category, q.limit, q.held) for q in whole} == expected
    assert [q.agency for q in whole] == sorted(q.agency for q in whole)
    paged = [q for offset in range(0, len(whole), 2)
             for q in queries.quota_use_page(session, limit=2, offset=offset).rows]
    assert paged == whole


operation = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(AGENCIES), st.sampled_from(CATEGORIES), st.booleans()),
    st.tuples(st.just("plan"), st.sampled_from(AGENCIES),
              st.lists(st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(POWERTRAINS),
                                 st.integers(1, 2), st.booleans()), min_size=1, max_size=2)),
    st.tuples(st.just("acquire"), st.integers(0, 50)),
    st.tuples(st.just("transfer"), st.integers(0, 50), st.sampled_from(AGENCIES)),
    st.tuples(st.just("dispose"), st.integers(0, 50)),
)


def apply(session: Session, op: tuple[object, ...]) -> None:
    kind = op[0]
    if kind == "register":
        _, code, category, old = op
        acquired = date(THIS_YEAR - (9 if old else 2), 5, 1)
        registered(session, str(code), category=category, acquired_on=acquired)
    elif kind == "plan":
        _, code, specs = op
        held = session.scalars(sa.select(Vehicle).join(Agency).where(
            Agency.code == code, Vehicle.status != VehicleStatus.disposed)).all()
        lines = []
        for category, powertrain, count, renewal in specs:  # type: ignore[attr-defined]
            spare = [v for v in held if v.category is category and queries.replacing_line(session, v.id) is None
                     and v.plate not in {p for ln in lines for p in ln.get("replaces", [])}]
            if renewal and len(spare) >= count:
                lines.append({"kind": "renewal", "count": count, "replaces": [v.plate for v in spare[:count]],
                              **line_spec(category, powertrain)})
            else:
                lines.append({"kind": "new", "count": count, **line_spec(category, powertrain)})
        plan = plans.create_plan(session, ADMIN, data=PlanIn.parse({"agency": code, "year": THIS_YEAR,
                                                                      "lines": lines}))
        plans.submit_plan(session, ADMIN, plan_id=plan.id)
        try:
            plans.approve_plan(session, ADMIN, plan_id=plan.id)
            event("plan approved")
        except FleetError as refusal:
            event(f"plan refused: {refusal.code}")
            plans.reject_plan(session, ADMIN, plan_id=plan.id, reason=refusal.detail)
    elif kind == "acquire":
        open_lines = session.scalars(sa.select(PlanLine).where(
            PlanLine.plan.has(status=PlanStatus.approved), PlanLine.acquired < PlanLine.count)
            .order_by(PlanLine.id)).all()
        if not open_lines:
            return
        line = open_lines[int(op[1]) % len(open_lines)]  # type: ignore[call-overload]
        data = vehicle_in(category=line.category, powertrain=line.powertrain, price_cny=Decimal(100000),
                          acquired_on=date(THIS_YEAR, 6, 1))
        if line.kind is PlanLineKind.new:
            vehicles.acquire(session, ADMIN, plan_line_id=line.id, data=data)
        else:
            # A replaced vehicle may have been disposed of on its own since (written off): renewed all the same.
            old = next((v for v in line.replaces if v.status is not VehicleStatus.disposed), line.replaces[0])
            held = old.status is not VehicleStatus.disposed
            vehicles.renew(session, ADMIN, plan_line_id=line.id, replaced_vehicle_id=old.id, data=data,
                           disposal=DisposalIn(method="auction", disposed_on=date(THIS_YEAR, 6, 1)) if held else None)
    else:
        live = session.scalars(sa.select(Vehicle).where(Vehicle.status != VehicleStatus.disposed)
                               .order_by(Vehicle.id)).all()
        if not live:
            return
        vehicle = live[int(op[1]) % len(live)]  # type: ignore[call-overload]
        if kind == "transfer":
            vehicles.transfer(session, ADMIN, vehicle_id=vehicle.id, data=TransferIn(
                to_agency=str(op[2]), transferred_on=china_today(), reason="调剂 between agencies"))
        else:
            vehicles.dispose(session, ADMIN, vehicle_id=vehicle.id, data=DisposalIn(
                method="scrap", disposed_on=china_today()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=30),
       limits=st.lists(st.integers(0, 8), min_size=len(AGENCIES) * len(CATEGORIES),
                       max_size=len(AGENCIES) * len(CATEGORIES)))
def test_random_operations_keep_quota_share_and_chain(sqlite_engine: Engine, ops: list[tuple[object, ...]],
                                                      limits: list[int]) -> None:
    """No sequence of plan / acquire / renew / transfer / dispose / register breaks a quota, the year's
    new-energy minimum, or the audit chain; every refusal is a domain error and leaves the state consistent."""
    with rolled_back(sqlite_engine) as session:
        jurisdiction_tree(session)
        it = iter(limits)
        for code in AGENCIES:
            agency(session, code, quotas={c: next(it) for c in CATEGORIES})
        for op in ops:
            try:
                apply(session, op)
                event(f"{op[0]}: done")
            except FleetError as refusal:
                event(f"{op[0]}: {refusal.code}")
            check_invariants(session)
        assert audit.verify(session).ok
