"""The rules of official-vehicle management as pure checks: plain values in, a domain error out.

Every refusal says which rule, the numbers, and what would fix it. Nothing here touches a database.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from fleet.enums import Category, EarlyRenewalBasis, PlanLineKind, Powertrain
from fleet.errors import (
    NewEnergyShareTooLow,
    PlanLineMismatch,
    QuotaExceeded,
    RenewalTooEarly,
    StandardExceeded,
)
from fleet.i18n import Message, listing, msg
from fleet.policy import Policy


def _cny(amount: Decimal) -> Message:
    return msg("{amount:,.0f} CNY", amount=amount)


def _cat(category: Category) -> Message:
    return msg("{code} ({label})", code=category.value, label=category.zh)


def check_quota(
    *, agency: str, category: Category, limit: int, held: int, adding: int, removing: int = 0,
    committed: int = 0,
) -> None:
    """编制: held + committed (approved, not yet acquired) + adding - removing must stay within the quota."""
    after = held + committed + adding - removing
    if after <= limit:
        return
    parts = [msg("held {held}", held=held)]
    if committed:
        parts.append(msg("already approved {committed:+d}", committed=committed))
    parts.append(msg("this change +{adding}", adding=adding))
    if removing:
        parts.append(msg("disposals -{removing}", removing=removing))
    excess = after - limit
    raise QuotaExceeded(
        msg("agency {agency} would hold {after} {category} vehicles against a quota of {limit} ({parts}); fix: "
            "reduce the change by {excess}, dispose of {excess} vehicle(s) first, or have the quota raised",
            agency=agency, after=after, category=_cat(category), limit=limit, parts=listing(parts), excess=excess),
        agency=agency, category=category.value, limit=limit, held=held, after=after,
    )


@dataclass(frozen=True)
class LineSpec:
    """What a plan line (or an acquired vehicle) asks for, as far as the equipment standards care."""

    category: Category
    powertrain: Powertrain
    seats: int
    unit_price_cny: Decimal
    displacement_l: Decimal | None
    justification: str | None = None
    label: str = msg("line")


def check_standard(policy: Policy, spec: LineSpec) -> None:
    """配备标准: price and displacement within the category's standard, the bus table, or the NEV sedan cap."""
    where = msg("{label}: {category} {powertrain}", label=spec.label, category=_cat(spec.category),
                powertrain=spec.powertrain)
    if spec.seats >= policy.bus_min_seats:
        bus = policy.bus_standard(spec.seats)
        if bus is None:
            raise StandardExceeded(
                msg("{where} with {seats} seats: the policy has no bus standard for that many seats; fix: choose a "
                    "vehicle the bus table covers or have the jurisdiction's table extended",
                    where=where, seats=spec.seats),
                field="seats",
            )
        if spec.unit_price_cny > bus.max_price_cny:
            raise StandardExceeded(
                msg("{where} bus with {seats} seats at {price} exceeds the bus standard of {limit}; fix: choose a "
                    "model priced within the standard", where=where, seats=spec.seats,
                    price=_cny(spec.unit_price_cny), limit=_cny(bus.max_price_cny)),
                field="unit_price_cny", limit=str(bus.max_price_cny),
            )
        return
    standard = policy.standards.get(spec.category)
    if standard is None:
        return  # e.g. special-technical vehicles: each trade's own standard, nothing national to check
    price_cap, litre_cap = standard.max_price_cny, standard.max_displacement_l
    higher = standard.justified_max_price_cny is not None
    if higher and spec.justification:
        price_cap = standard.justified_max_price_cny or price_cap
        litre_cap = standard.justified_max_displacement_l or litre_cap
    if policy.is_new_energy(spec.powertrain):
        price_cap = policy.new_energy_sedan_max_price_cny
    if spec.unit_price_cny > price_cap:
        hint = (
            msg(" the higher tier ({price}) needs a recorded justification;",
                price=_cny(standard.justified_max_price_cny or price_cap))
            if higher and not spec.justification and not policy.is_new_energy(spec.powertrain) else ""
        )
        raise StandardExceeded(
            msg("{where} at {price} exceeds the standard of {limit};{hint} fix: choose a model priced within the "
                "standard", where=where, price=_cny(spec.unit_price_cny), limit=_cny(price_cap), hint=hint),
            field="unit_price_cny", limit=str(price_cap),
        )
    if spec.displacement_l is not None and litre_cap is not None and spec.displacement_l > litre_cap:
        hint = msg(" the higher tier needs a recorded justification;") if higher and not spec.justification else ""
        raise StandardExceeded(
            msg("{where} with a {litres} L engine exceeds the standard of {limit} L;{hint} fix: choose a smaller "
                "engine or a new-energy model", where=where, litres=spec.displacement_l, limit=litre_cap, hint=hint),
            field="displacement_l", limit=str(litre_cap),
        )


def renewal_due(acquired_on: date, years: int) -> date:
    """The first day a vehicle acquired on ``acquired_on`` has reached ``years`` years of service."""
    year = acquired_on.year + years
    if (acquired_on.month, acquired_on.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 3, 1)  # no 29 February that year: the day after
    return acquired_on.replace(year=year)


def check_renewal_age(
    policy: Policy, *, plate: str, acquired_on: date, on: date,
    basis: EarlyRenewalBasis | None, reason: str | None,
) -> None:
    """更新年限: a replaced vehicle is at least ``renewal_years`` old on ``on``, unless early renewal is recorded."""
    due = renewal_due(acquired_on, policy.renewal_years)
    if on >= due:
        return
    if basis is EarlyRenewalBasis.post_change:
        raise RenewalTooEarly(
            msg("vehicle {plate} (acquired {acquired_on}) may not be renewed before {due} because its user changed "
                "post: a change of post is never a ground for early renewal; fix: keep the vehicle in service",
                plate=plate, acquired_on=acquired_on, due=due),
            field="early_renewal_basis", plate=plate, due=due.isoformat(),
        )
    if basis is None or not reason:
        raise RenewalTooEarly(
            msg("vehicle {plate} (acquired {acquired_on}) reaches the renewal age of {years} years only on {due}; "
                "fix: wait until then, or record an approved early-renewal basis and reason (accident beyond repair, "
                "safety hazard, excessive mileage)", plate=plate, acquired_on=acquired_on,
                years=policy.renewal_years, due=due),
            field="replaces", plate=plate, due=due.isoformat(),
        )


def new_energy_counts(policy: Policy, lines: Iterable[tuple[Powertrain, int, bool]]) -> tuple[int, int]:
    """(new-energy units, counted units) of ``(powertrain, count, exempted)`` lines; exempted ones don't count."""
    nev = counted = 0
    for powertrain, count, exempted in lines:
        if exempted:
            continue
        counted += count
        if policy.is_new_energy(powertrain):
            nev += count
    return nev, counted


def check_new_energy_share(
    policy: Policy, *, jurisdiction: str, year: int, approved: tuple[int, int], plan: tuple[int, int]
) -> None:
    """新能源比例: the year's approved additions and renewals, this plan included, keep the minimum share."""
    minimum = Fraction(str(policy.min_new_energy_share(year)))
    nev, total = approved[0] + plan[0], approved[1] + plan[1]
    if total == 0 or Fraction(nev, total) >= minimum:
        return
    needed = math.ceil(minimum * total - nev)
    kinds = ", ".join(sorted(p.value for p in policy.new_energy_powertrains))
    raise NewEnergyShareTooLow(
        msg("{jurisdiction} {year}: new-energy vehicles would be {nev} of {total} additions and renewals "
            "({share:.1%}) against a minimum of {minimum:.0%} (approved so far {approved_nev} of {approved_total}, "
            "this plan {plan_nev} of {plan_total}); fix: make {needed} more of this plan's vehicles new-energy "
            "({kinds}), or record an exemption on a line whose category has no new-energy model",
            jurisdiction=jurisdiction, year=year, nev=nev, total=total, share=float(Fraction(nev, total)),
            minimum=float(minimum), approved_nev=approved[0], approved_total=approved[1], plan_nev=plan[0],
            plan_total=plan[1], needed=needed, kinds=kinds),
        jurisdiction=jurisdiction, year=year, new_energy=nev, total=total, minimum=float(minimum),
    )


def check_matches_line(
    *, line_id: int, kind: PlanLineKind, category: Category, powertrain: Powertrain, seats: int,
    unit_price_cny: Decimal, displacement_l: Decimal | None, remaining: int, vehicle: LineSpec,
) -> None:
    """An acquired vehicle is what its approved plan line says: same category, powertrain and seats, no dearer,
    no bigger engine, and the line still has vehicles left to buy."""
    def mismatch(what: Message, field: str) -> PlanLineMismatch:
        return PlanLineMismatch(msg("plan line {line_id} ({kind}): {what}; fix: acquire what the line approved or "
                                    "have a plan line approved for this vehicle", line_id=line_id, kind=kind,
                                    what=what),
                                field=field, plan_line=line_id)

    if remaining <= 0:
        raise mismatch(msg("all its vehicles have been acquired already"), "plan_line_id")
    if vehicle.category is not category:
        raise mismatch(msg("approves {approved}, not {given}", approved=category, given=vehicle.category), "category")
    if vehicle.powertrain is not powertrain:
        raise mismatch(msg("approves {approved}, not {given}", approved=powertrain, given=vehicle.powertrain),
                       "powertrain")
    if vehicle.seats != seats:
        raise mismatch(msg("approves {seats} seats, not {given}", seats=seats, given=vehicle.seats), "seats")
    if vehicle.unit_price_cny > unit_price_cny:
        raise mismatch(msg("approves at most {approved}, not {given}", approved=_cny(unit_price_cny),
                           given=_cny(vehicle.unit_price_cny)), "price_cny")
    if (vehicle.displacement_l or 0) > (displacement_l or 0):
        raise mismatch(msg("approves at most {approved} L, not {given} L", approved=displacement_l,
                           given=vehicle.displacement_l), "displacement_l")
