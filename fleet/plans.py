"""Annual acquisition and renewal plans (配备更新计划): draft -> submitted -> approved / rejected.

Approval runs the four checks in order — quota headroom, equipment standards, renewal age, the new-energy share —
and refuses with the first failing rule's own error. ``review`` lists every finding at once, so an agency can fix
its plan in one pass, and ``review_plan`` adds the share's figures: the share is counted over the province (the
national plan's unit, 各省(区、市)) or over the plan's own jurisdiction, as the policy's ``new_energy_share_scope``
says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from functools import partial

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, clock, queries, rules
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import Category, JurisdictionLevel, PlanStatus, VehicleStatus
from fleet.errors import Conflict, InvalidInput, InvalidState, RuleViolation, YearClosed
from fleet.i18n import msg
from fleet.models import Jurisdiction, Plan, PlanLine, Vehicle, utcnow
from fleet.policy import Policy, PolicyBook
from fleet.reorganisation import check_active
from fleet.schemas import PlanIn


def _check_year_open(session: Session, plan_year: int, jurisdiction: Jurisdiction, today: date | None) -> None:
    current = (today or clock.today()).year
    if plan_year < current:
        raise YearClosed(msg("plan year {year} is over (it is {current} now); fix: plan for {current} or later",
                             year=plan_year, current=current), field="year")
    if queries.year_closed(session, jurisdiction.id, plan_year):
        raise YearClosed(msg("{name} ({code}) has closed plan year {year}; fix: plan for a later year",
                             name=jurisdiction.name, code=jurisdiction.code, year=plan_year), field="year")


@atomic
def create_plan(session: Session, actor: Actor, *, data: PlanIn, today: date | None = None) -> Plan:
    """Draft a plan. Replaced vehicles must be the agency's own, in service, and not planned for elsewhere."""
    agency = check_active(queries.agency_by_code(session, data.agency))
    _check_year_open(session, data.year, agency.jurisdiction, today)
    plan = Plan(agency=agency, year=data.year, title=data.title, status=PlanStatus.draft)
    for i, line_in in enumerate(data.lines, start=1):
        replaced: list[Vehicle] = []
        for plate in line_in.replaces:
            vehicle = queries.vehicle_by_plate(session, plate, field=f"lines.{i}.replaces")
            if vehicle.agency_id != agency.id:
                raise InvalidInput(msg("line {line}: vehicle {plate} is held by {holder}, not {agency}", line=i,
                                       plate=plate, holder=vehicle.agency.code, agency=agency.code),
                                   field=f"lines.{i}.replaces")
            if vehicle.status is VehicleStatus.disposed:
                raise InvalidInput(msg("line {line}: vehicle {plate} was disposed of on {day}", line=i, plate=plate,
                                       day=vehicle.disposed_on), field=f"lines.{i}.replaces")
            if not vehicle.under_quota:  # hired, not held: its going frees no quota for a new one
                raise InvalidInput(msg("line {line}: vehicle {plate} is a rental car, not held by {agency}; a renewal "
                                       "replaces a vehicle the agency holds", line=i, plate=plate,
                                       agency=agency.code), field=f"lines.{i}.replaces")
            other = queries.replacing_line(session, vehicle.id)
            if other is not None:
                raise Conflict(msg("line {line}: vehicle {plate} is already to be replaced by plan {plan_id}", line=i,
                                   plate=plate, plan_id=other.plan_id), field=f"lines.{i}.replaces")
            replaced.append(vehicle)
        plan.lines.append(PlanLine(**line_in.model_dump(exclude={"replaces"}), replaces=replaced))
    session.add(plan)
    audit.record(session, actor, "plan.created", plan, data.model_dump())
    return plan


@atomic
def submit_plan(session: Session, actor: Actor, *, plan_id: int, today: date | None = None) -> Plan:
    plan = queries.plan(session, plan_id, lock=True)
    if plan.status is not PlanStatus.draft:
        raise InvalidState(msg("plan {plan_id} is {status}; only a draft can be submitted", plan_id=plan.id,
                               status=plan.status), field="status")
    # The plan's lock orders this against a merge (which locks the agency's open plans to move them), and the plan
    # read under it names its agency as of now: the agency is not locked after it (`check_active`).
    check_active(plan.agency, lock=False)
    _check_year_open(session, plan.year, plan.agency.jurisdiction, today)
    plan.status = PlanStatus.submitted
    audit.record(session, actor, "plan.submitted", plan, {"status": plan.status})
    return plan


@dataclass(frozen=True)
class ShareReview:
    """The new-energy share of a plan year over the plan's scope, before and with the plan."""

    scope: Jurisdiction  # whose aggregate: the province, or the plan's own jurisdiction
    year: int
    minimum: float
    approved: tuple[int, int]  # (new-energy, counted) of the other approved plans in the scope
    with_plan: tuple[int, int]  # the same with this plan's lines added

    @staticmethod
    def share(counts: tuple[int, int]) -> float | None:
        """New-energy over counted vehicles (None when nothing counts: no share to keep)."""
        return float(Fraction(*counts)) if counts[1] else None

    @property
    def met(self) -> bool:
        nev, counted = self.with_plan
        return counted == 0 or Fraction(nev, counted) >= Fraction(str(self.minimum))


@dataclass(frozen=True)
class PlanReview:
    """Every rule a plan breaks, in the order approval checks them, and its new-energy share's figures."""

    plan: Plan
    findings: list[RuleViolation]
    share: ShareReview


def province_of(session: Session, jurisdiction: Jurisdiction) -> Jurisdiction:
    """The province over a jurisdiction (itself if it is one); the root of its chain if none says province."""
    chain = queries.jurisdiction_chain(session, jurisdiction)
    return next((j for j in chain if j.level is JurisdictionLevel.province), chain[0])


def share_scope(session: Session, jurisdiction: Jurisdiction, policy: Policy) -> Jurisdiction:
    """The jurisdiction whose subtree's approved plans the share of ``jurisdiction``'s plans is counted over."""
    if policy.new_energy_share_scope == "province":
        return province_of(session, jurisdiction)
    return jurisdiction


def review(session: Session, plan: Plan, *, policies: PolicyBook | None = None) -> list[RuleViolation]:
    """Every rule the plan breaks, in the order approval checks them (empty: it can be approved)."""
    return review_plan(session, plan, policies=policies).findings


def review_plan(session: Session, plan: Plan, *, policies: PolicyBook | None = None, lock: bool = True) -> PlanReview:
    """`review` and the share's figures: what the scope has approved so far and what this plan does to it.

    ``lock=False`` for a reader's look (``GET /plans/{id}/review``): approval locks the quota rows it checks."""
    agency = plan.agency
    jurisdiction = agency.jurisdiction
    policy = queries.policy_for(session, jurisdiction, policies)
    findings: list[RuleViolation] = []

    def collect(check: Callable[[], None]) -> None:
        try:
            check()
        except RuleViolation as exc:
            findings.append(exc)

    # 1. quota headroom, per category
    adding: Counter[Category] = Counter()
    removing: Counter[Category] = Counter()
    for line in plan.lines:
        adding[line.category] += line.count
        for vehicle in line.replaces:
            if vehicle.status is not VehicleStatus.disposed and vehicle.under_quota:
                removing[vehicle.category] += 1
    for category in sorted(set(adding) | set(removing)):
        limit = queries.quota_limit(session, agency.id, category, lock=lock)
        held = queries.held_count(session, agency.id, category)
        committed = queries.committed_count(session, agency.id, category, exclude_plan=plan.id)
        collect(partial(rules.check_quota, agency=agency.code, category=category, limit=limit, held=held,
                        adding=adding[category], removing=removing[category], committed=committed))
    # 2. equipment standards, per line
    for i, line in enumerate(plan.lines, start=1):
        spec = rules.LineSpec(category=line.category, powertrain=line.powertrain, seats=line.seats,
                              unit_price_cny=line.unit_price_cny, displacement_l=line.displacement_l,
                              justification=line.justification, label=msg("line {line}", line=i))
        collect(partial(rules.check_standard, policy, spec))
    # 3. renewal age, per replaced vehicle, judged at the end of the plan year
    year_end = date(plan.year, 12, 31)
    for line in plan.lines:
        for vehicle in line.replaces:
            collect(partial(rules.check_renewal_age, policy, plate=vehicle.plate, acquired_on=vehicle.acquired_on,
                            on=year_end, basis=line.early_renewal_basis, reason=line.early_renewal_reason))
    # 4. the new-energy share of the year over the scope (the province, or the plan's jurisdiction), this plan
    # included, counted and judged by the scope's own policy: one minimum and one list of powertrains for all of it
    scope = share_scope(session, jurisdiction, policy)
    scope_policy = policy if scope is jurisdiction else queries.policy_for(session, scope, policies)
    subtree = queries.jurisdiction_subtree_ids(session, scope)
    approved = [line for line in queries.approved_lines_in_year(session, subtree, plan.year)
                if line.plan_id != plan.id]
    before, mine = _nev(scope_policy, approved), _nev(scope_policy, plan.lines)
    collect(partial(rules.check_new_energy_share, scope_policy,
                    jurisdiction=msg("{name} ({code})", name=scope.name, code=scope.code),
                    year=plan.year, approved=before, plan=mine))
    share = ShareReview(scope=scope, year=plan.year, minimum=scope_policy.min_new_energy_share(plan.year),
                        approved=before, with_plan=(before[0] + mine[0], before[1] + mine[1]))
    return PlanReview(plan=plan, findings=findings, share=share)


def _nev(policy: Policy, lines: Iterable[PlanLine]) -> tuple[int, int]:
    return rules.new_energy_counts(
        policy, ((line.powertrain, line.count, line.new_energy_exemption is not None) for line in lines)
    )


@atomic
def approve_plan(
    session: Session, actor: Actor, *, plan_id: int, policies: PolicyBook | None = None, today: date | None = None
) -> Plan:
    """Approve a submitted plan, or refuse with the first rule it breaks (nothing is stored then)."""
    plan = queries.plan(session, plan_id, lock=True)
    if plan.status is not PlanStatus.submitted:
        raise InvalidState(msg("plan {plan_id} is {status}; only a submitted plan can be approved", plan_id=plan.id,
                               status=plan.status), field="status")
    check_active(plan.agency, lock=False)  # as in `submit_plan`
    jurisdiction = plan.agency.jurisdiction
    _check_year_open(session, plan.year, jurisdiction, today)
    # Serialise approvals within the province: the new-energy share is a sum over every approval in its scope.
    # The province's row, whatever this plan's scope: a province-scope approval reads the lines of a county that
    # keeps its own scope, so both must queue on the one row (one lock per approval, so no deadlock either).
    province = province_of(session, jurisdiction)
    session.execute(sa.select(Jurisdiction.id).where(Jurisdiction.id == province.id).with_for_update(key_share=True))
    reviewed = review_plan(session, plan, policies=policies)
    if reviewed.findings:
        raise reviewed.findings[0]
    plan.status = PlanStatus.approved
    plan.decided_at = utcnow()
    share = reviewed.share
    audit.record(session, actor, "plan.approved", plan, {
        "status": plan.status, "agency": plan.agency.code, "year": plan.year,
        "vehicles": sum(line.count for line in plan.lines), "new_energy": share.with_plan[0] - share.approved[0],
        "counted_for_share": share.with_plan[1] - share.approved[1], "share_scope": share.scope.code,
        "scope_new_energy": share.with_plan[0], "scope_counted": share.with_plan[1],
    })
    return plan


@atomic
def reject_plan(session: Session, actor: Actor, *, plan_id: int, reason: str) -> Plan:
    """Reject a submitted plan, recording why (typically the refusal ``approve_plan`` gave)."""
    plan = queries.plan(session, plan_id, lock=True)
    if plan.status is not PlanStatus.submitted:
        raise InvalidState(msg("plan {plan_id} is {status}; only a submitted plan can be rejected", plan_id=plan.id,
                               status=plan.status), field="status")
    if len(reason.strip()) < 2:
        raise InvalidInput(msg("a rejection needs a reason"), field="reason")
    plan.status = PlanStatus.rejected
    plan.decided_at = utcnow()
    plan.decision_note = reason
    audit.record(session, actor, "plan.rejected", plan, {"status": plan.status, "reason": reason})
    return plan
