"""The demo's records office: a reorganisation (机构改革) of two agencies, records kept up to date, the reminders
coming due, and one vehicle's yearly account (单车核算) — through the same services the API's routes call.

- 机构改革: the city's 机要保密局 merges into the 市委办公厅 (vehicles, quotas, open trips and staff move), and a
  园林和林业局 is split off the 自然资源和规划局 with two of its vehicles and their part of the quota;
- records: insurance and inspection dates, a service, a terminal, a driver's licence, each edit audited field by field;
- reminders: what falls due within 30 days, or is overdue (``gongche reminders`` prints the same table).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from fleet import amendments, costs, queries, reminders, reorganisation
from fleet.enums import VehicleStatus
from fleet.models import CostEntry, Driver, Vehicle
from fleet.schemas import DriverPatch, MergeIn, SplitIn, VehiclePatch
from gongche.cli import reminder_table
from gongche.demo.city import ADMIN

MERGED, INTO = "WH-JYJ", "WH-SWBGT"  # 机要保密局 into 市委办公厅
SPLIT, PART = "WH-ZRZY", "WH-YLLY"  # 园林和林业局 split off 自然资源和规划局
SHOWN = 14


def reorganise(session: Session, *, today: date) -> tuple[reorganisation.Reorganised, reorganisation.Reorganised]:
    merged = reorganisation.merge(session, ADMIN, code=MERGED, data=MergeIn(
        into=INTO, on=today, reason="机构改革: 市机要保密局并入市委办公厅 (市委编委批复)"))
    source = queries.agency_by_code(session, SPLIT)
    held = session.scalars(sa.select(Vehicle).where(Vehicle.agency_id == source.id,
                                                    Vehicle.status != VehicleStatus.disposed)
                           .order_by(Vehicle.plate)).all()
    limits = {c: queries.quota_limit(session, source.id, c) for c in {v.category for v in held}}
    counts = Counter(v.category for v in held)
    # two vehicles of categories the source holds within quota, so that both sides stay within theirs
    taken = [v for v in held if counts[v.category] <= limits[v.category]][:2]
    split = reorganisation.split(session, ADMIN, code=SPLIT, data=SplitIn.parse({
        "into": [{"code": PART, "name": "武汉市园林和林业局", "vehicles": [v.plate for v in taken],
                  "quotas": {c.value: n for c, n in Counter(v.category for v in taken).items()}}],
        "on": today.isoformat(), "reason": "机构改革: 分设市园林和林业局 (市委编委批复)"}))
    return merged, split


def keep_records(session: Session, *, today: date) -> int:
    """Dates and particulars the office records, chosen so that a few reminders come due. Returns the edits."""
    active = session.scalars(sa.select(Vehicle).where(Vehicle.status == VehicleStatus.active)
                             .order_by(Vehicle.plate)).all()
    edits: list[tuple[Vehicle, dict[str, object]]] = []
    for vehicle, days in zip(active[:3], (6, 18, -3), strict=False):
        edits.append((vehicle, {"insurance_expires_on": (today + timedelta(days=days)).isoformat(), "colour": "白"}))
    aged = next((v for v in active if 6.3 < (today - v.acquired_on).days / 365.25 < 9.5 and v.seats < 10), None)
    if aged is not None:  # its year-4 sticker is the last on the record: the year-6 on-site inspection is overdue
        edits.append((aged, {"inspected_on": reminders.add_months(aged.acquired_on, 48).isoformat()}))
    serviced = active[3:5]
    if len(serviced) == 2:
        edits.append((serviced[0], {"serviced_on": reminders.add_months(today, -12).isoformat()
                                    if reminders.add_months(today, -12) >= serviced[0].acquired_on else None}))
        edits.append((serviced[1], {"serviced_on": max(serviced[1].acquired_on, today - timedelta(days=40))
                                    .isoformat(), "serviced_km": max(0, serviced[1].odometer_km - 9_800),
                                    "terminal_id": "013912345678"}))
    done = 0
    for vehicle, fields in edits:
        wanted = {k: v for k, v in fields.items() if v is not None}
        if wanted:
            amendments.amend_vehicle(session, ADMIN, vehicle_id=vehicle.id, data=VehiclePatch.parse(wanted))
            done += 1
    driver = session.scalar(sa.select(Driver).where(Driver.active).order_by(Driver.id))
    if driver is not None:
        amendments.amend_driver(session, ADMIN, driver_id=driver.id, data=DriverPatch.parse({
            "licence_expires_on": (today + timedelta(days=21)).isoformat(), "phone": "13907100000"}))
        done += 1
    return done


def account_table(session: Session, *, year: int) -> Table | None:
    top = session.execute(sa.select(CostEntry.vehicle_id).group_by(CostEntry.vehicle_id)
                          .order_by(sa.func.sum(CostEntry.amount_cny).desc(), CostEntry.vehicle_id).limit(1)).first()
    if top is None:
        return None
    vehicle = queries.vehicle(session, top[0])
    account = costs.year_account(session, vehicle.id, year)
    table = Table(title=f"单车核算 {vehicle.plate} ({vehicle.agency.code}) {year}", title_justify="left",
                  caption=f"GET /vehicles/{vehicle.id}/account?year={year}", caption_justify="left")
    table.add_column("cost")
    table.add_column("CNY", justify="right")
    for kind, amount in sorted(account.by_kind.items()):
        table.add_row(f"{kind.value} {kind.zh}", f"{amount:,.2f}")
    table.add_row("[bold]total[/]", f"[bold]{account.total:,.2f}[/]")
    table.add_row(f"per km ({account.km:,} km)", f"{account.per_km:.2f}" if account.per_km is not None else "-")
    return table


def run(session: Session, console: Console, *, today: date) -> None:
    merged, split = reorganise(session, today=today)
    session.commit()
    edited = keep_records(session, today=today)
    session.commit()
    console.rule("Records office 机构改革, records and reminders")
    quota = merged.quotas.get(INTO, {})
    console.print(f"机构改革: {MERGED} merged into {INTO} on {today}: {len(merged.vehicles.get(INTO, []))} vehicle(s), "
                  f"{len(merged.trips)} open trip(s), {len(merged.users)} user(s), {len(merged.drivers)} driver(s) "
                  f"moved; {INTO}'s quota now {', '.join(f'{c} {n}' for c, n in sorted(quota.items()))}. "
                  f"{MERGED} books and holds nothing any more (POST /agencies/{MERGED}/merge-into).", highlight=False)
    console.print(f"机构改革: {PART} split off {SPLIT} with {', '.join(split.vehicles.get(PART, []))} and a quota of "
                  f"{', '.join(f'{c} {n}' for c, n in sorted(split.quotas.get(PART, {}).items()))} "
                  f"(POST /agencies/{SPLIT}/split).", highlight=False)
    console.print(f"{edited} records kept up to date (PATCH /vehicles/{{id}}, PATCH /drivers/{{id}}), each audited "
                  f"from -> to.", highlight=False)
    found = reminders.due(session, today=today, within_days=30)
    console.print(reminder_table(found[:SHOWN], title=f"Reminders due by {today + timedelta(days=30)} or overdue: "
                                 f"{len(found)} (GET /reminders?within_days=30, `gongche reminders`)",
                                 detail=console.width >= 140))
    if len(found) > SHOWN:
        console.print(f"… and {len(found) - SHOWN} more", highlight=False)
    table = account_table(session, year=today.year)
    if table is not None:
        console.print(table)
