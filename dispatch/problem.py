"""The dispatch problem as the exchange format states it (../shared/spec/dispatch-format.md), validated whole.

A bad problem is refused before any solving, with a `ProblemError` naming the field (``trips[3].latest_pickup``)
and the reason, so the CLI can exit 2 and the API can answer 422. Reading is strict, so that nothing the referee
(../shared/tools/check_dispatch.py) would refuse gets solved: times only as ISO 8601 strings with an offset, numbers
only as JSON numbers (no true/false, no text), every field the referee reads present, values in ranges the solvers'
arithmetic holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dispatch.messages import Message, msg

FORMAT: Final = "dispatch/1"
MAX_BYTES: Final = 64 * 1024 * 1024
"""Largest instance file `Problem.read` accepts; read no further, so a device or a pipe cannot exhaust memory."""
# A UTC offset is under a day, so an instant a day inside datetime's range can be shown at any offset
# (the engine shifts times to UTC and to the trips' offsets; year 1 at +08:00 would be year 0 in UTC).
EARLIEST: Final = datetime(1, 1, 2, tzinfo=UTC)
LATEST: Final = datetime(9999, 12, 30, tzinfo=UTC)


class Category(StrEnum):
    """Vehicle categories of the reform (the fleet's `Category` without its Chinese labels)."""

    confidential_comms = "confidential_comms"
    emergency = "emergency"
    law_enforcement = "law_enforcement"
    special_technical = "special_technical"
    general = "general"


class Priority(StrEnum):
    """Trip priorities, highest first; the objective serves them lexicographically in this order."""

    emergency = "emergency"
    law_enforcement = "law_enforcement"
    routine = "routine"


PRIORITIES: tuple[Priority, ...] = tuple(Priority)


class Powertrain(StrEnum):
    ice = "ice"
    hev = "hev"
    phev = "phev"
    bev = "bev"
    fcev = "fcev"


class ProblemError(ValueError):
    """A problem (or a trip handed to `insert`) that cannot be solved as given; names the field."""

    def __init__(self, field: str, reason: str) -> None:
        self.detail = msg("{field}: {reason}", field=field, reason=reason) if field else reason
        super().__init__(self.detail)
        self.field = field
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {"error": "ProblemError", "detail": self.detail, "field": self.field}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return msg("true/false")
    if isinstance(value, int | float):
        return msg("a number")
    return {dict: msg("an object"), list: msg("an array"), type(None): msg("null")}.get(type(value),
                                                                                      type(value).__name__)


def _time(value: Any) -> Any:
    # pydantic alone would take a number as seconds since 1970 and its own string forms; the referee reads
    # times with datetime.fromisoformat only, so that is the one reading accepted here.
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(msg("not an ISO 8601 time (e.g. 2026-11-23T09:00:00+08:00)")) from None
    elif not isinstance(value, datetime):
        raise ValueError(msg("a time must be an ISO 8601 string, not {kind}", kind=_json_type(value)))
    if value.utcoffset() is None:
        raise ValueError(_NO_OFFSET)
    if not EARLIEST <= value <= LATEST:  # aware comparisons never shift, so this cannot overflow itself
        raise ValueError(msg("time out of range (from {earliest:%Y-%m-%d} to {latest:%Y-%m-%d} UTC)",
                             earliest=EARLIEST, latest=LATEST))
    return value


def _text(value: str) -> str:
    # json.loads lets lone surrogates (\ud800) through; the answer could not be written as UTF-8.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(msg("text is not valid Unicode (a lone surrogate)")) from None
    return value


_NO_OFFSET: Final = msg("time without offset (ISO 8601 with an offset, e.g. 2026-11-23T09:00:00+08:00)")
# Numbers are strict: no true/false and no "30.5" where a number is meant, no whole number given as 4.0.
Latitude = Annotated[float, Field(ge=-90, le=90, strict=True)]
Longitude = Annotated[float, Field(ge=-180, le=180, strict=True)]
# A length limit makes pydantic read the text as Unicode, refusing lone surrogates; unlimited text needs `_text`.
Id = Annotated[str, Field(min_length=1, max_length=200)]
Time = Annotated[AwareDatetime, BeforeValidator(_time)]
Seats = Annotated[int, Field(ge=1, le=100, strict=True)]


class Point(_Model):
    lat: Latitude
    lon: Longitude


class Depot(_Model):
    id: Id
    lat: Latitude
    lon: Longitude


class Vehicle(_Model):
    id: Id
    depot: Id
    category: Category
    seats: Seats
    powertrain: Powertrain = Powertrain.ice
    # Bounded so that the solvers' metres (range_km * 1000) stay finite; 1,000,000 km is far beyond any shift.
    range_km: float | None = Field(
        default=None, gt=0, le=1_000_000, strict=True, description="road km per shift; None = unlimited"
    )
    shift_start: Time
    shift_end: Time

    @model_validator(mode="after")
    def _shift_in_order(self) -> Vehicle:
        if self.shift_end <= self.shift_start:
            raise _Located("shift_end", msg("shift_end must be after shift_start"))
        return self


class Trip(_Model):
    id: Id
    priority: Priority  # no default: the referee counts every trip by its priority
    categories: tuple[Category, ...] = Field(min_length=1)
    passengers: Seats = 1
    pickup: Point
    dropoff: Point
    earliest_pickup: Time
    latest_pickup: Time
    dwell_min: float = Field(default=0, ge=0, le=24 * 60, strict=True)

    @model_validator(mode="after")
    def _window_in_order(self) -> Trip:
        if self.latest_pickup < self.earliest_pickup:
            raise _Located("latest_pickup", msg("latest_pickup is before earliest_pickup"))
        return self


class Problem(_Model):
    """One batch: depots, the vehicles retained for dispatch, and the trips to serve."""

    format: Literal["dispatch/1"] = FORMAT
    name: Annotated[str, AfterValidator(_text)] = "unnamed"
    road_factor: float = Field(default=1.3, ge=1.0, le=5.0, strict=True)
    # At 1 km/h the longest drive (half the globe, five times winding) still fits the solver's int64 seconds.
    speed_kmh: float = Field(default=30.0, ge=1.0, le=200, strict=True)
    depots: tuple[Depot, ...] = Field(min_length=1)
    # Required although they may be empty: the referee reads both lists.
    vehicles: tuple[Vehicle, ...]
    trips: tuple[Trip, ...]

    @field_validator("depots", "vehicles", "trips")
    @classmethod
    def _unique_ids(cls, items: tuple[Depot | Vehicle | Trip, ...]) -> tuple[Depot | Vehicle | Trip, ...]:
        twice = [key for key, count in Counter(item.id for item in items).items() if count > 1]
        if twice:
            raise ValueError(msg("duplicate id {id!r}", id=twice[0]))
        return items

    @model_validator(mode="after")
    def _depots_known(self) -> Problem:
        known = {depot.id for depot in self.depots}
        for index, vehicle in enumerate(self.vehicles):
            if vehicle.depot not in known:
                raise _Located(f"vehicles.{index}.depot", msg("unknown depot {depot!r}", depot=vehicle.depot))
        return self

    @classmethod
    def parse(cls, data: Any) -> Problem:
        """Validate a decoded JSON document; raise `ProblemError` naming the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _problem_error(exc, data) from None

    @classmethod
    def read(cls, path: Path) -> Problem:
        """Read and validate an instance file; every way a file can be unreadable is a `ProblemError`."""
        return cls.parse(_read_json(path))

    def trip_index(self) -> dict[str, int]:
        return {trip.id: index for index, trip in enumerate(self.trips)}

    def vehicle_index(self) -> dict[str, int]:
        return {vehicle.id: index for index, vehicle in enumerate(self.vehicles)}


class _Located(ValueError):
    """A cross-field error that knows its field, relative to the model raising it (pydantic would name the model)."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}\x00{reason}")
        self.location, self.reason = location, reason


def _read_json(path: Path) -> Any:
    """The JSON document in ``path`` (UTF-8, at most `MAX_BYTES`); `ProblemError` with one sentence if it is not one."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ProblemError("", msg("cannot read: {problem}", problem=str(exc.strerror or exc))) from None
    if len(raw) > MAX_BYTES:
        raise ProblemError("", msg("too large: more than {mib} MiB", mib=MAX_BYTES // 2**20))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError("", msg("not UTF-8: byte {byte:#04x} at offset {offset}", byte=raw[exc.start],
                                   offset=exc.start)) from None
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_repeated_keys)
    except json.JSONDecodeError as exc:
        raise ProblemError("", msg("not JSON: {problem} at line {line} column {column}", problem=exc.msg,
                                   line=exc.lineno, column=exc.colno)) from None
    except RecursionError:
        raise ProblemError("", msg("not JSON this program can read: nested too deeply")) from None
    except ValueError as exc:  # the hooks below, and integers longer than Python converts (4,300 digits)
        said = exc.args[0] if exc.args and isinstance(exc.args[0], Message) else str(exc)
        raise ProblemError("", msg("not JSON: {problem}", problem=said)) from None


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have.
    raise ValueError(msg("{name} is not a JSON number", name=name))


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON leaves a repeated key's meaning open (Python keeps the last one, other readers the first).
    document = dict(pairs)
    if len(document) < len(pairs):
        key = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise ValueError(msg("key {key!r} appears twice in one object", key=key))
    return document


def _problem_error(exc: ValidationError, data: Any) -> ProblemError:
    error = exc.errors(include_url=False)[0]
    location: list[str | int] = list(error["loc"])
    reason = reason_of(error)
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _Located):
        location += cause.location.split(".")
        reason = cause.reason
    if error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        reason = msg("must be a JSON object, not {kind}", kind=_json_type(error["input"]))
    elif error["type"] == "missing":
        reason = msg("required field missing")
    return ProblemError(_field_name(location, data) or msg("the instance"), reason)


def reason_of(error: Mapping[str, Any]) -> str:
    """The sentence of one pydantic error: a validator's own message, else pydantic's English."""
    cause = (error.get("ctx") or {}).get("error")
    said = cause.args[0] if isinstance(cause, BaseException) and cause.args else None
    return said if isinstance(said, Message) else str(error["msg"]).removeprefix("Value error, ")


def _field_name(location: list[str | int], data: Any) -> str:
    """``['trips', 3, 'latest_pickup']`` -> ``trips[3].latest_pickup (id 'T4')``."""
    parts: list[str] = []
    ident = None
    node = data
    for part in location:
        if isinstance(part, int) or (part.isdigit() and parts and isinstance(node, list)):
            index = int(part)
            if parts:
                parts[-1] += f"[{index}]"
            else:
                parts.append(f"[{index}]")
            node = node[index] if isinstance(node, list) and index < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                ident = node["id"]
        else:
            # A key from the file may hold anything; shown quoted unless it reads as a plain name.
            parts.append(part if part.isidentifier() and part.isascii() else repr(part))
            node = node.get(part) if isinstance(node, dict) else None
    name = ".".join(parts)
    return f"{name} (id {ident!r})" if ident is not None else name
