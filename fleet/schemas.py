"""Inputs to the registry's services, validated at the edge. ``X.parse(data)`` turns any mistake into an
``InvalidInput`` that names the field and the reason; the API and the CLI use the same models."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fleet.clock import CHINA
from fleet.enums import (
    Category,
    CostKind,
    DisposalMethod,
    EarlyRenewalBasis,
    JurisdictionLevel,
    LicenceClass,
    MarkingStatus,
    PlanLineKind,
    Powertrain,
    Priority,
    RegistrationBasis,
    VehicleSource,
)
from fleet.errors import FieldError, InvalidInput, error_location
from fleet.i18n import field_label, field_message, msg, pydantic_message

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(min_length=2, max_length=500)]
Money = Annotated[Decimal, Field(gt=0, lt=Decimal(10**10), max_digits=12, decimal_places=2)]
# Dates and instants the registry can hold: bounded so that date arithmetic (renewal ages, horizons) never overflows.
Day = Annotated[date, Field(ge=date(1950, 1, 1), le=date(2100, 12, 31))]
Litres = Annotated[Decimal, Field(gt=0, le=10, decimal_places=3)]

# China's extent, rounded outward from the extreme points the geography textbooks give: north 53°33′N (the
# Heilongjiang's main channel north of Mohe), south about 4°N (Zengmu Ansha 曾母暗沙), west 73°30′–73°40′E (the Pamirs
# west of Wuqia), east 135°05′E (where the Wusuli joins the Heilongjiang). A box takes in corners of the neighbours
# as well: it is no border, it catches the typos (0,0, a sign or a digit lost) that would send a car abroad.
CHINA_LAT = (3.5, 53.6)
CHINA_LON = (73.4, 135.1)


def _china_lat(value: float) -> float:
    if not CHINA_LAT[0] <= value <= CHINA_LAT[1]:
        raise ValueError(msg("{value:g} is outside China, whose latitudes run from {low}° to {high}° north",
                             value=value, low=CHINA_LAT[0], high=CHINA_LAT[1]))
    return value


def _china_lon(value: float) -> float:  # the same check as _china_lat: its own sentence for the catalog
    if not CHINA_LON[0] <= value <= CHINA_LON[1]:
        raise ValueError(msg("{value:g} is outside China, whose longitudes run from {low}° to {high}° east",
                             value=value, low=CHINA_LON[0], high=CHINA_LON[1]))
    return value


# A point people type (a trip's places, a vehicle's yard), WGS-84 degrees. Not for the positions terminals report:
# 0,0 there is a terminal without a fix, which the telematics code handles as such rather than as a typo. The box is
# in the schema for clients, but not as ge/le: pydantic's "greater than or equal to 3.5" would not say why.
Latitude = Annotated[float, Field(allow_inf_nan=False, json_schema_extra={"minimum": CHINA_LAT[0],
                                                                          "maximum": CHINA_LAT[1]}),
                     AfterValidator(_china_lat)]
Longitude = Annotated[float, Field(allow_inf_nan=False, json_schema_extra={"minimum": CHINA_LON[0],
                                                                           "maximum": CHINA_LON[1]}),
                      AfterValidator(_china_lon)]


def _wall_clock(value: time) -> time:
    # pydantic reads 07:00-05:00 as a time with its offset, which the database's time column drops without a word,
    # and which no naive local time compares with.
    if value.tzinfo is not None:
        raise ValueError(msg("is a local time of day: write it without an offset or Z, e.g. 07:00"))
    return value


# A time of day (a shift's ends, the audit's working hours) is read on the local wall clock: China time for a
# shift, the calendar's zone for working hours. An offset would say another clock.
TimeOfDay = Annotated[time, AfterValidator(_wall_clock)]

ENGINELESS = frozenset({Powertrain.bev, Powertrain.fcev})

# 京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼 + issuing-office letter + 5 (fuel) or 6
# (new-energy) characters, or 4 and 警 for police vehicles. I and O are never used.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_RE = re.compile(rf"^[{_PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{5,6}}|[A-HJ-NP-Z0-9]{{4}}警)$")

_VIN_VALUES = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """The 9th character a VIN must carry (ISO 3779 / GB 16735 weighting, remainder 10 written ``X``)."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    return "X" if total % 11 == 10 else str(total % 11)


def normalise_plate(plate: str) -> str:
    return plate.replace("·", "").replace(" ", "").replace("-", "").upper()


# Text no database here can store: PostgreSQL refuses NUL in text, and a lone surrogate (half of a UTF-16 pair,
# which JSON's \ud800 escapes can carry) is not Unicode, so neither database's UTF-8 encoder takes it.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | None, str] | None:
    """The first string in ``value`` (nested in mappings and lists, keys included) that no database can store:
    (dotted path of its field, or None at the top, reason); None when every string is storable."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is None:
            return None
        char = found.group()
        what = msg("contains a NUL character (U+0000), which the database cannot store") if char == "\x00" else (
            msg("contains a lone surrogate (U+{code:04X}), which is not Unicode text", code=ord(char)))
        return ".".join(str(p) for p in path) or None, what
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return ".".join(str(p) for p in path) or None, msg("has a key that is not storable text")
            if (found_in := unstorable_text(item, (*path, key))) is not None:
                return found_in
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found_in := unstorable_text(item, (*path, index))) is not None:
                return found_in
    return None


def _first_error(exc: ValidationError) -> InvalidInput:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in error_location(err)) or None
    return InvalidInput(field_message(field, pydantic_message(err)), field=field)


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cf", "Cc")


def trimmed(value: Any) -> Any:
    """A string without the invisible characters at its ends: white space, and the format and control characters
    (zero-width space U+200B, word joiner U+2060, byte-order mark, direction marks) that ``str.strip`` keeps, so
    that a required reason or note made of them alone is refused as empty. Inside the text they stay (an emoji's
    zero-width joiner)."""
    if not isinstance(value, str):
        return value
    start, end = 0, len(value)
    while start < end and _invisible(value[start]):
        start += 1
    while end > start and _invisible(value[end - 1]):
        end -= 1
    return value[start:end]


def _kinds(annotation: Any) -> set[Any]:
    """The plain types (and literal values) an annotation lets through, unions and ``Annotated`` opened."""
    inner = get_args(annotation)
    return {annotation} if not inner else set().union(*(_kinds(a) for a in inner))


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _trim(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, int | float) and info.field_name is not None:
            kinds = _kinds(cls.model_fields[info.field_name].annotation)
            # pydantic's lax mode reads JSON true as the number 1 (passengers, a quota's limit): a client's slip.
            if isinstance(value, bool):
                if not (kinds & {bool, Any} or any(isinstance(kind, bool) for kind in kinds)):
                    raise ValueError(msg("true or false is not a value this field takes"))
            # ... and a number as seconds since 1970 (insurance_expires_on: 0 became 1970-01-01): a day is text.
            elif kinds & {date, datetime, time, AwareDatetime} and not kinds & {int, float, Decimal, Any}:
                raise ValueError(msg("a day or a time is written as text, e.g. 2026-12-01 or "
                                     "2026-12-01T09:00:00+08:00"))
        return trimmed(value)

    @classmethod
    def parse(cls, data: Any) -> Self:
        """Validate ``data``; the first problem becomes an ``InvalidInput`` naming its field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _first_error(exc) from None


class JurisdictionIn(Input):
    code: Code
    name: Name
    level: JurisdictionLevel
    parent: Code | None = None
    live_on: Day | None = Field(
        default=None, description="the day the platform goes live here (上线): vehicles acquired after it come "
                                  "through a plan; today or earlier; default: today")


class AgencyIn(Input):
    code: Code
    name: Name
    jurisdiction: Code
    parent: Code | None = None


class QuotaIn(Input):
    agency: Code
    category: Category
    limit: int = Field(ge=0, le=100_000)
    reason: Reason


class VehicleIn(Input):
    """A vehicle's registration data (行驶证 and purchase record)."""

    plate: str = Field(max_length=20)
    vin: str = Field(max_length=17)
    model: str = Field(default="", max_length=100)
    category: Category
    powertrain: Powertrain
    seats: int = Field(ge=1, le=60)
    price_cny: Money
    displacement_l: Litres | None = None
    range_km: int | None = Field(default=None, gt=0, le=2000)
    acquired_on: Day
    odometer_km: int = Field(default=0, ge=0, le=3_000_000)
    home_lat: Latitude | None = None
    home_lon: Longitude | None = None
    marking: MarkingStatus = MarkingStatus.marked
    marking_exemption: str | None = Field(default=None, max_length=500)
    source: VehicleSource = VehicleSource.retained
    rental_provider: Code | None = Field(
        default=None, description="source rental only (and then required): the code of the contracted rental "
                                  "provider (定点租赁企业) the car is hired from")
    registration_basis: RegistrationBasis | None = Field(
        default=None, description="registration only: why a vehicle acquired after go-live, or above the equipment "
                                  "standard, is registered all the same (listed in the annual report)")
    registration_note: Reason | None = Field(
        default=None, description="with registration_basis: the document that allowed it (批准文号, 调拨单...)")

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str) -> str:
        plate = normalise_plate(value)
        if not PLATE_RE.match(plate):
            raise ValueError(msg("{value!r} is not a Chinese licence plate (e.g. 鄂A12345, 鄂AD12345, 鄂A1234警)",
                                 value=value))
        return plate

    @field_validator("vin")
    @classmethod
    def _vin(cls, value: str) -> str:
        vin = value.upper()
        if not re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", vin):
            raise ValueError(msg("{value!r} is not a VIN: 17 letters and digits, never I, O or Q", value=value))
        if vin[8] != vin_check_digit(vin):
            raise ValueError(msg("{value!r} fails the VIN check digit (position 9 should be {digit})", value=value,
                                 digit=vin_check_digit(vin)))
        return vin

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.powertrain in ENGINELESS and self.displacement_l is not None:
            raise FieldError("displacement_l", msg("must be empty for a {powertrain} vehicle (it has no engine)",
                                                   powertrain=self.powertrain))
        if self.powertrain not in ENGINELESS and self.displacement_l is None:
            raise FieldError("displacement_l", msg("is required for a {powertrain} vehicle",
                                                   powertrain=self.powertrain))
        if self.powertrain is Powertrain.bev and self.range_km is None:
            raise FieldError("range_km", msg("is required for a battery-electric vehicle"))
        if self.marking is MarkingStatus.exempt and not self.marking_exemption:
            raise FieldError("marking_exemption", msg("an exempt vehicle needs the reason for its exemption"))
        if (self.home_lat is None) != (self.home_lon is None):
            raise FieldError("home_lon" if self.home_lon is None else "home_lat",
                             msg("{first} and {second} go together", first=field_label("home_lat"),
                                 second=field_label("home_lon")))
        if (self.registration_basis is None) != (self.registration_note is None):
            raise FieldError("registration_note" if self.registration_note is None else "registration_basis",
                             msg("{first} and {second} go together", first=field_label("registration_basis"),
                                 second=field_label("registration_note")))
        return self


class PlanLineIn(Input):
    kind: PlanLineKind
    category: Category
    powertrain: Powertrain
    count: int = Field(ge=1, le=1000)
    seats: int = Field(default=5, ge=1, le=60)
    unit_price_cny: Money
    displacement_l: Litres | None = None
    replaces: list[str] = Field(default_factory=list, description="Plates of the vehicles a renewal replaces")
    justification: Reason | None = None
    new_energy_exemption: Reason | None = None
    early_renewal_basis: EarlyRenewalBasis | None = None
    early_renewal_reason: Reason | None = None

    @field_validator("replaces")
    @classmethod
    def _plates(cls, value: list[str]) -> list[str]:
        plates = [normalise_plate(p) for p in value]
        if len(set(plates)) != len(plates):
            raise ValueError(msg("a vehicle is listed twice"))
        return plates

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind is PlanLineKind.renewal and len(self.replaces) != self.count:
            raise FieldError("replaces", msg("count is {count} but replaces lists {listed} vehicle(s); a renewal "
                                             "names each vehicle it replaces", count=self.count,
                                             listed=len(self.replaces)))
        if self.kind is PlanLineKind.new and self.replaces:
            raise FieldError("replaces", msg("a line of new vehicles replaces none; use kind 'renewal'"))
        if self.powertrain in ENGINELESS and self.displacement_l is not None:
            raise FieldError("displacement_l", msg("must be empty for {powertrain}", powertrain=self.powertrain))
        if self.powertrain not in ENGINELESS and self.displacement_l is None:
            raise FieldError("displacement_l", msg("is required for {powertrain}", powertrain=self.powertrain))
        if (self.early_renewal_basis is None) != (self.early_renewal_reason is None):
            missing = "early_renewal_reason" if self.early_renewal_reason is None else "early_renewal_basis"
            raise FieldError(missing, msg("{first} and {second} go together", first=field_label("early_renewal_basis"),
                                          second=field_label("early_renewal_reason")))
        if self.early_renewal_basis is not None and self.kind is not PlanLineKind.renewal:
            raise FieldError("early_renewal_basis", msg("applies to renewal lines only"))
        return self


class PlanIn(Input):
    agency: Code
    year: int = Field(ge=2000, le=2100)
    title: str = Field(default="", max_length=200)
    lines: list[PlanLineIn] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _replaced_once(self) -> Self:
        first_line: dict[str, int] = {}
        for i, line in enumerate(self.lines):
            for plate in line.replaces:
                if plate in first_line:
                    raise FieldError(f"lines.{i}.replaces", msg("vehicle {plate} is already replaced by line {line} of "
                                                                "the plan", plate=plate, line=first_line[plate]))
                first_line[plate] = i
        return self


class DisposalIn(Input):
    method: DisposalMethod
    disposed_on: Day
    proceeds_cny: Decimal = Field(default=Decimal(0), ge=0, lt=Decimal(10**10), max_digits=12, decimal_places=2)
    recipient: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _recipient(self) -> Self:
        if self.method is DisposalMethod.transfer_out and not self.recipient:
            raise FieldError("recipient", msg("a vehicle transferred out needs the receiving unit"))
        return self


class TransferIn(Input):
    to_agency: Code
    transferred_on: Day
    reason: Reason


class CostIn(Input):
    kind: CostKind
    incurred_on: Day
    amount_cny: Money
    odometer_km: int | None = Field(default=None, ge=0, le=3_000_000)
    note: str | None = Field(default=None, max_length=500)


class DriverIn(Input):
    name: Name
    licence_class: LicenceClass
    agency: Code | None = Field(default=None, description="None: the platform's shared pool")
    shift_start: TimeOfDay
    shift_end: TimeOfDay

    @model_validator(mode="after")
    def _shift(self) -> Self:
        if self.shift_start == self.shift_end:
            raise FieldError("shift_end", msg("equals the {field}: a shift has a length",
                                              field=field_label("shift_start")))
        return self


# --- edits of records (fleet.amendments) and reorganisations (fleet.reorganisation) -------------------------------

# The JT/T 808 terminal phone number (终端手机号): BCD[6] (12 digits) in the 2013 protocol, BCD[10] (20) in 2019.
TerminalId = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^0*[1-9][0-9]*$",
                                  description="the JT/T 808 terminal phone number: digits, up to 20, not all zeros")]
LicenceNo = Annotated[str, Field(min_length=6, max_length=32, pattern=r"^[0-9A-Za-z]+$",
                                 description="驾驶证号 (the holder's ID number on a Chinese licence)")]
Phone = Annotated[str, Field(min_length=5, max_length=20, pattern=r"^\+?[0-9][0-9 -]*[0-9]$")]


class Patch(Input):
    """A partial change: only the fields sent change, and ``null`` empties a field that may be empty. A patch that
    names no field is refused: it is a client's mistake more often than a wish to change nothing."""

    _required: ClassVar[frozenset[str]] = frozenset()  # fields that may change but never be emptied

    @model_validator(mode="after")
    def _some_field(self) -> Self:
        if not self.model_fields_set:
            raise ValueError(msg("names no field to change"))
        for name in sorted(self.model_fields_set & self._required):
            if getattr(self, name) is None:
                raise FieldError(name, msg("may be changed but not emptied"))
        return self

    def sent(self) -> dict[str, Any]:
        """The fields sent, with their new values."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class VehiclePatch(Patch):
    """What may be corrected or kept up to date on a vehicle's record; plate, VIN, category and the purchase are
    its registration, changed only by the registry's own operations."""

    _required = frozenset({"model", "marking"})

    model: str | None = Field(default=None, max_length=100)
    marking: MarkingStatus | None = None
    marking_exemption: Reason | None = Field(default=None, description="required while the vehicle is exempt")
    terminal_id: TerminalId | None = None
    colour: str | None = Field(default=None, min_length=1, max_length=20)
    home_lat: Latitude | None = None
    home_lon: Longitude | None = None
    insurance_expires_on: Day | None = None
    inspected_on: Day | None = Field(default=None, description="the last annual inspection (年检) passed")
    serviced_on: Day | None = Field(default=None, description="the last scheduled maintenance")
    serviced_km: int | None = Field(default=None, ge=0, le=3_000_000)
    service_interval_km: int | None = Field(default=None, ge=500, le=200_000, description="null: the default")
    service_interval_months: int | None = Field(default=None, ge=1, le=60, description="null: the default")


class DriverPatch(Patch):
    _required = frozenset({"name", "licence_class", "shift_start", "shift_end"})

    name: Name | None = None
    licence_class: LicenceClass | None = None
    licence_no: LicenceNo | None = None
    licence_expires_on: Day | None = None
    phone: Phone | None = None
    shift_start: TimeOfDay | None = None
    shift_end: TimeOfDay | None = None
    agency: Code | None = Field(default=None, description="null: the platform's shared pool")

    @field_validator("licence_no")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None


class AgencyPatch(Patch):
    _required = frozenset({"name"})

    name: Name | None = None
    parent: Code | None = Field(default=None, description="null: no parent agency")


class MergeIn(Input):
    """机构改革: this agency merges into ``into`` on ``on``."""

    into: Code
    on: Day
    reason: Reason


class SplitPartIn(Input):
    code: Code
    name: Name
    vehicles: list[str] = Field(default_factory=list, max_length=1000, description="plates of the source's vehicles")
    quotas: dict[Category, Annotated[int, Field(ge=0, le=100_000)]] = Field(
        default_factory=dict, description="the part of the source's quota each category takes")

    @field_validator("vehicles")
    @classmethod
    def _plates(cls, value: list[str]) -> list[str]:
        return [normalise_plate(p) for p in value]


class SplitIn(Input):
    """机构改革: new agencies split off this one on ``on``, with the vehicles and the quota parts listed; the source
    keeps the rest."""

    into: list[SplitPartIn] = Field(min_length=1, max_length=20)
    on: Day
    reason: Reason

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        codes: set[str] = set()
        plates: dict[str, int] = {}
        for i, part in enumerate(self.into):
            if part.code in codes:
                raise FieldError(f"into.{i}.code", msg("agency {code} is listed twice", code=part.code))
            codes.add(part.code)
            for plate in part.vehicles:
                if plate in plates:
                    raise FieldError(f"into.{i}.vehicles", msg("vehicle {plate} is already listed in part {part}",
                                                               plate=plate, part=plates[plate]))
                plates[plate] = i
        return self


# Allowed vehicle categories of a trip when the booking names none: the category made for that kind of work.
DEFAULT_CATEGORIES: dict[Priority, tuple[Category, ...]] = {
    Priority.emergency: (Category.emergency,),
    Priority.law_enforcement: (Category.law_enforcement,),
    Priority.routine: (Category.general,),
}
MAX_WINDOW = timedelta(days=7)
# China's days, as every day the platform speaks of: a day-only filter for 2000-01-01 is that day in China time.
_EPOCH_LOW, _EPOCH_HIGH = datetime(2000, 1, 1, tzinfo=CHINA), datetime(2100, 1, 1, tzinfo=CHINA)


def _within_epoch(value: datetime) -> datetime:
    if not _EPOCH_LOW <= value <= _EPOCH_HIGH:  # the high end: an exclusive end of 2099-12-31
        raise ValueError(msg("must fall from 2000-01-01 to 2099-12-31, China time"))
    return value


# An instant with its UTC offset, between 2000 and 2100 (windows and horizons are computed around it).
Moment = Annotated[AwareDatetime, AfterValidator(_within_epoch)]


class PlaceIn(Input):
    lat: Latitude = Field(examples=[30.5928])
    lon: Longitude = Field(examples=[114.3055])
    address: str = Field(min_length=1, max_length=200, examples=["武汉市江岸区沿江大道188号"])


class TripIn(Input):
    """A booking (用车申请). Status, vehicle and driver are not the requester's to set; agency only for the platform."""

    purpose: str = Field(min_length=2, max_length=500, examples=["赴洪山区开展安全生产执法检查"])
    priority: Priority = Priority.routine
    priority_reason: str | None = Field(
        default=None, min_length=2, max_length=500, examples=["暴雨致道路积水，需紧急转移群众"],
        description="why the trip is an emergency or law enforcement (应急事由); the console asks it for those")
    passengers: int = Field(default=1, ge=1, le=60)
    pickup: PlaceIn
    dropoff: PlaceIn
    earliest_pickup: Moment = Field(examples=["2026-11-24T09:00:00+08:00"])
    latest_pickup: Moment = Field(examples=["2026-11-24T09:30:00+08:00"])
    dwell_min: int = Field(default=0, ge=0, le=24 * 60, description="minutes spent at the destination")
    categories: tuple[Category, ...] | None = Field(
        default=None, min_length=1, max_length=5,
        description="vehicle categories allowed; default: the category of the priority")
    agency: Code | None = Field(default=None, description="booking agency; the platform's dispatchers only")
    approval_basis: Reason | None = Field(
        default=None, examples=["单位审批人王某电话同意"],
        description="the platform's dispatchers only: the agency's approval given outside the platform (e.g. by "
                    "phone); the booking is then approved at once, else it waits for the agency's approver")
    backfill_reason: Reason | None = Field(
        default=None, description="the platform's dispatchers only: why a trip whose pickup is already past is "
                                  "booked after the fact (补录)")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.latest_pickup < self.earliest_pickup:
            raise FieldError("latest_pickup", msg("is before the {field}", field=field_label("earliest_pickup")))
        if self.latest_pickup - self.earliest_pickup > MAX_WINDOW:
            raise FieldError("latest_pickup", msg("is more than 7 days after the {field}",
                                                  field=field_label("earliest_pickup")))
        return self

    @property
    def allowed(self) -> tuple[Category, ...]:
        return self.categories or DEFAULT_CATEGORIES[self.priority]


class AssignIn(Input):
    vehicle_id: int = Field(ge=1, le=2**31 - 1)
    driver_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    pickup_at: Moment | None = Field(default=None, description="default: the earliest pickup")


class OdometerIn(Input):
    odometer_km: int = Field(ge=0, le=3_000_000)
    at: Moment | None = Field(default=None, description="default: now; more than a few minutes off now only with "
                                                        "backfill_reason")
    backfill_reason: Reason | None = Field(
        default=None, description="the platform's dispatchers only: why the time is entered after the fact (补录)")


# --- 定点租赁: contracted rental providers and the trips sent to them (fleet.rentals) ---

# A tariff's parts may be nothing (no base fee, say), unlike a price.
Tariff = Annotated[Decimal, Field(ge=0, lt=Decimal(10**8), max_digits=10, decimal_places=2)]


class RentalProviderIn(Input):
    code: Code
    name: str = Field(min_length=1, max_length=200, examples=["武汉市公务用车定点租赁有限公司"])
    contact: str | None = Field(default=None, max_length=200)
    base_cny: Tariff = Field(description="per rental")
    per_km_cny: Tariff
    per_hour_cny: Tariff = Field(description="per started hour of the trip's occupied interval")
    max_seats: int = Field(default=7, ge=1, le=60, description="the largest vehicle it supplies")
    contract_until: Day | None = Field(default=None, description="the contract's last day; None: open-ended")
    active: bool = True


class RentalProviderPatch(Input):
    """The fields to change; those left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    contact: str | None = Field(default=None, max_length=200)
    base_cny: Tariff | None = None
    per_km_cny: Tariff | None = None
    per_hour_cny: Tariff | None = None
    max_seats: int | None = Field(default=None, ge=1, le=60)
    contract_until: Day | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> Self:
        for name in self.model_fields_set - {"contact", "contract_until"}:
            if getattr(self, name) is None:
                raise FieldError(name, msg("cannot be null"))
        return self


class RentIn(Input):
    provider: Code = Field(description="the rental provider's code")


class RentalBillIn(Input):
    km: float = Field(ge=0, le=10_000, description="km the provider billed")
    amount_cny: Tariff | None = Field(default=None, description="the provider's invoice; default: its tariff on km")
    at: Moment | None = Field(default=None, description="when the trip ended; default: now; more than a few minutes "
                                                        "before now only with backfill_reason, never in the future")
    backfill_reason: Reason | None = Field(
        default=None, description="the platform's dispatchers only: why the trip's end is entered after the fact "
                                  "(补录)")
