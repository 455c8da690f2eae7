"""The rules of official-vehicle management as data: national defaults, overridden per jurisdiction by YAML.

A jurisdiction's policy is the national default, then each ancestor's file, then its own, merged key by key
(so a city file that sets only ``renewal_years`` keeps the province's new-energy minimum). The defaults and
their sources are listed on ``Policy``'s fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from fleet.enums import Category, Powertrain
from fleet.errors import FieldError, PolicyError, error_location
from fleet.i18n import msg, pydantic_message


class Standard(BaseModel):
    """Equipment standard (配备标准) of one category for sedans and small passenger vehicles (<= 9 seats)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_price_cny: Decimal = Field(gt=0)
    max_displacement_l: Decimal | None = Field(default=None, gt=0)
    # A higher tier that needs a recorded justification (执法执勤: 18万/1.8L for special duty).
    justified_max_price_cny: Decimal | None = Field(default=None, gt=0)
    justified_max_displacement_l: Decimal | None = Field(default=None, gt=0)


class BusStandard(BaseModel):
    """Price cap for buses (客车) by seat count, from the jurisdiction's table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_seats: StrictInt = Field(ge=2)
    max_seats: StrictInt | None = Field(default=None, ge=2)
    max_price_cny: Decimal = Field(gt=0)

    def covers(self, seats: int) -> bool:
        return seats >= self.min_seats and (self.max_seats is None or seats <= self.max_seats)


class ShareFromYear(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_year: StrictInt = Field(ge=2000, le=2100)
    share: float = Field(ge=0, le=1)


_2017 = "党政机关公务用车管理办法 (中办发〔2017〕71号)"

# Whose approved plans the new-energy share is counted over: the province's whole subtree, or each jurisdiction's own.
ShareScope = Literal["province", "jurisdiction"]


class Policy(BaseModel):
    """One jurisdiction's rules. Defaults are the national ones; each field names where its default comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    new_energy_powertrains: frozenset[Powertrain] = Field(
        default=frozenset({Powertrain.bev, Powertrain.phev, Powertrain.fcev}),
        description="Powertrains that count as new-energy (新能源汽车: BEV, PHEV incl. range-extended, FCEV). "
        "HEV counts only where a jurisdiction says so.",
    )
    new_energy_min_share: tuple[ShareFromYear, ...] = Field(
        default=(ShareFromYear(from_year=2025, share=0.30),),
        description="Minimum new-energy share of new and replacement vehicles per plan year "
        "(新增及更新车辆中新能源汽车比例不低于30%, from 2025).",
    )
    new_energy_share_scope: ShareScope = Field(
        default="province",
        description="Over whose approved additions and renewals the new-energy share is counted: `province` (the "
        "national plan sets the share per province, 各省(区、市): every jurisdiction under the province together, "
        "against the province's own minimum, so a county buying one car need not make it new-energy) or "
        "`jurisdiction` (the plans of the plan's own jurisdiction and those under it, against its own minimum: a "
        "stricter local rule).",
    )
    renewal_years: StrictInt = Field(
        default=8, ge=1, le=30, description=f"Minimum age of a vehicle replaced by renewal ({_2017}: 8 years)."
    )
    standards: Mapping[Category, Standard | None] = Field(
        default_factory=lambda: {
            Category.confidential_comms: Standard(max_price_cny=Decimal(120000), max_displacement_l=Decimal("1.6")),
            Category.emergency: Standard(max_price_cny=Decimal(180000), max_displacement_l=Decimal("1.8")),
            Category.general: Standard(max_price_cny=Decimal(180000), max_displacement_l=Decimal("1.8")),
            Category.law_enforcement: Standard(
                max_price_cny=Decimal(120000),
                max_displacement_l=Decimal("1.6"),
                justified_max_price_cny=Decimal(180000),
                justified_max_displacement_l=Decimal("1.8"),
            ),
            # 特种专业技术用车 follows each trade's own standard: no national cap to check by default.
            Category.special_technical: None,
        },
        description=f"Equipment standards per category ({_2017}).",
    )
    new_energy_sedan_max_price_cny: Decimal = Field(
        default=Decimal(180000), gt=0,
        description=f"Price cap of a new-energy sedan in every category ({_2017}: 18万元); it replaces the "
        "category's own cap, up or down.",
    )
    bus_min_seats: StrictInt = Field(default=10, ge=6, description="From this many seats a vehicle is a bus (客车).")
    buses: tuple[BusStandard, ...] = Field(
        default=(
            BusStandard(min_seats=10, max_seats=19, max_price_cny=Decimal(300000)),
            BusStandard(min_seats=20, max_price_cny=Decimal(400000)),
        ),
        description="Bus price caps by seats. Set by each jurisdiction; the defaults are illustrative.",
    )

    @model_validator(mode="after")
    def _shares_in_year_order(self) -> Policy:
        years = [s.from_year for s in self.new_energy_min_share]
        if years != sorted(set(years)):
            raise FieldError("new_energy_min_share", msg("must list distinct from_year values in increasing order"))
        return self

    def is_new_energy(self, powertrain: Powertrain) -> bool:
        return powertrain in self.new_energy_powertrains

    def min_new_energy_share(self, year: int) -> float:
        """The minimum share in force for ``year`` (0 before the first entry)."""
        share = 0.0
        for step in self.new_energy_min_share:
            if step.from_year <= year:
                share = step.share
        return share

    def bus_standard(self, seats: int) -> BusStandard | None:
        return next((b for b in self.buses if b.covers(seats)), None)


NATIONAL = Policy()


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the YAML entry at pydantic's error location (a mapping entry's key line), or of the
    nearest ancestor found."""
    return locate(node, loc)[0]


def locate(node: yaml.Node | None, loc: Sequence[int | str]) -> tuple[int | None, int]:
    """`line_of`, and how many parts of ``loc`` the file holds (to tell which of several merged files set it)."""
    line = node.start_mark.line + 1 if node is not None else None
    depth = 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
        depth += 1
    return line, depth


class PolicyFile(BaseModel):
    """A jurisdiction's YAML file: ``jurisdiction: <code>`` and any subset of ``Policy``'s fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jurisdiction: str = Field(min_length=1)
    overrides: dict[str, Any]
    source: str


def parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data of ``text``; a syntax error names the file and line."""
    try:
        return yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise PolicyError(msg("{where}: not valid YAML ({problem})", where=where,
                              problem=str(getattr(exc, "problem", exc)))) from exc


def load_policy_file(path: Path) -> PolicyFile:
    """Read and validate one policy file, refusing it with file, line and field on the first error."""
    node, raw = parse_yaml(path, path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise PolicyError(msg("{path}:1: a policy file is a mapping with 'jurisdiction' and policy fields",
                              path=str(path)))
    raw = dict(raw)
    code = raw.pop("jurisdiction", None)
    if not isinstance(code, str | int) or not str(code).strip():
        raise PolicyError(msg("{path}:1: field 'jurisdiction' is required (the jurisdiction's code)", path=str(path)),
                          field="jurisdiction")
    try:
        Policy.model_validate(merge(NATIONAL.model_dump(mode="json"), raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = error_location(err)
        field = ".".join(str(p) for p in loc)
        raise PolicyError(msg("{path}:{line}: field '{field}': {reason}", path=str(path), line=line_of(node, loc),
                              field=field, reason=pydantic_message(err)), field=field) from exc
    return PolicyFile(jurisdiction=str(code), overrides=raw, source=str(path))


class PolicyBook:
    """All jurisdictions' overrides; answers the merged policy along a jurisdiction's ancestry."""

    def __init__(self, files: Iterable[PolicyFile] = ()) -> None:
        self._files: dict[str, PolicyFile] = {}
        for f in files:
            if f.jurisdiction in self._files:
                raise PolicyError(
                    msg("{source}: jurisdiction {jurisdiction} already has a policy in {other}", source=f.source,
                        jurisdiction=f.jurisdiction, other=self._files[f.jurisdiction].source),
                    field="jurisdiction",
                )
            self._files[f.jurisdiction] = f

    @classmethod
    def from_dir(cls, directory: Path | None) -> PolicyBook:
        """Load every ``*.yaml`` in ``directory``; no directory means national defaults everywhere."""
        if directory is None or not directory.is_dir():
            return cls()
        return cls(load_policy_file(p) for p in sorted(directory.glob("*.yaml")))

    def for_chain(self, codes_root_first: Sequence[str]) -> Policy:
        """The policy of the last jurisdiction in ``codes_root_first`` (province, city, county ...)."""
        merged = NATIONAL.model_dump(mode="json")
        for code in codes_root_first:
            if code in self._files:
                merged = merge(merged, self._files[code].overrides)
        return Policy.model_validate(merged)
