"""Days, places and geofences the usage-audit tests share: hand-made cases whose answers are known."""

from __future__ import annotations

from datetime import date, datetime

from geopy.distance import geodesic

from dispatch.travel import Geodesic
from fleet.clock import CHINA
from fleet.usage_audit import CircleGeofence, GeofenceKind, PolygonGeofence

TRAVEL = Geodesic(1.3)
YARD = (30.5928, 114.3055)  # 江岸区, the test fleet's home yard
CITY_HALL = (30.5460, 114.2960)
HOSPITAL = (30.5820, 114.2700)

MONDAY = date(2026, 3, 9)
SATURDAY = date(2026, 3, 14)
MAKE_UP_SATURDAY = date(2026, 2, 28)  # 调休上班 after 春节
QINGMING_MONDAY = date(2026, 4, 6)

FENCE = CircleGeofence(name="某高尔夫俱乐部", kind=GeofenceKind.golf_course, lat=30.6630, lon=114.2060, radius_m=500)
LAKE = PolygonGeofence(name="某风景区", kind=GeofenceKind.scenic_area,
                       vertices=((30.56, 114.40), (30.56, 114.44), (30.54, 114.44), (30.54, 114.40)))


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A China-time wall clock on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA)


def offset(point: tuple[float, float], metres: float, bearing: float = 0.0) -> tuple[float, float]:
    """The point ``metres`` from ``point`` along ``bearing``; geopy solves the direct problem the project lacks."""
    moved = geodesic(meters=metres).destination(point, bearing)
    return moved.latitude, moved.longitude
