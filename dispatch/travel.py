"""Travel: road km and drive seconds between points, behind one small interface.

The exchange format's model is WGS-84 geodesic distance × road factor at a constant speed. `Geodesic` computes it
for whole arrays at once (Vincenty's inverse formula in numpy; it agrees with geopy's Karney geodesic to well under
a millimetre at city scale). A precomputed matrix or a road-network router replaces it by implementing `Travel`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from geopy.distance import geodesic

from dispatch.problem import Problem

FloatArray = np.ndarray

# WGS-84
_A = 6378137.0
_F = 1 / 298.257223563
_B = _A * (1 - _F)


class Travel(Protocol):
    """Road distance and drive time between matching elements of coordinate arrays.

    The two attributes let solvers screen pairs cheaply: road km is never below geodesic km × ``road_factor``,
    and no drive is faster than ``speed_kmh`` (a road router sets 1.0 and its top speed).
    """

    road_factor: float
    speed_kmh: float

    def km(self, lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
        """Road km from (lat1, lon1)[i] to (lat2, lon2)[i], elementwise."""
        ...

    def seconds(self, km: FloatArray) -> FloatArray:
        """Drive seconds for road km (whole seconds, rounded up, so plans never run late)."""
        ...

    def pair_km(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        """Road km between two (lat, lon) points: the one-pair path solvers take inside their loops."""
        ...


class Geodesic:
    """WGS-84 geodesic × road factor, at a constant speed (the exchange format's travel model)."""

    def __init__(self, road_factor: float = 1.3, speed_kmh: float = 30.0) -> None:
        self.road_factor = road_factor
        self.speed_kmh = speed_kmh

    @classmethod
    def of(cls, problem: Problem) -> Geodesic:
        return cls(problem.road_factor, problem.speed_kmh)

    def km(self, lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
        return geodesic_km(lat1, lon1, lat2, lon2) * self.road_factor

    def pair_km(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        """Road km between two points; numpy's per-call cost dwarfs one pair, so this path is plain Python."""
        return _geodesic_km_scalar(a[0], a[1], b[0], b[1]) * self.road_factor

    def seconds(self, km: FloatArray) -> FloatArray:
        # A millisecond's tolerance absorbs float noise in km that is an exact multiple of the speed.
        return np.ceil(np.asarray(km) / self.speed_kmh * 3600.0 - 1e-3)


def geodesic_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """WGS-84 geodesic km between matching elements (Vincenty's inverse; geopy for the rare non-convergent pair)."""
    lat1, lon1, lat2, lon2 = (np.asarray(a, dtype=np.float64) for a in (lat1, lon1, lat2, lon2))
    lat1, lon1, lat2, lon2 = np.broadcast_arrays(lat1, lon1, lat2, lon2)
    u1 = np.arctan((1 - _F) * np.tan(np.radians(lat1)))
    u2 = np.arctan((1 - _F) * np.tan(np.radians(lat2)))
    big_l = np.radians(lon2 - lon1)
    sin_u1, cos_u1, sin_u2, cos_u2 = np.sin(u1), np.cos(u1), np.sin(u2), np.cos(u2)
    lam = big_l.copy()
    converged = np.zeros(lam.shape, dtype=bool)
    sin_sigma = cos_sigma = sigma = cos_sq_alpha = cos_2sm = np.zeros_like(lam)
    for _ in range(200):
        sin_lam, cos_lam = np.sin(lam), np.cos(lam)
        sin_sigma = np.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = np.arctan2(sin_sigma, cos_sigma)
        with np.errstate(invalid="ignore", divide="ignore"):
            sin_alpha = np.where(sin_sigma > 0, cos_u1 * cos_u2 * sin_lam / sin_sigma, 0.0)
            cos_sq_alpha = 1 - sin_alpha**2
            cos_2sm = np.where(cos_sq_alpha > 0, cos_sigma - 2 * sin_u1 * sin_u2 / cos_sq_alpha, 0.0)
        c = _F / 16 * cos_sq_alpha * (4 + _F * (4 - 3 * cos_sq_alpha))
        previous = lam
        lam = big_l + (1 - c) * _F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        converged = np.abs(lam - previous) < 1e-12
        if converged.all():
            break
    metres = _metres(cos_sq_alpha, sin_sigma, cos_sigma, sigma, cos_2sm)
    if not converged.all():  # nearly antipodal points: never in one city, but stay exact anyway
        for index in zip(*np.nonzero(~converged), strict=True):
            metres[index] = geodesic((lat1[index], lon1[index]), (lat2[index], lon2[index])).meters
    result: FloatArray = metres / 1000.0
    return result


def _geodesic_km_scalar(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """`geodesic_km` for one pair in plain Python (ten times faster than geopy for a single pair)."""
    u1 = math.atan((1 - _F) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - _F) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos_sq_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos_sq_alpha if cos_sq_alpha else 0.0
        c = _F / 16 * cos_sq_alpha * (4 + _F * (4 - 3 * cos_sq_alpha))
        previous = lam
        lam = big_l + (1 - c) * _F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - previous) < 1e-12:
            break
    else:
        return float(geodesic((lat1, lon1), (lat2, lon2)).km)
    return float(_metres(cos_sq_alpha, sin_sigma, cos_sigma, sigma, cos_2sm)) / 1000.0


def _metres(cos_sq_alpha: Any, sin_sigma: Any, cos_sigma: Any, sigma: Any, cos_2sm: Any) -> Any:
    """Vincenty's closing series, shared by the array and the scalar paths (same arithmetic on both)."""
    u_sq = cos_sq_alpha * (_A**2 - _B**2) / _B**2
    a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = (
        b
        * sin_sigma
        * (
            cos_2sm
            + b
            / 4
            * (cos_sigma * (-1 + 2 * cos_2sm**2) - b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2))
        )
    )
    return _B * a * (sigma - delta_sigma)
