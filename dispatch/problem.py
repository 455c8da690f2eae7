"""The dispatch problem as the exchange format states it (../shared/spec/dispatch-format.md), validated whole.

A bad problem is refused before any solving, with a `ProblemError` naming the field (``trips[3].latest_pickup``)
and the reason, so the CLI can exit 2 and the API can answer 422.
"""

from __future__ import annotations

import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

FORMAT: Final = "dispatch/1"


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
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {"error": "ProblemError", "detail": str(self), "field": self.field}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


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
    seats: int = Field(ge=1, le=100)
    powertrain: Powertrain = Powertrain.ice
    range_km: float | None = Field(default=None, gt=0, description="road km per shift; None = unlimited")
    shift_start: AwareDatetime
    shift_end: AwareDatetime

    @model_validator(mode="after")
    def _shift_in_order(self) -> Vehicle:
        if self.shift_end <= self.shift_start:
            raise _Located("shift_end", "shift_end must be after shift_start")
        return self


class Trip(_Model):
    id: Id
    priority: Priority = Priority.routine
    categories: tuple[Category, ...] = Field(min_length=1)
    passengers: int = Field(default=1, ge=1, le=100)
    pickup: Point
    dropoff: Point
    earliest_pickup: AwareDatetime
    latest_pickup: AwareDatetime
    dwell_min: float = Field(default=0, ge=0, le=24 * 60)

    @model_validator(mode="after")
    def _window_in_order(self) -> Trip:
        if self.latest_pickup < self.earliest_pickup:
            raise _Located("latest_pickup", "latest_pickup is before earliest_pickup")
        return self


class Problem(_Model):
    """One batch: depots, the vehicles retained for dispatch, and the trips to serve."""

    format: Literal["dispatch/1"] = FORMAT
    name: str = "unnamed"
    road_factor: float = Field(default=1.3, ge=1.0, le=5.0)
    speed_kmh: float = Field(default=30.0, gt=0, le=200)
    depots: tuple[Depot, ...] = Field(min_length=1)
    vehicles: tuple[Vehicle, ...] = ()
    trips: tuple[Trip, ...] = ()

    @field_validator("depots", "vehicles", "trips")
    @classmethod
    def _unique_ids(cls, items: tuple[Depot | Vehicle | Trip, ...]) -> tuple[Depot | Vehicle | Trip, ...]:
        twice = [key for key, count in Counter(item.id for item in items).items() if count > 1]
        if twice:
            raise ValueError(f"duplicate id {twice[0]!r}")
        return items

    @model_validator(mode="after")
    def _depots_known(self) -> Problem:
        known = {depot.id for depot in self.depots}
        for index, vehicle in enumerate(self.vehicles):
            if vehicle.depot not in known:
                raise _Located(f"vehicles.{index}.depot", f"unknown depot {vehicle.depot!r}")
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
        """Read and validate an instance file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ProblemError("", f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        except json.JSONDecodeError as exc:
            raise ProblemError("", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        return cls.parse(data)

    def trip_index(self) -> dict[str, int]:
        return {trip.id: index for index, trip in enumerate(self.trips)}

    def vehicle_index(self) -> dict[str, int]:
        return {vehicle.id: index for index, vehicle in enumerate(self.vehicles)}


class _Located(ValueError):
    """A cross-field error that knows its field, relative to the model raising it (pydantic would name the model)."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}\x00{reason}")


def _problem_error(exc: ValidationError, data: Any) -> ProblemError:
    error = exc.errors(include_url=False)[0]
    location = [str(part) for part in error["loc"]]
    reason = str(error["msg"]).removeprefix("Value error, ")
    if "\x00" in reason:
        where, reason = reason.split("\x00", 1)
        location += where.split(".")
    if error["type"] == "timezone_aware":
        reason = "time without offset (ISO 8601 with an offset, e.g. 2026-11-23T09:00:00+08:00)"
    return ProblemError(_field_name(location, data), reason)


def _field_name(location: list[str], data: Any) -> str:
    """``['trips', '3', 'latest_pickup']`` -> ``trips[3].latest_pickup (id 'T4')``."""
    parts: list[str] = []
    ident = None
    node = data
    for part in location:
        if part.isdigit() and parts:
            parts[-1] += f"[{part}]"
            node = node[int(part)] if isinstance(node, list) and int(part) < len(node) else None
            if isinstance(node, dict) and "id" in node:
                ident = node["id"]
        else:
            parts.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    name = ".".join(parts)
    return f"{name} (id {ident!r})" if ident is not None else name

