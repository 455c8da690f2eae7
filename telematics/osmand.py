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


def _course(name: str, value: Any) -> int | None:
    degrees = _number(name, value)
    return None if degrees < 0 else round(degrees) % 360


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
    speed = _number("speed", params["speed"]) * KNOT_KMH if "speed" in params else 0.0
    course_key = "bearing" if "bearing" in params else "heading"
    odometer = _number("odometer", params["odometer"]) if "odometer" in params else None
    return OsmAndReport(
        device_id=device_id,
        fixed_at=fixed_at,
        lat=lat,
        lon=lon,
        speed_kmh=max(speed, 0.0),
        course=_course(course_key, params[course_key]) if course_key in params else None,
        altitude_m=round(_number("altitude", params["altitude"])) if "altitude" in params else None,
        accuracy_m=_number("accuracy", params["accuracy"]) if "accuracy" in params else None,
        acc=_boolean("ignition", params["ignition"]) if "ignition" in params else None,
        mileage_km=odometer / 1000 if odometer is not None else None,
        battery=_number("batt", params["batt"]) if "batt" in params else None,
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
            level = level * 100 if level >= 0 else None
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
        speed_kmh=speed * MPS_KMH if speed is not None and speed > 0 else 0.0,
        course=None if heading is None or heading < 0 else round(heading) % 360,
        altitude_m=None if altitude is None else round(altitude),
        accuracy_m=None if accuracy is None or accuracy < 0 else accuracy,
        acc=None if acc is None else _boolean(f"{name}.ignition", acc),
        mileage_km=None if odometer is None else _number(f"{name}.odometer", odometer) / 1000,
        battery=level,
        attributes=attributes,
    )


def parse_json(payload: Any, now: datetime) -> list[OsmAndReport]:
    """One JSON body: ``location`` one object or a list of them, each a report of ``device_id``."""
    root = _object("body", payload)
    device_id = _device_id("device_id", root.get("device_id"))
    locations = root.get("location")
    if isinstance(locations, list):
        if not locations:
            raise OsmAndError("location", "empty list")
        return [
            _location(device_id, _object(f"location[{i}]", item), now, f"location[{i}]")
            for i, item in enumerate(locations)
        ]
    return [_location(device_id, _object("location", locations), now, "location")]


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
