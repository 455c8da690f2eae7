"""A small city for the API: two agencies, vehicles at their yards, drivers, and one user per role.

Agency A (WH-GA) sits in the city 武汉市 (420100), agency B (WH-CG) in its district 江岸区 (420102); besides the
whole-platform dispatcher, supervisor and admin, the district has its own (``COUNTY_USERS``), who reach agency B only.
`seed_city(engine, county_holds=AGENCY_A)` seeds the mirror image (A in the district, B in the city), for the role
table's in-scope column.

The city is migrated and seeded once into a template file; each test gets its own copy (requests commit, so a
rolled-back transaction cannot isolate them), on SQLite, and on PostgreSQL for the tests that ask for it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from fleet import drivers, users
from fleet.clock import CHINA
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category, OversightOffice, Powertrain, Role
from fleet.migrate import upgrade
from fleet.schemas import DriverIn
from fleet.settings import get_settings
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

AGENCY_A, AGENCY_B = "WH-GA", "WH-CG"
CITY, COUNTY = "420100", "420102"
# The district's platform users, acting for COUNTY (and so for the agency it holds) only.
COUNTY_USERS = ("dispatcher-county", "supervisor-county", "admin-county")
YARD_A, YARD_B = (30.5928, 114.3055), (30.5450, 114.3400)
# A Tuesday, far enough ahead that nothing in the tests is "in the past" for long.
DAY = date(2030, 3, 12)


TOKEN_DAYS = 3650


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA)


def password_of(user: str) -> str:
    """The sign-in password the seeded city gives ``user``: made from the name, so any test can know it."""
    return f"{user}-Pw-2030!"


@dataclass
class City:
    tokens: dict[str, str]
    vehicles: dict[str, int]  # name -> id
    drivers: dict[str, int]
    passwords: dict[str, str] = field(default_factory=dict)  # user name -> its sign-in password


def seed_city(engine: Engine, *, county_holds: str = AGENCY_B) -> City:
    with unit_of_work(engine) as session:
        jurisdiction_tree(session)
        agency(session, AGENCY_A, quotas={Category.law_enforcement: 3, Category.general: 2, Category.emergency: 2},
               jurisdiction=COUNTY if county_holds == AGENCY_A else CITY)
        agency(session, AGENCY_B, quotas={Category.law_enforcement: 2, Category.general: 2},
               jurisdiction=COUNTY if county_holds == AGENCY_B else CITY)
        v: dict[str, int] = {}
        for name, code, category, yard, extra in (
            ("le-a1", AGENCY_A, Category.law_enforcement, YARD_A, {}),
            ("le-a2", AGENCY_A, Category.law_enforcement, YARD_A, {}),
            ("gen-a1", AGENCY_A, Category.general, YARD_A, {"powertrain": Powertrain.bev}),
            ("em-a1", AGENCY_A, Category.emergency, YARD_A, {"seats": 7}),
            ("le-b1", AGENCY_B, Category.law_enforcement, YARD_B, {}),
            ("gen-b1", AGENCY_B, Category.general, YARD_B, {}),
        ):
            v[name] = registered(session, code, category=category, home_lat=yard[0], home_lon=yard[1],
                                 **extra).id
        d: dict[str, int] = {}
        for name, code, shift in (("driver-a", AGENCY_A, ("07:30", "18:30")),
                                  ("driver-b", AGENCY_B, ("07:30", "18:30")),
                                  ("pool-night", None, ("18:00", "08:00")), ("pool-day", None, ("07:00", "19:00"))):
            d[name] = drivers.add_driver(session, ADMIN, data=DriverIn(
                name=name, licence_class="C1", agency=code, shift_start=shift[0], shift_end=shift[1])).id
        tokens: dict[str, str] = {}
        for name, role, code, driver in (
            ("requester-a", Role.requester, AGENCY_A, None), ("requester-b", Role.requester, AGENCY_B, None),
            ("approver-a", Role.approver, AGENCY_A, None), ("approver-b", Role.approver, AGENCY_B, None),
            ("dispatcher", Role.dispatcher, None, None), ("driver-a", Role.driver, None, d["driver-a"]),
            ("supervisor", Role.supervisor, None, None), ("admin", Role.admin, None, None),
        ):
            # Tokens good past DAY: tests move the platform's clock there to drive its trips (fleet.clock.travel).
            tokens[name] = users.add_user(session, ADMIN, name=name, role=role, agency=code, driver_id=driver,
                                          password=password_of(name), days=TOKEN_DAYS)[1]
        for name, role in zip(COUNTY_USERS, (Role.dispatcher, Role.supervisor, Role.admin), strict=True):
            tokens[name] = users.add_user(session, ADMIN, name=name, role=role, jurisdiction=COUNTY,
                                          office=OversightOffice.discipline if role is Role.supervisor else None,
                                          password=password_of(name), days=TOKEN_DAYS)[1]
    return City(tokens, v, d, {name: password_of(name) for name in tokens})


@pytest.fixture(scope="session")
def city_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, City]:
    path = tmp_path_factory.mktemp("city") / "city.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    city = seed_city(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return path, city


@pytest.fixture
def city_engine(city_template: tuple[Path, City], tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "city.db"
    for suffix in ("", "-wal"):
        if Path(f"{city_template[0]}{suffix}").exists():
            shutil.copy(f"{city_template[0]}{suffix}", f"{path}{suffix}")
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def city(city_template: tuple[Path, City]) -> City:
    return city_template[1]


class Api:
    """A test client that speaks as one of the city's users: ``api.as_("dispatcher").post(...)``."""

    def __init__(self, client: TestClient, city: City) -> None:
        self.client, self.city = client, city

    def as_(self, user: str | None) -> _As:
        return _As(self.client, {"Authorization": f"Bearer {self.city.tokens[user]}"} if user else {})


class _As:
    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def __getattr__(self, method: str) -> Any:
        call = getattr(self.client, method)

        def send(url: str, **kwargs: Any) -> Any:
            return call(f"/api/v1{url}", headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

        return send


@pytest.fixture
def api(city_engine: Engine, city: City) -> Iterator[Api]:
    with TestClient(create_app(city_engine), raise_server_exceptions=False) as client:
        yield Api(client, city)


def trip_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "执法检查", "priority": "law_enforcement", "passengers": 2,
        "pickup": {"lat": YARD_A[0] + 0.01, "lon": YARD_A[1], "address": "江岸区沿江大道"},
        "dropoff": {"lat": YARD_A[0] + 0.05, "lon": YARD_A[1] + 0.03, "address": "黄陂区前川街"},
        "earliest_pickup": at(9).isoformat(), "latest_pickup": at(9, 30).isoformat(), "dwell_min": 30,
    }
    body.update(overrides)
    if body["priority"] == "emergency":  # the server asks an emergency its reason; a test drops it with None
        body.setdefault("priority_reason", "暴雨致道路积水，需紧急转移群众")
    return body


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


ONE_HOUR = timedelta(hours=1)


@pytest.fixture
def hermetic_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """/audit/verify and the policies read files: keep them off the working directory. Use it with
    ``pytestmark = pytest.mark.usefixtures("hermetic_files")``."""
    monkeypatch.setenv("GONGCHE_AUDIT_CHECKPOINT_FILE", str(tmp_path / "checkpoints.jsonl"))
    monkeypatch.setenv("GONGCHE_POLICY_DIR", str(tmp_path / "policies"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
