"""The fleet a scenario holds: the agencies' vehicles after the policy levers (scale, new-energy share).

Every choice about a vehicle (its seats, shift, whether it is cut or converted) is drawn from a generator seeded by
the scenario's seed and the vehicle's id, never from the order of a loop, so that the levers are nested: the fleet at
60 % is a subset of the fleet at 80 %, the vehicles converted for a 50 % new-energy share include those converted
for 30 %. That is what makes a sweep a frontier rather than a scatter of unrelated fleets.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from dispatch.problem import Category, Powertrain
from dispatch.synthetic import pick
from scenarios.spec import AgencySpec, Scenario, VehicleSpec


@dataclass(frozen=True)
class SimVehicle:
    id: str
    agency: str
    category: Category
    seats: int
    powertrain: Powertrain
    range_km: float | None  # per shift; None = no limit
    shift: tuple[int, int]  # minutes after the day's midnight
    depot: tuple[float, float]


def _rng(scenario: Scenario, *key: object) -> random.Random:
    # str seeds hash with SHA-512: stable across runs and processes, unlike hash().
    return random.Random(":".join(str(part) for part in (scenario.seed, *key)))


def agency_vehicles(scenario: Scenario, agency: AgencySpec) -> list[VehicleSpec]:
    """The agency's vehicles as the file has them, or drawn from its counts (synthetic fleets)."""
    if isinstance(agency.vehicles, list):
        return agency.vehicles
    fleet = scenario.fleet
    out = []
    for category, count in agency.vehicles.items():
        for k in range(count):
            vid = f"{agency.code}-{category.value[:3].upper()}{k + 1}"
            rng = _rng(scenario, "vehicle", vid)
            seats = pick(rng, [(s, w) for s, w in sorted(fleet.seats.items())])
            nev = rng.random() < fleet.initial_nev_share
            powertrain = (Powertrain.bev if rng.random() < 0.75 else Powertrain.phev) if nev else (
                Powertrain.hev if rng.random() < 0.25 else Powertrain.ice)
            out.append(VehicleSpec(id=vid, category=category, seats=seats, powertrain=powertrain))
    return out


def held(scenario: Scenario, scale: float = 1.0) -> list[SimVehicle]:
    """The vehicles the scenario holds, with ``scale`` on top of its own levers (for sweeps)."""
    fleet = scenario.fleet
    by_category: dict[Category, list[tuple[float, VehicleSpec, AgencySpec]]] = {}
    for agency in fleet.agencies:
        vehicles = agency_vehicles(scenario, agency)
        per_category: dict[Category, list[VehicleSpec]] = {}
        for vehicle in vehicles:
            per_category.setdefault(vehicle.category, []).append(vehicle)
        for category, group in per_category.items():
            group = sorted(group, key=lambda v: _rng(scenario, "order", v.id).random())
            # Rank within the agency, spread over [0, 1): cutting the lowest-ranked keeps every agency's share.
            for rank, vehicle in enumerate(group):
                key = (rank + _rng(scenario, "tie", vehicle.id).random()) / len(group)
                by_category.setdefault(category, []).append((key, vehicle, agency))
    chosen: list[tuple[VehicleSpec, AgencySpec]] = []
    for category, ranked in sorted(by_category.items()):
        ranked.sort(key=lambda item: item[0])
        factor = fleet.scale * fleet.scale_by_category.get(category, 1.0) * scale
        keep = round(len(ranked) * factor)
        for k in range(keep):  # above 100 %, the first-ranked vehicles are bought again
            _, vehicle, agency = ranked[k % len(ranked)]
            copy = k // len(ranked)
            chosen.append((vehicle.model_copy(update={"id": f"{vehicle.id}+{copy}"}) if copy else vehicle, agency))
    out = [_sim(scenario, vehicle, agency) for vehicle, agency in chosen]
    return out if fleet.nev_share is None else _convert(scenario, out, fleet.nev_share)


def _sim(scenario: Scenario, vehicle: VehicleSpec, agency: AgencySpec) -> SimVehicle:
    rng = _rng(scenario, "shift", vehicle.id)
    shift = pick(rng, [(tuple(s), w) for s, w in scenario.fleet.shifts[vehicle.category]])
    return _powered(scenario, SimVehicle(
        id=vehicle.id,
        agency=agency.code,
        category=vehicle.category,
        seats=vehicle.seats,
        powertrain=vehicle.powertrain,
        range_km=vehicle.range_km,
        shift=(shift[0], shift[1]),
        depot=(vehicle.lat, vehicle.lon) if vehicle.lat is not None and vehicle.lon is not None
        else (agency.lat, agency.lon),
    ))


def _powered(scenario: Scenario, vehicle: SimVehicle) -> SimVehicle:
    """Battery-electric vehicles charge only overnight at the depot: a shift gets the usable part of one charge."""
    if vehicle.powertrain != Powertrain.bev:
        return replace(vehicle, range_km=None)
    rated = vehicle.range_km or scenario.fleet.battery_range_km
    return replace(vehicle, range_km=round(rated * scenario.fleet.usable_range, 1))


def _convert(scenario: Scenario, vehicles: list[SimVehicle], share: float) -> list[SimVehicle]:
    """Replace fuel vehicles by the new-energy powertrain until ``share`` of the fleet is new-energy."""
    fuel = [k for k, v in enumerate(vehicles) if not scenario.is_new_energy(v.powertrain)]
    missing = math.ceil(share * len(vehicles) - 1e-9) - (len(vehicles) - len(fuel))
    if missing <= 0:
        return vehicles
    fuel.sort(key=lambda k: _rng(scenario, "convert", vehicles[k].id.split("+")[0]).random())
    out = list(vehicles)
    for k in fuel[:missing]:
        out[k] = _powered(scenario, replace(vehicles[k], powertrain=scenario.fleet.nev_powertrain, range_km=None))
    return out
