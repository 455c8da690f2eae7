"""The demo's "who sees what" (fleet.scopes), over real HTTP on the booked day: the city's admin makes a district
admin for 江岸区, who makes its district's 纪检监察 supervisor (and is refused a city-wide one); the district's and
the city's supervisors then read the same routes, side by side; last, the district supervisor is deactivated and its
token stops at once.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from fleet import users
from fleet.audit import Actor
from fleet.db import unit_of_work
from fleet.enums import OversightOffice, Role
from gongche.demo.booking_day import serving

CITY, DISTRICT = "420100", "420102"  # 武汉市, 江岸区
ROOT = Actor("demo", "admin")


def run(engine: Engine, console: Console, *, day: date) -> None:
    """Make the users, show what each supervisor reads on ``day``, deactivate one."""
    with unit_of_work(engine) as session:
        _, city_admin = users.add_user(session, ROOT, name="管理员-武汉市", role=Role.admin, jurisdiction=CITY)
        _, city_supervisor = users.add_user(session, ROOT, name="财政-武汉市", role=Role.supervisor,
                                            jurisdiction=CITY, office=OversightOffice.finance)
    with serving(engine) as base, httpx.Client(base_url=f"{base}/api/v1", timeout=60) as http:
        def call(token: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
            return http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)

        made = call(city_admin, "POST", "/users", json={"name": "管理员-江岸区", "role": "admin",
                                                        "jurisdiction": DISTRICT}).json()
        district_admin = made["token"]
        supervisor = call(district_admin, "POST", "/users", json={
            "name": "纪检-江岸区", "role": "supervisor", "jurisdiction": DISTRICT, "office": "discipline"}).json()
        wider = call(district_admin, "POST", "/users", json={"name": "纪检-全市", "role": "supervisor",
                                                              "jurisdiction": CITY})
        console.print(f"[bold]Who sees what[/]: the city's admin made 管理员-江岸区 (admin for {DISTRICT} 江岸区), "
                      f"who made 纪检-江岸区 (supervisor, 纪检监察); asked for a city-wide supervisor it got "
                      f"{wider.status_code}: {wider.json()['detail']}")
        district = supervisor["token"]
        window = {"since": day.isoformat(), "until": day.isoformat()}
        reads = [("trips", "/trips", {"limit": 1}), ("vehicles", "/vehicles", {"limit": 1}),
                 ("findings", "/violations", window), ("audit records", "/audit", {"limit": 1}),
                 ("agencies", "/agencies", {"limit": 1})]
        table = Table(title=f"What each supervisor reads on {day}")
        for column in ("", "纪检-江岸区 (district)", "财政-武汉市 (city)"):
            table.add_column(column, justify="right" if column else "left")
        for label, url, params in reads:
            table.add_row(label, *(str(call(token, "GET", url, params=params).json()["total"])
                                   for token in (district, city_supervisor)))
        report = [call(token, "GET", "/reports/annual", params={"year": day.year}).json()["scope"]
                  for token in (district, city_supervisor)]
        table.add_row("annual report of", *report)
        city_trip = call(city_supervisor, "GET", "/trips", params={"limit": 1, "agency": "WH-GAJ"}).json()["items"]
        if city_trip:
            seen = call(district, "GET", f"/trips/{city_trip[0]['id']}").status_code
            table.add_row(f"trip {city_trip[0]['id']} (WH-GAJ, in the city)", str(seen), "200")
        console.print(table)
        stopped = call(district_admin, "POST", f"/users/{supervisor['user']['id']}/deactivate",
                       json={"reason": "调离"})
        after = call(district, "GET", "/trips", params={"limit": 1}).status_code
        console.print(f"管理员-江岸区 deactivated 纪检-江岸区 ({stopped.status_code}); its token now gets {after}")
