"""Prohibited areas (禁止驶入区域): circles and polygons on WGS-84 coordinates, as the rules file lists them."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.travel import Geodesic
from fleet.enums import LabelledEnum
from fleet.schemas import Latitude, Longitude

# The project's one WGS-84 geodesic; a road factor of 1 leaves the plain distance.
_GEODESIC = Geodesic(road_factor=1.0)


class GeofenceKind(LabelledEnum):
    scenic_area = "scenic_area", "风景名胜区"
    entertainment = "entertainment", "娱乐场所"
    private_residence = "private_residence", "私人住宅"
    golf_course = "golf_course", "高尔夫球场"
    private_club = "private_club", "私人会所"
    resort = "resort", "度假村"
    other = "other", "其他"



class Geofence(BaseModel):
    """An area official vehicles have no business driving to; ``shape`` says which subclass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    kind: GeofenceKind

    def contains(self, lat: float, lon: float) -> bool:
        """Whether (lat, lon) lies inside the area."""
        raise NotImplementedError


class CircleGeofence(Geofence):
    shape: Literal["circle"] = "circle"
    lat: Latitude
    lon: Longitude
    radius_m: float = Field(gt=0, le=50_000)

    def distance_m(self, lat: float, lon: float) -> float:
        """WGS-84 geodesic metres from the centre."""
        return _GEODESIC.pair_km((self.lat, self.lon), (lat, lon)) * 1000.0

    def contains(self, lat: float, lon: float) -> bool:
        # A generous box screens out far points before the geodesic: a degree of latitude is >= 110.5 km, and a
        # degree of longitude is shortest on the parallel nearest the pole that the circle reaches. The box only
        # ever answers "no" or "maybe"; the geodesic decides.
        dlat = self.radius_m / 110_000 + 1e-6
        reach = abs(self.lat) + dlat
        if abs(lat - self.lat) > dlat:
            return False
        dlon = abs((lon - self.lon + 180) % 360 - 180)
        if reach < 89.0 and dlon > dlat * 1.2 / math.cos(math.radians(reach)):
            return False
        return self.distance_m(lat, lon) <= self.radius_m


class PolygonGeofence(Geofence):
    """A polygon of [lat, lon] vertices; ray casting on plain lat/lon is exact enough at city scale."""

    shape: Literal["polygon"] = "polygon"
    vertices: tuple[tuple[Latitude, Longitude], ...] = Field(min_length=3, max_length=1000)

    def contains(self, lat: float, lon: float) -> bool:
        inside = False
        points = self.vertices
        for (lat1, lon1), (lat2, lon2) in zip(points, (*points[1:], points[0]), strict=True):
            if (lat1 > lat) != (lat2 > lat):
                crossing = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
                if lon < crossing:
                    inside = not inside
        return inside


AnyGeofence = Annotated[CircleGeofence | PolygonGeofence, Field(discriminator="shape")]
