"""Positions: the one writer of fixes (``store``), whatever protocol brought them.

A fix is acknowledged to its terminal only after ``store`` committed it (the ingest's group commit calls it once
per batch), so a crash loses nothing a terminal was told is kept; a resent fix (same vehicle, same device time)
is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleet.enums import PositionSource


@dataclass(frozen=True, slots=True)
class Fix:
    """One position of a vehicle, as every source delivers it and the tracks read it."""

    vehicle_id: int
    fixed_at: datetime  # the device's time, timezone-aware
    lat: float
    lon: float
    speed_kmh: float = 0.0
    course: int | None = None
    altitude_m: int | None = None
    accuracy_m: float | None = None
    acc: bool | None = None  # ignition on; None when the source does not say
    alarm: int = 0
    status: int | None = None
    mileage_km: float | None = None
    source: PositionSource = PositionSource.jt808
    backfill: bool = False
    extras: dict[str, Any] | None = field(default=None, compare=False)
