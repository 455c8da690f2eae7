"""Test data: a small jurisdiction tree, agencies with quotas, and vehicles with valid unique plates and VINs."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from fleet import registry, vehicles
from fleet.audit import Actor
from fleet.clock import today as china_today  # China's date: after 16:00 UTC it is already tomorrow
from fleet.enums import Category, Powertrain
from fleet.models import Agency, Vehicle
from fleet.schemas import AgencyIn, JurisdictionIn, QuotaIn, VehicleIn, vin_check_digit

ADMIN = Actor("test-admin", "admin")
_serial = itertools.count(1)
THIS_YEAR = china_today().year


def vin(serial: int) -> str:
    body = f"LGBH52E0{serial % 10}X{serial:07d}"[-17:]
    body = body[:8] + "0" + body[9:]
    return body[:8] + vin_check_digit(body) + body[9:]


def plate(serial: int, *, nev: bool = False) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"鄂{letters[serial // 100000 % 24]}{'D' if nev else ''}{serial % 100000:05d}"


def jurisdiction_tree(session: Session, *, live_on: date | None = None) -> None:
    """湖北省 420000 > 武汉市 420100 > 江岸区 420102, live since ``live_on`` (default: today)."""
    for code, name, level, parent in (("420000", "湖北省", "province", None), ("420100", "武汉市", "city", "420000"),
                                      ("420102", "江岸区", "county", "420100")):
        registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(code=code, name=name, level=level,
                                                                          parent=parent, live_on=live_on))


def agency(session: Session, code: str = "WH-GA", *, jurisdiction: str = "420100",
           quotas: dict[Category, int] | None = None) -> Agency:
    created = registry.create_agency(session, ADMIN, data=AgencyIn(code=code, name=f"单位 {code}",
                                                                    jurisdiction=jurisdiction))
    for category, limit in (quotas or {}).items():
        registry.set_quota(session, ADMIN, data=QuotaIn(agency=code, category=category, limit=limit,
                                                        reason="establishment"))
    return created


def vehicle_in(**overrides: Any) -> VehicleIn:
    serial = next(_serial)
    powertrain = Powertrain(overrides.get("powertrain", Powertrain.ice))
    engineless = powertrain in (Powertrain.bev, Powertrain.fcev)
    data: dict[str, Any] = {
        "plate": plate(serial, nev=powertrain is not Powertrain.ice and powertrain is not Powertrain.hev),
        "vin": vin(serial),
        "model": "test model",
        "category": Category.general,
        "powertrain": powertrain,
        "seats": 5,
        "price_cny": Decimal(100000),
        "displacement_l": None if engineless else Decimal("1.5"),
        "range_km": 400 if powertrain is Powertrain.bev else None,
        "acquired_on": date(THIS_YEAR - 3, 3, 1),
    }
    data.update(overrides)
    return VehicleIn.parse(data)


def registered(session: Session, agency_code: str = "WH-GA", **overrides: Any) -> Vehicle:
    return vehicles.register(session, ADMIN, agency=agency_code, data=vehicle_in(**overrides))
