"""The audit's rules as data: thresholds, calendar and geofences, read from the shipped YAML and an override file."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleet.enums import Priority
from fleet.errors import FieldError, PolicyError, error_location
from fleet.i18n import msg, pydantic_message
from fleet.policy import line_of, merge, parse_yaml
from fleet.settings import get_settings
from fleet.tracks import DriveRules, FixRules
from fleet.usage_audit.calendar import Calendar
from fleet.usage_audit.geofences import AnyGeofence

# JT/T 808 alarm flag bits (JT/T 808-2013 table 24, unchanged in 2019) that say the terminal is being cut off or
# unplugged: 5 GNSS antenna not connected or cut (GNSS天线未接或被剪断), 7 main power undervoltage (终端主电源欠压),
# 8 main power cut (终端主电源掉电). Bit numbers as in SmallChi/JT808 src/JT808.Protocol/Enums/JT808Alarm.cs and
# Traccar's HuabaoProtocolDecoder.decodeAlarm (5 gpsAntennaCut, 7 lowBattery, 8 powerOff).
TAMPER_ALARM_BITS = {5: "GNSS天线未接或被剪断", 7: "终端主电源欠压", 8: "终端主电源掉电"}


class TrackRules(BaseModel):
    """Thresholds of the rules that read the vehicles' tracks (fleet.tracks, fleet.usage_audit.track_checks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    moving_kmh: float = Field(
        default=5.0, gt=0, le=30,
        description="Above this GNSS speed a vehicle moves: a parked car's reported speed wanders to 2-3 km/h.",
    )
    min_stop_minutes: float = Field(
        default=5.0, gt=0, le=120,
        description="A stop this long (or the ignition off) ends a drive: longer than a red light or a jam's "
        "standstill, shorter than any errand.",
    )
    stop_radius_m: float = Field(
        default=200.0, gt=0, le=5000,
        description="A silence with less displacement than this is a stop (a terminal sleeps when parked); more "
        "is a signal loss on the move (a tunnel), and the drive goes on.",
    )
    match_tolerance_minutes: float = Field(
        default=60.0, ge=0, le=24 * 60,
        description="The most a booking is widened before its start and after its end (and the widening of a "
        "vehicle with no yard on record): the drive from the yard to the pickup and back after the drop-off "
        "(up to ~45 min across a city) and the wait. A drive only has to overlap the widened booking, so a long "
        "approach still matches; a flat hour would also hide an unbooked errand started within the hour after "
        "the vehicle is back, hence the vehicle's own drive below.",
    )
    match_city_kmh: float = Field(
        default=25.0, gt=0, le=120,
        description="The speed a booking's drives there and back are timed at: the yard to the pickup and the "
        "drop-off to the yard, geodesic km x road_factor at this speed (big Chinese cities' average driving "
        "speed in the day is 25-30 km/h; the slower end leaves more room).",
    )
    match_margin_minutes: float = Field(
        default=20.0, ge=0, le=24 * 60,
        description="Added to the drives there and back: arriving early at the pickup, a jam, a fuel stop, and a "
        "parked terminal's report interval (the drive's first fix may be one interval before it sets off).",
    )
    unscheduled_min_km: float = Field(
        default=1.0, ge=0,
        description="A drive without a booking shorter than this is not 非调度用车: moving a car in the yard or "
        "to the wash bay next door.",
    )
    detour_corridor_km: float = Field(
        default=2.0, gt=0,
        description="How far a trip's track may stray from the straight lines home -> pickup -> drop-off: city "
        "roads run up to ~2 km off the straight line.",
    )
    detour_corridor_ratio: float = Field(
        default=0.25, ge=0, le=2,
        description="... or this share of the longest leg, whichever is wider: a long trip's road bends further "
        "from the straight line (ring roads, river crossings).",
    )
    detour_end_radius_m: float = Field(
        default=1000.0, gt=0,
        description="A trip whose track ends further than this from the booked drop-off ended away from it: GNSS "
        "error and parking a street away stay well inside 1 km.",
    )
    geofence_dwell_seconds: float = Field(
        default=300.0, ge=0,
        description="The least time inside a prohibited area (interpolated between fixes) that can make an entry "
        "越界, and then only with a stop inside (below): a glimpse across an edge is GNSS noise or a corner.",
    )
    geofence_transit_minutes: float = Field(
        default=20.0, ge=0,
        description="A stay in a prohibited area without a stop inside (a stop as drives are cut: standing "
        "min_stop_minutes, the ignition off, or a terminal asleep) is a crossing, not a visit, unless it lasts "
        "this long: public roads cross some areas (East Lake) in 5-7 minutes at 30-40 km/h and a jam doubles "
        "that; a slow tour of a scenic area without stopping takes longer.",
    )
    geofence_booked_place_m: float = Field(
        default=300.0, ge=0, le=5000,
        description="A stop inside an area within this distance of the pickup or drop-off of the booking it "
        "falls in (widened by its drives there and back), that place inside the same area, is the booked "
        "errand: the booking says so, and a drop-off there is already 驶入禁止区域 (the booking rule). A car park "
        "across the street and GNSS error fit in 300 m; a stop elsewhere in the area still counts.",
    )
    geofence_max_step_minutes: float = Field(
        default=10.0, gt=0,
        description="Between two fixes both outside an area and further apart in time than this, the straight "
        "line is a guess: such a step is not taken for a crossing (a silence in use is 终端离线).",
    )
    parking_radius_m: float = Field(
        default=500.0, gt=0, le=50_000,
        description="How far from its designated parking place (the vehicle's home) a vehicle may stand outside "
        "working hours: a compound's car parks and the street beside them fit in 500 m.",
    )
    parking_min_minutes: float = Field(
        default=60.0, ge=0,
        description="Away from home outside working hours without a booking for this long is 定点停放 breached: "
        "shorter is a late return on the way back.",
    )
    offline_minutes: float = Field(
        default=10.0, gt=0,
        description="No fix for this long while the vehicle is in use is 终端离线: terminals report every 10-30 s "
        "while the ignition is on, and a tunnel or a car park's basement rarely hides one for 10 minutes. Only "
        "a silence that began on the move or with the ignition on, or across which the vehicle moved more than "
        "stop_radius_m, counts: terminals sleep with the ignition off and report every 5-30 min when parked.",
    )
    tamper_alarm_bits: frozenset[Annotated[int, Field(ge=0, le=31)]] = Field(
        default=frozenset(TAMPER_ALARM_BITS),
        description="JT/T 808 alarm bits read as tampering or a power cut (机车拆除).",
    )
    tamper_min_seconds: float = Field(
        default=60.0, ge=0,
        description="An alarm bit must stay set this long (or the terminal fall silent after it): a starter "
        "motor's crank dips the voltage for seconds.",
    )
    speeding_kmh: float = Field(
        default=120.0, gt=0, le=300,
        description="Above this speed a vehicle speeds (超速): 120 km/h is the highest limit on any Chinese road "
        "(expressways); the platform knows no per-road limits.",
    )
    speeding_seconds: float = Field(
        default=30.0, ge=0,
        description="Sustained this long: one fix's GNSS speed spike is not speeding.",
    )
    idling_minutes: float = Field(
        default=10.0, gt=0,
        description="The ignition on and the vehicle still this long is 怠速超长: waiting with the engine running "
        "for air conditioning; a few minutes' warm-up or queue is not.",
    )

    fix_max_speed_kmh: float = Field(
        default=300.0, gt=0, le=1000,
        description="A reported speed above this is a glitch, not a car (JT/T 808 0xFFFF reads 6553.5 km/h; an "
        "official car tops out near 200): the fix's speed is taken from its steps instead, so it is never 超速.",
    )
    fix_max_jump_kmh: float = Field(
        default=250.0, gt=0, le=1000,
        description="A fix reached and left by steps implying more than this is an outlier (a multipath or stale "
        "cached position) and is dropped before any rule reads the track, as Traccar's filter.maxSpeed does: "
        "no official car keeps 250 km/h between fixes, and one such jump would inflate the track's km.",
    )
    fix_jump_min_m: float = Field(
        default=200.0, ge=0,
        description="A step shorter than this is never a jump: GNSS scatter of tens of metres between fixes a "
        "second apart implies absurd speeds without being an outlier.",
    )
    fix_max_outlier_fixes: int = Field(
        default=3, ge=1, le=100,
        description="At most this many fixes in a row beyond a jump (and back) are the outlier; the longest run "
        "of the track is the truth. A stale position is resent for a few reports at most.",
    )

    def fix_rules(self) -> FixRules:
        """Which fixes the rules believe (`fleet.tracks.plausible`)."""
        return FixRules(max_speed_kmh=self.fix_max_speed_kmh, max_jump_kmh=self.fix_max_jump_kmh,
                        jump_min_m=self.fix_jump_min_m, max_outlier_fixes=self.fix_max_outlier_fixes)

    def drive_rules(self) -> DriveRules:
        """How tracks are cut into drives under these rules."""
        return DriveRules(moving_kmh=self.moving_kmh, min_stop_seconds=self.min_stop_minutes * 60,
                          stop_radius_m=self.stop_radius_m)

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
    tracks: TrackRules = TrackRules()

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
