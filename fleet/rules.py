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
from fleet.policy import Policy


def _cny(amount: Decimal) -> str:
    return f"{amount:,.0f} CNY"


def _cat(category: Category) -> str:
    return f"{category.value} ({category.zh})"


def check_quota(
    *, agency: str, category: Category, limit: int, held: int, adding: int, removing: int = 0,
    committed: int = 0,
) -> None:
    """编制: held + committed (approved, not yet acquired) + adding - removing must stay within the quota."""
    after = held + committed + adding - removing
    if after <= limit:
        return
    parts = [f"held {held}"]
    if committed:
        parts.append(f"already approved {committed:+d}")
    parts.append(f"this change +{adding}")
    if removing:
        parts.append(f"disposals -{removing}")
    excess = after - limit
    raise QuotaExceeded(
        f"agency {agency} would hold {after} {_cat(category)} vehicles against a quota of {limit} "
        f"({', '.join(parts)}); fix: reduce the change by {excess}, dispose of {excess} vehicle(s) first, "
        f"or have the quota raised",
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
    label: str = "line"


def check_standard(policy: Policy, spec: LineSpec) -> None:
    """配备标准: price and displacement within the category's standard, the bus table, or the NEV sedan cap."""
    where = f"{spec.label}: {_cat(spec.category)} {spec.powertrain.value}"
    if spec.seats >= policy.bus_min_seats:
        bus = policy.bus_standard(spec.seats)
        if bus is None:
            raise StandardExceeded(
                f"{where} with {spec.seats} seats: the policy has no bus standard for that many seats; "
                f"fix: choose a vehicle the bus table covers or have the jurisdiction's table extended",
                field="seats",
            )
        if spec.unit_price_cny > bus.max_price_cny:
            raise StandardExceeded(
                f"{where} bus with {spec.seats} seats at {_cny(spec.unit_price_cny)} exceeds the bus standard of "
                f"{_cny(bus.max_price_cny)}; fix: choose a model priced within the standard",
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
            f" the higher tier ({_cny(standard.justified_max_price_cny or price_cap)}) needs a recorded justification;"
            if higher and not spec.justification and not policy.is_new_energy(spec.powertrain) else ""
        )
        raise StandardExceeded(
            f"{where} at {_cny(spec.unit_price_cny)} exceeds the standard of {_cny(price_cap)};{hint} "
            f"fix: choose a model priced within the standard",
            field="unit_price_cny", limit=str(price_cap),
        )
    if spec.displacement_l is not None and litre_cap is not None and spec.displacement_l > litre_cap:
        hint = " the higher tier needs a recorded justification;" if higher and not spec.justification else ""
        raise StandardExceeded(
            f"{where} with a {spec.displacement_l} L engine exceeds the standard of {litre_cap} L;{hint} "
            f"fix: choose a smaller engine or a new-energy model",
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
            f"vehicle {plate} (acquired {acquired_on}) may not be renewed before {due} because its user changed "
            f"post: a change of post is never a ground for early renewal; fix: keep the vehicle in service",
            field="early_renewal_basis", plate=plate, due=due.isoformat(),
        )
    if basis is None or not reason:
        raise RenewalTooEarly(
            f"vehicle {plate} (acquired {acquired_on}) reaches the renewal age of {policy.renewal_years} years "
            f"only on {due}; fix: wait until then, or record an approved early-renewal basis and reason "
            f"(accident beyond repair, safety hazard, excessive mileage)",
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
        f"{jurisdiction} {year}: new-energy vehicles would be {nev} of {total} additions and renewals "
        f"({float(Fraction(nev, total)):.1%}) against a minimum of {float(minimum):.0%} "
        f"(approved so far {approved[0]} of {approved[1]}, this plan {plan[0]} of {plan[1]}); "
        f"fix: make {needed} more of this plan's vehicles new-energy ({kinds}), or record an exemption on a "
        f"line whose category has no new-energy model",
        jurisdiction=jurisdiction, year=year, new_energy=nev, total=total, minimum=float(minimum),
    )


def check_matches_line(
    *, line_id: int, kind: PlanLineKind, category: Category, powertrain: Powertrain, seats: int,
    unit_price_cny: Decimal, displacement_l: Decimal | None, remaining: int, vehicle: LineSpec,
) -> None:
    """An acquired vehicle is what its approved plan line says: same category, powertrain and seats, no dearer,
    no bigger engine, and the line still has vehicles left to buy."""
    def mismatch(what: str, field: str) -> PlanLineMismatch:
        return PlanLineMismatch(f"plan line {line_id} ({kind.value}): {what}; fix: acquire what the line approved "
                                f"or have a plan line approved for this vehicle", field=field, plan_line=line_id)

    if remaining <= 0:
        raise mismatch("all its vehicles have been acquired already", "plan_line_id")
    if vehicle.category is not category:
        raise mismatch(f"approves {category.value}, not {vehicle.category.value}", "category")
    if vehicle.powertrain is not powertrain:
        raise mismatch(f"approves {powertrain.value}, not {vehicle.powertrain.value}", "powertrain")
    if vehicle.seats != seats:
        raise mismatch(f"approves {seats} seats, not {vehicle.seats}", "seats")
    if vehicle.unit_price_cny > unit_price_cny:
        raise mismatch(f"approves at most {_cny(unit_price_cny)}, not {_cny(vehicle.unit_price_cny)}", "price_cny")
    if (vehicle.displacement_l or 0) > (displacement_l or 0):
        raise mismatch(f"approves at most {displacement_l} L, not {vehicle.displacement_l} L", "displacement_l")
