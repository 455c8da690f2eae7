"""OsmAnd / Traccar Client HTTP protocol: the query (or form) and JSON forms parsed into reports. Pure: the caller
passes ``now`` for reports that carry no time.

Parameters follow Traccar's ``OsmAndProtocolDecoder`` (the listener Traccar Client and OsmAnd speak to):
- query form: ``id`` or ``deviceid``; ``timestamp`` as Unix seconds, Unix milliseconds (a number above 2^31 - 1 is
  taken as milliseconds, as Traccar does) or ISO 8601 (a naive time is UTC); ``lat`` and ``lon`` or
  ``location=lat,lon``; ``speed`` in knots; ``bearing`` or ``heading``; ``altitude``; ``accuracy``; ``batt``
  (percent); ``ignition``; ``odometer`` (metres); every other key (``hdop``, ``driverUniqueId`` ...) kept raw in
  ``attributes``.
- JSON form (Traccar Client 9+, the Transistor background-geolocation shape): ``device_id`` and ``location`` (one
  object or a list) with ``timestamp`` (ISO 8601), ``coords`` {latitude, longitude, speed in m/s, heading, altitude,
  accuracy}, ``is_moving``, ``odometer`` (metres), ``battery`` {level 0..1, is_charging}. Negative speed and heading
  mean "unknown" there, as in Traccar.

Unlike Traccar, a report without a position is refused rather than given the device's last one: a fix is only
stored when the device says where it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KNOT_KMH = 1.852
MPS_KMH = 3.6
_SECONDS_LIMIT = 2**31 - 1  # Traccar: a timestamp at or above this is in milliseconds
# Plausible ranges (a fix outside them is refused, 400 naming the field: a phone's GPS never reports them, and one
# stored would become a false 超速 or inflated track km; an unbounded altitude also overflowed the integer column).
MAX_SPEED_KMH = 500.0
MIN_ALTITUDE_M, MAX_ALTITUDE_M = -500.0, 10_000.0
MAX_ACCURACY_M = 100_000.0
MAX_ODOMETER_M = 1e10  # ten million km: past any vehicle's life; a negative or absurd one would skew the track audit
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class OsmAndReport:
    device_id: str
    fixed_at: datetime  # aware UTC
    lat: float
    lon: float
    speed_kmh: float = 0.0  # converted: knots (query form) or m/s (JSON form)
    course: int | None = None
    altitude_m: int | None = None
    accuracy_m: float | None = None
    acc: bool | None = None  # from an `ignition` attribute when sent
    mileage_km: float | None = None  # from `odometer` (metres) when sent
    battery: float | None = None  # percent
    attributes: dict[str, str] = field(default_factory=dict)  # every other key, kept raw


class OsmAndError(ValueError):
    """A refused report: ``field`` names the parameter, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# --- value parsing -----------------------------------------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise OsmAndError(name, f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OsmAndError(name, f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise OsmAndError(name, f"{value!r} is not a finite number")
    return number


def _latitude(name: str, value: Any) -> float:
    lat = _number(name, value)
    if not -90 <= lat <= 90:
        raise OsmAndError(name, f"latitude {lat} is outside [-90, 90]")
    return lat


def _longitude(name: str, value: Any) -> float:
    lon = _number(name, value)
    if not -180 <= lon <= 180:
        raise OsmAndError(name, f"longitude {lon} is outside [-180, 180]")
    return lon


def _within(name: str, number: float, low: float, high: float, what: str) -> float:
    if not low <= number <= high:
        raise OsmAndError(name, f"{what} {number:g} is outside [{low:g}, {high:g}]")
    return number


def _speed(name: str, kmh: float) -> float:
    return _within(name, kmh, 0.0, MAX_SPEED_KMH, "speed (km/h)")


def _course(name: str, degrees: float) -> int:
    return round(_within(name, degrees, 0.0, 360.0, "course (degrees)")) % 360


def _altitude(name: str, metres: float) -> int:
    return round(_within(name, metres, MIN_ALTITUDE_M, MAX_ALTITUDE_M, "altitude (m)"))


def _accuracy(name: str, metres: float) -> float:
    return _within(name, metres, 0.0, MAX_ACCURACY_M, "accuracy (m)")


def _mileage_km(name: str, metres: float) -> float:
    return _within(name, metres, 0.0, MAX_ODOMETER_M, "odometer (m)") / 1000


def _battery(name: str, percent: float) -> float:
    return _within(name, percent, 0.0, 100.0, "battery (%)")


def _device_id(name: str, value: Any) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        raise OsmAndError(name, "missing")
    text = str(value).strip()
    if not text:
        raise OsmAndError(name, "missing")
    if len(text) > 64 or not text.isprintable():
        raise OsmAndError(name, f"{text[:64]!r} is not a device id")
    return text


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise OsmAndError(name, f"{value!r} is not true or false")


def parse_timestamp(name: str, value: Any) -> datetime:
    """Unix seconds, Unix milliseconds or ISO 8601 -> aware UTC."""
    if isinstance(value, bool):
        raise OsmAndError(name, f"{value!r} is not a time")
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise OsmAndError(name, f"{text[:40]!r} is neither Unix time nor ISO 8601") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not math.isfinite(number) or number < 0:
        raise OsmAndError(name, f"{text[:40]!r} is not a Unix time")
    seconds = number / 1000 if number >= _SECONDS_LIMIT else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise OsmAndError(name, f"{text[:40]!r} is out of range") from None


# --- the query form ----------------------------------------------------------------------------------------------

_QUERY_KNOWN = frozenset(("id", "deviceid", "timestamp", "lat", "lon", "location", "speed", "bearing", "heading"))
_QUERY_KNOWN |= {"altitude", "accuracy", "batt", "ignition", "odometer"}


def parse_query(params: Mapping[str, str], now: datetime) -> OsmAndReport:
    """The query or form parameters of one report; a report without a timestamp is dated ``now``."""
    id_key = "deviceid" if "id" not in params and "deviceid" in params else "id"
    device_id = _device_id(id_key, params.get(id_key))
    if "location" in params and not ("lat" in params and "lon" in params):
        parts = params["location"].split(",")
        if len(parts) != 2:
            raise OsmAndError("location", f"{params['location'][:40]!r} is not lat,lon")
        lat, lon = _latitude("location", parts[0]), _longitude("location", parts[1])
    else:
        for name in ("lat", "lon"):
            if name not in params:
                raise OsmAndError(name, "missing")
        lat, lon = _latitude("lat", params["lat"]), _longitude("lon", params["lon"])
    fixed_at = parse_timestamp("timestamp", params["timestamp"]) if params.get("timestamp") else now
    speed = _speed("speed", _number("speed", params["speed"]) * KNOT_KMH) if "speed" in params else 0.0
    course_key = "bearing" if "bearing" in params else "heading"
    odometer = _number("odometer", params["odometer"]) if "odometer" in params else None
    return OsmAndReport(
        device_id=device_id,
        fixed_at=fixed_at,
        lat=lat,
        lon=lon,
        speed_kmh=speed,
        course=_course(course_key, _number(course_key, params[course_key])) if course_key in params else None,
        altitude_m=_altitude("altitude", _number("altitude", params["altitude"])) if "altitude" in params else None,
        accuracy_m=_accuracy("accuracy", _number("accuracy", params["accuracy"])) if "accuracy" in params else None,
        acc=_boolean("ignition", params["ignition"]) if "ignition" in params else None,
        mileage_km=_mileage_km("odometer", odometer) if odometer is not None else None,
        battery=_battery("batt", _number("batt", params["batt"])) if "batt" in params else None,
        attributes={key: str(value) for key, value in params.items() if key not in _QUERY_KNOWN},
    )


def _unix(moment: datetime) -> str:
    """Unix seconds, or milliseconds from 2038 on, where seconds would be read as milliseconds."""
    seconds = int(moment.timestamp())
    return str(seconds * 1000 if seconds >= _SECONDS_LIMIT else seconds)


def to_query(report: OsmAndReport) -> dict[str, str]:
    """The Traccar Client's query form of a report (speed back in knots, time in whole Unix seconds)."""
    query = {
        "id": report.device_id,
        "timestamp": _unix(report.fixed_at),
        "lat": repr(report.lat),
        "lon": repr(report.lon),
        "speed": repr(report.speed_kmh / KNOT_KMH),
    }
    optional = {
        "bearing": report.course,
        "altitude": report.altitude_m,
        "accuracy": report.accuracy_m,
        "batt": report.battery,
        "odometer": None if report.mileage_km is None else report.mileage_km * 1000,
    }
    query.update({key: str(value) for key, value in optional.items() if value is not None})
    if report.acc is not None:
        query["ignition"] = "true" if report.acc else "false"
    query.update({key: value for key, value in report.attributes.items() if key not in query})
    return query


# --- the JSON form -----------------------------------------------------------------------------------------------


def _object(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OsmAndError(name, "missing or not an object")
    return value


def _location(device_id: str, location: Mapping[str, Any], now: datetime, name: str) -> OsmAndReport:
    coords = _object(f"{name}.coords", location.get("coords"))
    for key in ("latitude", "longitude"):
        if key not in coords:
            raise OsmAndError(f"{name}.coords.{key}", "missing")
    lat = _latitude(f"{name}.coords.latitude", coords["latitude"])
    lon = _longitude(f"{name}.coords.longitude", coords["longitude"])
    timestamp = location.get("timestamp")
    fixed_at = parse_timestamp(f"{name}.timestamp", timestamp) if timestamp not in (None, "") else now

    def optional(key: str) -> float | None:
        value = coords.get(key)
        return None if value is None else _number(f"{name}.coords.{key}", value)

    speed, heading = optional("speed"), optional("heading")
    altitude, accuracy = optional("altitude"), optional("accuracy")
    odometer = location.get("odometer")
    battery = location.get("battery")
    level: float | None = None
    attributes: dict[str, str] = {}
    if isinstance(battery, Mapping):
        raw_level = battery.get("level")
        if raw_level is not None:
            level = _number(f"{name}.battery.level", raw_level)
            level = _battery(f"{name}.battery.level", level * 100) if level >= 0 else None  # -1: unknown
        if "is_charging" in battery:
            attributes["charge"] = str(bool(battery["is_charging"])).lower()
    for key in ("is_moving", "event", "mock", "uuid"):
        if key in location and location[key] is not None:
            value = location[key]
            attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
    acc = location.get("ignition")
    return OsmAndReport(
        device_id=device_id,
        fixed_at=fixed_at,
        lat=lat,
        lon=lon,
        # Negative speed, heading and accuracy mean "unknown" in this form (Transistor's -1), as in Traccar.
        speed_kmh=_speed(f"{name}.coords.speed", speed * MPS_KMH) if speed is not None and speed > 0 else 0.0,
        course=None if heading is None or heading < 0 else _course(f"{name}.coords.heading", heading),
        altitude_m=None if altitude is None else _altitude(f"{name}.coords.altitude", altitude),
        accuracy_m=None if accuracy is None or accuracy < 0 else _accuracy(f"{name}.coords.accuracy", accuracy),
        acc=None if acc is None else _boolean(f"{name}.ignition", acc),
        mileage_km=None if odometer is None else _mileage_km(f"{name}.odometer", _number(f"{name}.odometer", odometer)),
        battery=level,
        attributes=attributes,
    )


def parse_json_each(payload: Any, now: datetime) -> list[OsmAndReport | OsmAndError]:
    """One JSON body: ``location`` one object or a list of them, each a report of ``device_id`` or the refusal of
    that one location (a batch's good fixes are kept when one is bad). A body that is no report at all (no device
    id, no location) raises ``OsmAndError``."""
    root = _object("body", payload)
    device_id = _device_id("device_id", root.get("device_id"))
    locations = root.get("location")
    if not isinstance(locations, list):
        return [_location(device_id, _object("location", locations), now, "location")]
    if not locations:
        raise OsmAndError("location", "empty list")
    each: list[OsmAndReport | OsmAndError] = []
    for i, item in enumerate(locations):
        try:
            each.append(_location(device_id, _object(f"location[{i}]", item), now, f"location[{i}]"))
        except OsmAndError as error:
            each.append(error)
    return each


def parse_json(payload: Any, now: datetime) -> list[OsmAndReport]:
    """One JSON body's reports; the first refused location raises ``OsmAndError``."""
    reports: list[OsmAndReport] = []
    for one in parse_json_each(payload, now):
        if isinstance(one, OsmAndError):
            raise one
        reports.append(one)
    return reports


def to_json(report: OsmAndReport) -> dict[str, Any]:
    """The newer JSON form of a report (speed back in m/s)."""
    coords: dict[str, Any] = {
        "latitude": report.lat,
        "longitude": report.lon,
        "speed": report.speed_kmh / MPS_KMH,
        "heading": -1 if report.course is None else report.course,
    }
    if report.altitude_m is not None:
        coords["altitude"] = report.altitude_m
    if report.accuracy_m is not None:
        coords["accuracy"] = report.accuracy_m
    location: dict[str, Any] = {
        "timestamp": report.fixed_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "coords": coords,
        "is_moving": report.speed_kmh > 0,
    }
    if report.mileage_km is not None:
        location["odometer"] = report.mileage_km * 1000
    if report.battery is not None:
        location["battery"] = {"level": report.battery / 100, "is_charging": report.attributes.get("charge") == "true"}
    if report.acc is not None:
        location["ignition"] = report.acc
    return {"device_id": report.device_id, "location": location}
