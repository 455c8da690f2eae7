"""A scenario file: the fleet, its demand, the policy change and the costs, validated whole by pydantic.

A file may start from another (``extends: baseline.yaml``) and state only what it changes; mappings merge key by
key, lists are replaced. A bad file is refused with `ScenarioError` naming the file, the line and the field.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dispatch.problem import Category, Powertrain, Priority
from dispatch.synthetic.city import ROAD_FACTOR, SHIFTS, SPEED_KMH
from fleet.enums import Powertrain as FleetPowertrain
from fleet.errors import PolicyError, error_location
from fleet.policy import NATIONAL, locate, merge, parse_yaml
from fleet.schemas import Latitude, Longitude

Share = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]
Money = Annotated[float, Field(ge=0, le=1e9)]
Minutes = Annotated[int, Field(ge=0, le=24 * 60)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioError(ValueError):
    """A scenario file that cannot be run as written; ``field`` is the dotted path of the offending entry."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# -- fleet -------------------------------------------------------------------------------------------------------


class VehicleSpec(_Spec):
    """One vehicle of an exported fleet (``gongche fleet export``)."""

    id: str = Field(min_length=1, max_length=64)
    category: Category
    seats: int = Field(default=5, ge=1, le=60)
    powertrain: Powertrain = Powertrain.ice
    range_km: float | None = Field(default=None, gt=0, le=2000)
    # Where this vehicle parks, if the registry knows: an agency's cars are often kept at several yards, and the
    # agency's mean position can be far from all of them.
    lat: Latitude | None = Field(default=None, description="its own yard; default: the agency's")
    lon: Longitude | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> VehicleSpec:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both 'lat' and 'lon' of the vehicle's yard, or neither")
        return self


class AgencySpec(_Spec):
    """An agency (单位): where its vehicles park, what it holds and how many trips it books per working day."""

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)
    lat: Latitude
    lon: Longitude
    vehicles: dict[Category, Annotated[int, Field(ge=0, le=5000)]] | list[VehicleSpec] = Field(
        description="counts per category (synthetic) or the vehicles themselves (exported)"
    )
    trips: float = Field(ge=0, le=20000, description="trips booked per working day, on average")
    priorities: dict[Priority, Share] | None = Field(
        default=None, description="priority mix; the demand's default if unset"
    )
    routine_categories: tuple[Category, ...] = Field(
        default=(Category.general,), min_length=1, description="vehicle categories that may serve its routine trips"
    )

    def held(self) -> dict[Category, int]:
        if isinstance(self.vehicles, dict):
            return {c: n for c, n in self.vehicles.items() if n}
        counts: dict[Category, int] = {}
        for vehicle in self.vehicles:
            counts[vehicle.category] = counts.get(vehicle.category, 0) + 1
        return counts


Shift = tuple[Minutes, Annotated[int, Field(ge=1, le=48 * 60)]]


def _default_shifts() -> dict[Category, list[tuple[Shift, float]]]:
    return {Category(category): list(table) for category, table in SHIFTS.items()}  # the synthetic city's


class FleetSpec(_Spec):
    """The agencies and their vehicles, and the policy levers that act on the fleet."""

    agencies: list[AgencySpec] = Field(min_length=1)
    scale: float = Field(default=1.0, ge=0, le=5, description="fleet held, as a share of the agencies' vehicles")
    scale_by_category: dict[Category, Annotated[float, Field(ge=0, le=5)]] = Field(default_factory=dict)
    nev_share: Share | None = Field(
        default=None, description="new-energy share to reach by converting fuel vehicles; None keeps the fleet's"
    )
    nev_powertrain: Powertrain = Powertrain.bev
    initial_nev_share: Share = Field(default=0.2, description="synthetic fleets: share of new-energy vehicles")
    battery_range_km: Positive = Field(default=300, le=1500, description="rated range of battery-electric vehicles")
    usable_range: Share = Field(
        default=0.8, description="share of the rated range usable in a shift: winter, air-con and a reserve"
    )
    seats: dict[int, Share] = Field(default_factory=lambda: {5: 0.7, 7: 0.25, 12: 0.05})
    shifts: dict[Category, list[tuple[Shift, Positive]]] = Field(default_factory=_default_shifts)

    @model_validator(mode="after")
    def _codes_unique(self) -> FleetSpec:
        codes = [a.code for a in self.agencies]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"agency code {twice[0]!r} appears twice")
        return self


# -- demand ------------------------------------------------------------------------------------------------------


def _profile(*peaks: tuple[int, float]) -> list[float]:
    weights = [0.05] * 24
    for hour, weight in peaks:
        weights[hour] = weight
    return weights


def _default_profiles() -> dict[Priority, list[float]]:
    office = [(7, 0.4), (8, 2.2), (9, 2.6), (10, 1.6), (11, 0.9), (12, 0.2), (13, 0.6), (14, 1.8), (15, 2.0),
              (16, 1.4), (17, 0.5)]
    patrols = [*office, (18, 0.4), (19, 0.5), (20, 0.5), (21, 0.4), (22, 0.2)]
    return {
        Priority.routine: _profile(*office),
        Priority.law_enforcement: _profile(*patrols),
        Priority.emergency: _profile(*[(h, 0.6) for h in range(7)], *[(h, 1.0) for h in range(7, 24)]),
    }


class HotSpot(_Spec):
    name: str
    lat: Latitude
    lon: Longitude
    weight: Positive


class ReplaySpec(_Spec):
    """Replay booked trips instead of generating them: a CSV (``gongche trips export``) or the database itself."""

    csv: Path | None = None
    database: str | None = Field(default=None, description="SQLAlchemy URL of a Gongche database")

    @model_validator(mode="after")
    def _one_source(self) -> ReplaySpec:
        if (self.csv is None) == (self.database is None):
            raise ValueError("give exactly one of 'csv' and 'database'")
        return self


class DemandSpec(_Spec):
    """How trips arise: each agency's rate (on `AgencySpec`), when, how urgent, where to, how long they keep the car."""

    priorities: dict[Priority, Share] = Field(
        default_factory=lambda: {Priority.emergency: 0.03, Priority.law_enforcement: 0.2, Priority.routine: 0.77}
    )
    profiles: dict[Priority, Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)]] = (
        Field(default_factory=_default_profiles, description="relative weight of each hour of the day")
    )
    non_working_factor: dict[Priority, Annotated[float, Field(ge=0, le=10)]] = Field(
        default_factory=lambda: {Priority.emergency: 1.0, Priority.law_enforcement: 0.4, Priority.routine: 0.08},
        description="demand on weekends and holidays relative to a working day",
    )
    hot_spots: list[HotSpot] | None = Field(default=None, description="default: the city's government compounds, "
                                                                         "hospitals and stations")
    from_agency: Share = Field(default=0.6, description="share of non-emergency trips that start at the agency")
    to_hot_spot: Share = Field(default=0.45, description="share of trips that end at a hot spot")
    trip_km_median: Positive = Field(default=6.0, le=200)
    trip_km_sigma: float = Field(default=0.6, ge=0, le=3, description="log-normal spread of trip lengths")
    max_trip_km: Positive = Field(default=40, le=500)
    window_min: dict[Priority, Annotated[int, Field(ge=0, le=24 * 60)]] = Field(
        default_factory=lambda: {Priority.emergency: 15, Priority.law_enforcement: 20, Priority.routine: 30},
        description="pickup window width, minutes",
    )
    dwell_min: dict[Priority, Annotated[float, Field(ge=0, le=600)]] = Field(
        default_factory=lambda: {Priority.emergency: 20.0, Priority.law_enforcement: 40.0, Priority.routine: 45.0},
        description="mean minutes the vehicle waits with the party (exponential; a third are drop-offs only)",
    )
    replay: ReplaySpec | None = None


class CalendarSpec(_Spec):
    start: date = date(2026, 11, 23)
    days: int = Field(default=5, ge=1, le=366)
    holidays: list[date] = Field(default_factory=list, description="non-working weekdays (法定节假日)")
    workdays: list[date] = Field(default_factory=list, description="working weekend days (调休)")
    working_days_per_year: int = Field(default=249, ge=0, le=366)

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=k) for k in range(self.days)]

    def working(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


class SurgeSpec(_Spec):
    """A major event (重大活动保障): demand multiplied on some days, emergencies more so."""

    first_day: int = Field(default=0, ge=0, le=365, description="index of the first surge day in the calendar")
    days: int = Field(default=3, ge=1, le=366)
    factor: float = Field(default=3.0, ge=0, le=20)
    emergency_factor: float = Field(default=5.0, ge=0, le=50)

    def on(self, index: int) -> bool:
        return self.first_day <= index < self.first_day + self.days


class RentalSpec(_Spec):
    """Unserved routine trips go to a rental company (社会化租赁) with driver, paid per km and per trip."""

    price_per_km: Money = 3.5
    price_per_trip: Money = 30.0
    co2_g_per_km: Annotated[float, Field(ge=0, le=2000)] = 190.0


class DispatchSpec(_Spec):
    mode: Literal["pool", "separate"] = Field(
        default="pool", description="one pool across agencies (跨部门统一调度), or each agency's own vehicles only"
    )
    time_limit_s: float = Field(
        default=1.0, gt=0, le=600, description="solver work per batch, in seconds of the reference machine"
    )
    road_factor: float = Field(default=ROAD_FACTOR, ge=1, le=5)  # the synthetic city's roads
    speed_kmh: float = Field(default=SPEED_KMH, ge=1, le=200)
    notice_min: int = Field(default=0, ge=0, le=120, description="emergencies are known this long before pickup")


class PowertrainCost(_Spec):
    price: Money = Field(description="purchase price, CNY")
    life_years: float = Field(gt=0, le=30)
    energy_per_km: Money
    maintenance_per_km: Money
    co2_g_per_km: Annotated[float, Field(ge=0, le=2000)] = Field(description="tank-to-wheel, or grid for electricity")


def _default_costs() -> dict[Powertrain, PowertrainCost]:
    # 8 L/100 km at 7.8 CNY/L and 2.37 kg CO2/L; 16 kWh/100 km at 0.75 CNY/kWh and 0.58 kg CO2/kWh (China grid).
    return {
        Powertrain.ice: PowertrainCost(price=180_000, life_years=8, energy_per_km=0.62, maintenance_per_km=0.25,
                                       co2_g_per_km=190),
        Powertrain.hev: PowertrainCost(price=200_000, life_years=8, energy_per_km=0.41, maintenance_per_km=0.22,
                                       co2_g_per_km=125),
        Powertrain.phev: PowertrainCost(price=210_000, life_years=8, energy_per_km=0.28, maintenance_per_km=0.20,
                                        co2_g_per_km=100),
        Powertrain.bev: PowertrainCost(price=200_000, life_years=8, energy_per_km=0.12, maintenance_per_km=0.12,
                                       co2_g_per_km=93),
        Powertrain.fcev: PowertrainCost(price=400_000, life_years=8, energy_per_km=0.45, maintenance_per_km=0.20,
                                        co2_g_per_km=80),
    }


class CostSpec(_Spec):
    powertrains: dict[Powertrain, PowertrainCost] = Field(default_factory=_default_costs)
    fixed_per_vehicle_year: Money = Field(default=12_000, description="insurance, inspection, parking")

    @model_validator(mode="after")
    def _all_powertrains(self) -> CostSpec:
        missing = [p.value for p in Powertrain if p not in self.powertrains]
        if missing:
            raise ValueError(f"no costs for powertrain {missing[0]!r}")
        return self


class SweepSpec(_Spec):
    """Fleet sizes to simulate, as shares of the scenario's fleet, for the fleet-size frontier."""

    scales: list[Annotated[float, Field(gt=0, le=5)]] = Field(min_length=1)
    replications: int = Field(default=1, ge=1, le=100)
    days: int | None = Field(default=None, ge=1, le=366, description="default: the calendar's")


class Scenario(_Spec):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    title: str = ""
    description: str = ""
    seed: int = Field(default=0, ge=0, le=2**31)
    replications: int = Field(default=2, ge=1, le=100)
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    fleet: FleetSpec
    demand: DemandSpec = Field(default_factory=DemandSpec)
    dispatch: DispatchSpec = Field(default_factory=DispatchSpec)
    surge: SurgeSpec | None = None
    rental: RentalSpec | None = None
    costs: CostSpec = Field(default_factory=CostSpec)
    sweep: SweepSpec | None = None

    def is_new_energy(self, powertrain: Powertrain) -> bool:
        return NATIONAL.is_new_energy(FleetPowertrain(powertrain.value))


def load(path: Path) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file; `ScenarioError` names file, line and field."""
    links = chain(Path(path), [])
    data: dict[str, Any] = {}
    for _, _, raw in reversed(links):
        data = merge(data, raw)
    data.pop("extends", None)
    fleet = data.get("fleet")
    if isinstance(fleet, dict) and isinstance(fleet.get("file"), str):
        data["fleet"] = _fleet_file(links, fleet)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        error = _first(exc.errors(include_url=False))
        loc = tuple(part for part in error_location(error) if not _branch(part))
        where = max(links, key=lambda link: locate(link[1], loc)[1])  # the file that wrote the deepest part
        line = locate(where[1], loc)[0]
        field = ".".join(str(part) for part in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ScenarioError(f"{where[0]}:{line}: field '{field}': {message}", field) from None


def _branch(part: str | int) -> bool:
    """Whether a location part names a branch of a union (``list[VehicleSpec]``) rather than a field."""
    return isinstance(part, str) and "[" in part


def _first(errors: list[Any]) -> Any:
    """The first error, passing over a union's branch that the input is not even the type of: a list of vehicles
    with a bad entry is reported as that entry's error, not as "Input should be a valid dictionary"."""
    def mismatched(error: Any) -> bool:
        return str(error["type"]) in ("dict_type", "list_type") and any(_branch(p) for p in error["loc"])

    return next((e for e in errors if not mismatched(e)), errors[0])


def chain(path: Path, seen: list[Path]) -> list[tuple[Path, yaml.Node | None, dict[str, Any]]]:
    """The file and those it extends, most derived first."""
    if path.resolve() in seen:
        raise ScenarioError(f"{path}: 'extends' loops back to itself", "extends")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    node, raw = _parse(path, text)
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}:1: a scenario file is a mapping (name, fleet, demand, ...)")
    link = (path, node, raw)
    parent = raw.get("extends")
    if parent is None:
        return [link]
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}:{locate(node, ['extends'])[0]}: field 'extends': a file name", "extends")
    return [link, *chain(path.parent / parent, [*seen, path.resolve()])]


def _parse(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    try:
        return parse_yaml(path, text)
    except PolicyError as exc:
        raise ScenarioError(str(exc)) from None


def _fleet_file(links: list[tuple[Path, yaml.Node | None, dict[str, Any]]], fleet: dict[str, Any]) -> dict[str, Any]:
    """``fleet: {file: export.yaml, ...levers}``: the agencies come from the exported file."""
    owner = next(link for link in links if isinstance(link[2].get("fleet"), dict) and "file" in link[2]["fleet"])
    path = owner[0].parent / fleet["file"]
    try:
        _node, raw = _parse(path, path.read_text(encoding="utf-8"))
    except OSError as exc:
        line = locate(owner[1], ["fleet", "file"])[0]
        raise ScenarioError(f"{owner[0]}:{line}: field 'fleet.file': cannot read {path}: {exc.strerror}",
                            "fleet.file") from None
    if not isinstance(raw, dict) or "agencies" not in raw:
        raise ScenarioError(f"{path}:1: an exported fleet is a mapping with 'agencies'", "fleet.file")
    rest = {k: v for k, v in fleet.items() if k != "file"}
    return {**rest, "agencies": raw["agencies"]}
