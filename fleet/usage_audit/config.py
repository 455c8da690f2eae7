"""The audit's rules as data: thresholds, calendar and geofences, read from the shipped YAML and an override file."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleet.enums import Priority
from fleet.errors import FieldError, PolicyError, error_location
from fleet.i18n import msg, pydantic_message
from fleet.policy import line_of, merge, parse_yaml
from fleet.settings import get_settings
from fleet.usage_audit.calendar import Calendar
from fleet.usage_audit.geofences import AnyGeofence

# Beside the package rather than in it: the settings, the README and the demos name ``fleet/usage_audit.yaml``.
SHIPPED_RULES = Path(__file__).parent.with_name("usage_audit.yaml")


class AuditRules(BaseModel):
    """The usage audit's thresholds, calendar and geofences. The defaults here are the rules' own (holidays from
    the chinese-calendar package); the shipped ``usage_audit.yaml`` adds example geofences. The calendar's keys are
    `Calendar`'s: ``holidays`` override the package day by day, and only a year named in ``covered_years`` (whose
    whole arrangement the file lists) is added to the years the calendar covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: Calendar = Calendar()
    off_hours_exempt: frozenset[Priority] = Field(
        default=frozenset({Priority.emergency, Priority.law_enforcement}),
        description="Trip priorities that may run at any hour (应急 and 执法执勤 work round the clock).",
    )
    road_factor: float = Field(
        default=1.3, ge=1.0, le=5.0,
        description="Road km per geodesic km, as bookings and the dispatch engine estimate trips.",
    )
    odometer_gap_km: float = Field(
        default=30.0, ge=0,
        description="Unexplained km between consecutive trips tolerated before 无单出车 is suspected: a detour "
        "to refuel, charge, wash or reach the workshop in a city stays well within 30 km.",
    )
    overdriven_ratio: float = Field(
        default=1.5, ge=1.0,
        description="Odometer km over planned road km that is flagged: planned km is geodesic x 1.3, a city-wide "
        "average; 1.5 lets a route run ~15% longer than that estimate (river crossings, ring roads, one-way "
        "streets) before it is flagged.",
    )
    overdriven_slack_km: float = Field(
        default=5.0, ge=0,
        description="Km a trip may exceed its planned km by whatever the ratio: odometers read whole km (a 1 km "
        "trip can read 3) and a short trip's detour is a large multiple of nothing.",
    )
    geofences: tuple[AnyGeofence, ...] = ()
    geofence_exempt: frozenset[Priority] = Field(
        default=frozenset(),
        description="Trip priorities not checked against geofences (none by default: a supervisor reads the "
        "purpose of an enforcement trip to a KTV street rather than never seeing it).",
    )

    @model_validator(mode="after")
    def _unique_fence_names(self) -> AuditRules:
        seen: set[str] = set()
        for index, fence in enumerate(self.geofences):
            if fence.name in seen:
                raise FieldError(f"geofences.{index}.name", msg("geofence {name!r} is listed twice", name=fence.name))
            seen.add(fence.name)
        return self

    def is_working_time(self, moment: datetime) -> bool:
        """Whether an aware instant falls within working hours of a working day (local time)."""
        return self.calendar.is_working_time(moment)


# pydantic puts a discriminated union's tag into the error location ("geofences.2.circle.radius_m"); the file
# has no such key.
_UNION_TAGS = frozenset({"circle", "polygon"})


def _read(path: Path) -> tuple[yaml.Node | None, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(msg("{path}: cannot read the usage audit rules ({problem})", path=str(path),
                              problem=str(exc.strerror or exc))) from exc
    node, raw = parse_yaml(path, text)
    if raw is None:
        return node, {}
    if not isinstance(raw, dict):
        raise PolicyError(msg("{path}:1: a usage audit rules file is a mapping of rule settings", path=str(path)))
    return node, raw


def _validate(path: Path, node: yaml.Node | None, raw: Mapping[str, Any]) -> AuditRules:
    try:
        return AuditRules.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        full = error_location(err)
        loc = tuple(p for i, p in enumerate(full)
                    if not (p in _UNION_TAGS and i > 0 and isinstance(full[i - 1], int)))
        field = ".".join(str(p) for p in loc)
        raise PolicyError(msg("{path}:{line}: field '{field}': {reason}", path=str(path), line=line_of(node, loc),
                              field=field, reason=pydantic_message(err)), field=field) from exc


@lru_cache
def _shipped() -> tuple[dict[str, Any], AuditRules]:
    node, raw = _read(SHIPPED_RULES)
    return raw, _validate(SHIPPED_RULES, node, raw)


def default_rules() -> AuditRules:
    """The rules shipped in ``fleet/usage_audit.yaml`` (loaded once)."""
    return _shipped()[1]


def load_rules(path: Path) -> AuditRules:
    """A rules file over the shipped defaults, key by key; a bad file is refused naming file, line and field."""
    node, raw = _read(path)
    if path.resolve() == SHIPPED_RULES.resolve():
        return _validate(path, node, raw)
    return _validate(path, node, merge(_shipped()[0], raw))


@lru_cache
def _rules_file(path: Path) -> AuditRules:
    return load_rules(path)


def configured_rules() -> AuditRules:
    """The rules in ``GONGCHE_USAGE_AUDIT_FILE`` if set (loaded once per file), else the shipped defaults."""
    path = get_settings().usage_audit_file
    return default_rules() if path is None else _rules_file(path.resolve())
