"""Hand-built tracks for the track tests: a vehicle parked, driven along a bearing at a speed, parked again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fleet.positions import Fix
from fleet.tracks import Track
from tests.fleet.usage_audit_data import offset


@dataclass
class Script:
    """Fixes written as a story: ``park``, ``drive``, ``idle``, ``silence``; every ``step`` seconds."""

    vehicle_id: int
    at: datetime
    place: tuple[float, float]
    step: int = 10
    fixes: list[Fix] = field(default_factory=list)
    mileage: float | None = None
    alarm: int = 0

    def _fix(self, speed: float, acc: bool | None) -> None:
        self.fixes.append(Fix(vehicle_id=self.vehicle_id, fixed_at=self.at, lat=self.place[0], lon=self.place[1],
                              speed_kmh=speed, acc=acc, alarm=self.alarm,
                              mileage_km=None if self.mileage is None else round(self.mileage, 1)))

    def park(self, minutes: float, acc: bool | None = False) -> Script:
        """Stand still with the ignition off (or as given), a fix every step."""
        for _ in range(int(minutes * 60 / self.step)):
            self._fix(0.0, acc)
            self.at += timedelta(seconds=self.step)
        return self

    def idle(self, minutes: float) -> Script:
        return self.park(minutes, acc=True)

    def drive(self, km: float, kmh: float = 36.0, bearing: float = 90.0, acc: bool | None = True) -> Script:
        """Drive ``km`` along ``bearing`` at ``kmh``, a fix every step (the last one on arrival)."""
        metres = kmh / 3.6 * self.step
        steps = max(round(km * 1000 / metres), 1)
        for _ in range(steps):
            self._fix(kmh, acc)
            self.place = offset(self.place, metres, bearing)
            self.at += timedelta(seconds=self.step)
            if self.mileage is not None:
                self.mileage += metres / 1000
        return self

    def silence(self, minutes: float) -> Script:
        self.at += timedelta(minutes=minutes)
        return self

    def go_to(self, place: tuple[float, float]) -> Script:
        """Jump to ``place`` (after a silence: where the vehicle turned up)."""
        self.place = place
        return self

    def track(self) -> Track:
        return Track.from_fixes(self.vehicle_id, self.fixes)
