"""Small scenarios built in code, so that each test states the city it needs."""

from __future__ import annotations

from typing import Any

from dispatch.synthetic.city import CENTRE, KM_PER_DEG_LAT
from scenarios.spec import Scenario
from tests.dispatch.conftest import referee

__all__ = ["referee"]  # the engine tests' referee fixture, shared


def agency(code: str, *, trips: float, vehicles: dict[str, int], north_km: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": code, "lat": CENTRE[0] + north_km / KM_PER_DEG_LAT, "lon": CENTRE[1], "trips": trips,
            "vehicles": vehicles, **extra}


def scenario(agencies: list[dict[str, Any]], **overrides: Any) -> Scenario:
    """A scenario over ``agencies``: one working day, one replication, a short solve, and ``overrides`` on top."""
    data: dict[str, Any] = {
        "name": "test",
        "seed": 7,
        "replications": 1,
        "calendar": {"start": "2026-11-23", "days": 1},
        "dispatch": {"time_limit_s": 0.2},
        "fleet": {"agencies": agencies},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Scenario.model_validate(data)
