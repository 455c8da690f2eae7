"""From simulated days to what an analyst compares: service, delay, utilisation, minimum fleet, annual cost, CO2.

Annual figures scale the mean simulated working day by the working days in a year and the mean weekend or holiday
by the rest; a kind of day the calendar did not simulate is estimated from the other kind, scaled by the demand
ratio the scenario states. A surge day counts as a working day: a surge scenario's annual cost reads "if every
working day were like this".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dispatch.problem import Category, Powertrain, Priority
from scenarios.simulate import DayResult
from scenarios.spec import Scenario

DAYS_PER_YEAR = 365
COST_PARTS = ("depreciation", "fixed", "energy", "maintenance", "rental")


@dataclass
class Summary:
    """One scenario at one fleet size, over all its simulated days and replications."""

    scenario: str
    title: str
    scale: float
    days: int
    held: int
    held_by_category: dict[str, int]
    nev_share: float
    offered_per_day: dict[str, float]  # mean working (or surge) day
    served_share: dict[str, float]  # by the fleet, per priority
    share_served: float  # all trips, by the fleet or by rental
    rented_per_day: float
    emergency_p50_min: float | None
    emergency_p95_min: float | None
    emergency_delays_min: list[float]
    deadhead_share: float
    vehicles_used: float  # mean over working days
    utilisation_by_hour: list[float]  # share of held vehicles busy, mean over working days
    min_fleet: dict[str, int]  # per category: the most any one day needed (exact minimum path cover)
    min_fleet_pooled: dict[str, int]
    used_by_category: dict[str, int]  # per category: the most any one day used
    km_per_year: float
    cost: dict[str, float] = field(default_factory=dict)  # CNY per year, by `COST_PARTS`
    co2_t: float = 0.0

    @property
    def cost_total(self) -> float:
        return sum(self.cost.values())

    @property
    def min_fleet_total(self) -> int:
        return sum(self.min_fleet.values())

    @property
    def min_fleet_pooled_total(self) -> int:
        return sum(self.min_fleet_pooled.values())


def summarise(scenario: Scenario, days: Sequence[DayResult]) -> Summary:
    """Aggregate the days of one scenario at one fleet size (all of ``days`` share scenario and scale)."""
    if not days:
        raise ValueError("no simulated days to summarise")
    first = days[0]
    working = [d for d in days if d.working or d.surge] or list(days)
    offered = _sum(d.offered for d in days)
    offered_working = _sum(d.offered for d in working)
    served = _sum(d.served for d in days)
    all_offered = sum(offered.values())
    delays = sorted(x / 60 for d in days for x in d.emergency_delay_s)
    total_km = sum(d.total_km for d in days)
    held = first.held
    utilisation = np.mean([np.asarray(d.busy_hours) for d in working], axis=0) / max(held, 1)
    nev = sum(n for p, n in first.held_by_powertrain.items() if scenario.is_new_energy(Powertrain(p)))
    summary = Summary(
        scenario=scenario.name,
        title=scenario.title or scenario.name,
        scale=first.scale,
        days=len(days),
        held=held,
        held_by_category=dict(first.held_by_category),
        nev_share=nev / held if held else 0.0,
        offered_per_day={p.value: offered_working.get(p.value, 0) / len(working) for p in Priority},
        served_share={p.value: _share(served.get(p.value, 0), offered.get(p.value, 0)) for p in Priority},
        share_served=_share(sum(served.values()) + sum(d.rented for d in days), all_offered),
        rented_per_day=sum(d.rented for d in days) / len(days),
        emergency_p50_min=percentile(delays, 50),
        emergency_p95_min=percentile(delays, 95),
        emergency_delays_min=delays,
        deadhead_share=sum(d.empty_km for d in days) / total_km if total_km else 0.0,
        vehicles_used=float(np.mean([d.vehicles_used for d in working])),
        utilisation_by_hour=[round(float(u), 4) for u in utilisation],
        min_fleet=_most(d.min_fleet for d in days),
        min_fleet_pooled=_most(d.min_fleet_pooled for d in days),
        used_by_category=_most(d.used_by_category for d in days),
        km_per_year=0.0,
    )
    _annual(scenario, summary, days)
    return summary


def _annual(scenario: Scenario, summary: Summary, days: Sequence[DayResult]) -> None:
    costs = scenario.costs
    first = days[0]
    km_by_powertrain = {p.value: _per_year(scenario, days, _km_of(p)) for p in Powertrain}
    rental_km = _per_year(scenario, days, lambda d: d.rental_km)
    rented = _per_year(scenario, days, lambda d: float(d.rented))
    cost = dict.fromkeys(COST_PARTS, 0.0)
    co2_g = 0.0
    for powertrain in Powertrain:
        spec = costs.powertrains[powertrain]
        count = first.held_by_powertrain.get(powertrain.value, 0)
        km = km_by_powertrain[powertrain.value]
        cost["depreciation"] += count * spec.price / spec.life_years
        cost["energy"] += km * spec.energy_per_km
        cost["maintenance"] += km * spec.maintenance_per_km
        co2_g += km * spec.co2_g_per_km
    cost["fixed"] = first.held * costs.fixed_per_vehicle_year
    if scenario.rental is not None:
        cost["rental"] = rental_km * scenario.rental.price_per_km + rented * scenario.rental.price_per_trip
        co2_g += rental_km * scenario.rental.co2_g_per_km
    summary.cost = {k: round(v, 2) for k, v in cost.items()}
    summary.co2_t = round(co2_g / 1e6, 3)
    summary.km_per_year = round(sum(km_by_powertrain.values()) + rental_km, 1)


def _per_year(scenario: Scenario, days: Sequence[DayResult], value: Callable[[DayResult], float]) -> float:
    """Annual total of a daily figure, from the mean working and non-working day."""
    working = [value(d) for d in days if d.working or d.surge]
    resting = [value(d) for d in days if not (d.working or d.surge)]
    ratio = resting_ratio(scenario)
    work_mean = float(np.mean(working)) if working else (float(np.mean(resting)) / ratio if ratio else 0.0)
    rest_mean = float(np.mean(resting)) if resting else work_mean * ratio
    year_working = scenario.calendar.working_days_per_year
    return work_mean * year_working + rest_mean * (DAYS_PER_YEAR - year_working)


def _km_of(powertrain: Powertrain) -> Callable[[DayResult], float]:
    return lambda d: d.km_by_powertrain.get(powertrain.value, 0.0)


def resting_ratio(scenario: Scenario) -> float:
    """Expected trips on a weekend or holiday relative to a working day, from the scenario's demand."""
    demand = scenario.demand
    work = rest = 0.0
    for agency in scenario.fleet.agencies:
        mix = agency.priorities or demand.priorities
        total = sum(mix.values()) or 1.0
        for priority, share in mix.items():
            work += agency.trips * share / total
            rest += agency.trips * share / total * demand.non_working_factor.get(priority, 1.0)
    return rest / work if work else 0.0


def _sum(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            out[key] = out.get(key, 0) + value
    return out


def _most(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {c.value: 0 for c in Category}
    for count in counts:
        for key, value in count.items():
            out[key] = max(out.get(key, 0), value)
    return out


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 1.0


def percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None
