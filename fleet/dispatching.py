"""From the registry to a dispatch problem: the vehicles on the road today, each agency's yard as its depot.

Bookings arrive with the booking API (issue 4); until then a day's trip requests come from the synthetic city
generator, placed on the same map as the registry's vehicles.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch.synthetic import city_instance
from fleet.enums import Category, VehicleStatus
from fleet.models import Agency, Vehicle

CHINA = ZoneInfo("Asia/Shanghai")
_ROUND_THE_CLOCK = {Category.emergency}  # 应急保障 vehicles are on call day and night


def available(session: Session) -> list[Vehicle]:
    """Vehicles that can be dispatched: active (not sealed, disposed of or in the workshop), with a home yard."""
    query = (
        sa.select(Vehicle)
        .where(Vehicle.status == VehicleStatus.active, Vehicle.home_lat.is_not(None))
        .order_by(Vehicle.plate)
    )
    return list(session.scalars(query))


def problem_for_day(session: Session, day: date, *, trips_per_vehicle: float = 3.0, seed: int = 0) -> dict[str, Any]:
    """An exchange-format instance: today's available vehicles at their agencies' yards, and a day of requests."""
    vehicles = available(session)
    by_agency: dict[int, list[Vehicle]] = {}
    for vehicle in vehicles:
        by_agency.setdefault(vehicle.agency_id, []).append(vehicle)
    rows = session.execute(sa.select(Agency.id, Agency.code).where(Agency.id.in_(by_agency)))
    codes: dict[int, str] = {agency: code for agency, code in rows}
    depots = [
        {
            "id": codes[agency],
            "lat": round(fmean(v.home_lat for v in held if v.home_lat is not None), 6),
            "lon": round(fmean(v.home_lon for v in held if v.home_lon is not None), 6),
        }
        for agency, held in sorted(by_agency.items(), key=lambda item: codes[item[0]])
    ]
    morning = datetime.combine(day, time(7, 30), CHINA)
    evening = datetime.combine(day, time(19, 30), CHINA)
    midnight = datetime.combine(day, time(0, 0), CHINA)
    fleet = [
        {
            "id": v.plate,
            "depot": codes[v.agency_id],
            "category": v.category.value,
            "seats": v.seats,
            "powertrain": v.powertrain.value,
            "range_km": v.range_km,
            "shift_start": (midnight if v.category in _ROUND_THE_CLOCK else morning).isoformat(),
            "shift_end": (
                midnight + timedelta(days=1) - timedelta(minutes=1) if v.category in _ROUND_THE_CLOCK else evening
            ).isoformat(),
        }
        for v in vehicles
    ]
    requests = city_instance(max(1, len(fleet)), round(len(fleet) * trips_per_vehicle), seed=seed, day=day)
    return {
        "format": "dispatch/1",
        "name": f"wuhan-{day.isoformat()}",
        "road_factor": requests["road_factor"],
        "speed_kmh": requests["speed_kmh"],
        "depots": depots,
        "vehicles": fleet,
        "trips": requests["trips"],
    }
