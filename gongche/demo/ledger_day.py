"""The evening of the booking day, over real HTTP: a trip the fleet could not serve goes to a contracted rental
provider (公务租车, 定点租赁) and is billed; the cars that drove fill up; then the month's statement (统一核算一本账)
charges every completed trip to the agency that booked it, with each vehicle's ledger reconciled to the fen."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import clock, costs, users
from fleet.db import unit_of_work
from fleet.enums import CostKind, OversightOffice, Powertrain, Role, TripStatus
from fleet.models import Assignment, Trip, Vehicle
from fleet.schemas import CostIn
from gongche.demo.booking_day import SETUP, serving
from gongche.demo.city import ENERGY_CNY_PER_KM

PROVIDER = {"code": "WH-ZL-01", "name": "武汉市公务用车定点租赁有限公司", "contact": "027-8280 0000",
            "base_cny": "60.00", "per_km_cny": "2.80", "per_hour_cny": "35.00", "max_seats": 9,
            "contract_until": None}


def run(engine: Engine, console: Console, *, day: date, out_dir: Path) -> Path:
    """Rent and bill one unserved trip of ``day``, book the day's fill-ups, and read the month's statement (its
    XLSX written to ``out_dir``). Returns the XLSX's path."""
    evening = datetime.combine(day, time(23, 30), clock.CHINA)  # after the day's last trip
    with clock.travel(evening), unit_of_work(engine) as session:
        tokens = {role: users.add_user(session, SETUP, name=f"ledger-{role.value}", role=role,
                                       office=OversightOffice.finance if role is Role.supervisor else None)[1]
                  for role in (Role.admin, Role.dispatcher, Role.supervisor)}
        filled = _fill_up(session, day)
    month = f"{day:%Y-%m}"
    with clock.travel(evening), serving(engine) as base, \
            httpx.Client(base_url=f"{base}/api/v1", timeout=60) as http:
        def call(method: str, url: str, who: Role, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, url, headers={"Authorization": f"Bearer {tokens[who]}"}, **kwargs)
            if answer.status_code >= 400:  # the demo's requests are all valid: any refusal is a bug to show
                raise RuntimeError(f"{method} {url}: {answer.status_code} {answer.text}")
            return answer

        call("POST", "/rental-providers", Role.admin, json={**PROVIDER, "contract_until": f"{day.year}-12-31"})
        left = call("GET", "/trips", Role.dispatcher, params={
            "status": "approved", "since": day.isoformat(), "until": day.isoformat(), "limit": 1}).json()["items"]
        if left:
            trip = left[0]
            rented = call("POST", f"/trips/{trip['id']}/rent", Role.dispatcher,
                          json={"provider": PROVIDER["code"]}).json()
            km = round(trip["planned_km"] * 1.1 + 2, 1)
            billed = call("POST", f"/trips/{trip['id']}/rental-bill", Role.dispatcher, json={"km": km}).json()
            riders = f"{trip['passengers']} passenger{'s' if trip['passengers'] != 1 else ''}"
            console.print(f"[bold]公务租车[/]: trip {trip['id']} ({trip['agency']}, {riders}, "
                          f"unserved: {trip['dispatch_note'] or 'no vehicle free'}) sent to {PROVIDER['code']} — "
                          f"estimate {rented['rental']['cost_cny']} CNY; billed {km} km, "
                          f"{billed['rental']['cost_cny']} CNY, trip {billed['status']}")
        else:
            console.print("[bold]公务租车[/]: every approved trip of the day was served; nothing to rent")
        statement = call("GET", "/statements", Role.supervisor, params={"month": month}).json()
        sheet = call("GET", "/statements", Role.supervisor, params={"month": month, "format": "xlsx"})
    path = out_dir / f"statement-{month}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sheet.content)
    _show(console, statement, filled, path)
    return path


def _fill_up(session: Session, day: date) -> int:
    """Each vehicle that drove a trip on ``day`` fills up (or charges) that evening, paying for the km since its
    last reading before the month: the month's ledger then holds what the day cost."""
    start, end = clock.local_moment(day), clock.local_moment(day + timedelta(days=1))
    driven = session.scalars(
        sa.select(Vehicle).join(Assignment, Assignment.vehicle_id == Vehicle.id)
        .join(Trip, Trip.id == Assignment.trip_id)
        .where(Assignment.active, Trip.status == TripStatus.completed, Trip.started_at >= start,
               Trip.started_at < end).distinct().order_by(Vehicle.id)).all()
    km = costs.mileages(session, [v.id for v in driven], day.replace(day=1), day)
    filled = 0
    for vehicle in driven:
        if km.get(vehicle.id, 0) <= 0:
            continue
        kind = CostKind.charging if vehicle.powertrain in (Powertrain.bev, Powertrain.fcev) else CostKind.fuel
        amount = max(Decimal(20), (ENERGY_CNY_PER_KM[vehicle.powertrain] * km[vehicle.id]).quantize(Decimal("1")))
        costs.record_cost(session, SETUP, vehicle_id=vehicle.id, data=CostIn(
            kind=kind, incurred_on=day, amount_cny=amount, odometer_km=vehicle.odometer_km, note="收车后加油/充电"))
        filled += 1
    return filled


def _show(console: Console, statement: dict[str, Any], filled: int, path: Path) -> None:
    trips = statement["trips"]
    borrowed = sum(1 for t in trips if t["holder"] is not None and t["holder"] != t["agency"])
    table = Table(title=f"GET /statements?month={statement['month']} (统一核算, CNY): {len(trips)} completed trips "
                        f"charged to the agencies that booked them, {borrowed} of them in another agency's car")
    for column in ("agency", "trips", "vehicle", "driver", "rental", "charged", "own cars' rest"):
        table.add_column(column, justify="left" if column == "agency" else "right")
    ranked = sorted(statement["agencies"], key=lambda a: -Decimal(a["total_cny"]))
    for a in ranked[:8]:
        table.add_row(a["agency"], str(a["trips"]), a["vehicle_cny"], a["driver_cny"], a["rental_cny"],
                      a["total_cny"], a["unallocated_cny"])
    t = statement["totals"]
    table.add_row(f"all {len(ranked)} agencies", str(t["trips"]), t["vehicle_cny"], t["driver_cny"],
                  t["rental_cny"], t["total_cny"], t["unallocated_cny"], style="bold")
    console.print(table)
    check = statement["reconciliation"]
    style = "green" if check["balanced"] else "bold red"
    console.print(f"[{style}]Reconciliation of {len(statement['vehicles'])} vehicles' ledgers ({filled} filled up "
                  f"tonight): {check['ledger_cny']} CNY on the books = {check['charged_cny']} charged to booking "
                  f"agencies + {check['unallocated_cny']} left with the holders (deadhead, idle) — "
                  f"{'balanced to the fen' if check['balanced'] else 'NOT BALANCED'}[/]; statement written to {path}")
