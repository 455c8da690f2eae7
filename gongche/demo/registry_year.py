"""The demo's registry year: 武汉市 (see ``city``) with 21 agencies and about 300 retained vehicles, its plan
year, and a year of costs — all written through the same services (and audit chain) real users go through.

``seed`` is reproducible from its random seed; ``run`` is the year, its report and its verification, followed by
the dispatch day (``dispatch_day``) on the registry it leaves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.panel import Panel
from rich.table import Table as RichTable
from sqlalchemy.orm import Session

from dispatch.synthetic.city import CENTRE  # 武汉: the demo city is the engine's synthetic one
from fleet import audit, clock, costs, drivers, plans, queries, registry, reports, rules, vehicles
from fleet.enums import (
    Category,
    CostKind,
    DisposalMethod,
    MarkingStatus,
    Powertrain,
    RegistrationBasis,
    VehicleSource,
    VehicleStatus,
)
from fleet.errors import RuleViolation, StandardExceeded
from fleet.models import Agency, Plan, Vehicle
from fleet.schemas import (
    AgencyIn,
    CostIn,
    DisposalIn,
    DriverIn,
    JurisdictionIn,
    PlanIn,
    QuotaIn,
    TransferIn,
    VehicleIn,
    vin_check_digit,
)
from gongche.demo import dispatch_day
from gongche.demo.city import (
    ADMIN,
    AGENCIES,
    APPROVER,
    CLERK,
    ENERGY_CNY_PER_KM,
    GIVEN_NAMES,
    HEADROOM,
    SEDANS_ICE,
    SEDANS_NEV,
    SPECIAL,
    UNMARKED_SERIALS,
    Model,
    models_for,
)


@dataclass
class Counters:
    serial: int = 0
    plates: set[str] = field(default_factory=set)


def _vin(rng: random.Random, serial: int) -> str:
    wmi = rng.choice(["LSV", "LFV", "LGX", "LC0", "LVG", "LGB"])
    body = f"{wmi}{rng.choice('ABCDEFGH')}{rng.randint(10, 99)}{rng.choice('ABCDE')}{rng.randint(0, 9)}0" \
           f"{rng.choice('GHJKLMNPRS')}{rng.choice('ABCDE')}{serial:06d}"
    return body[:8] + vin_check_digit(body) + body[9:]


def _plate(rng: random.Random, c: Counters, powertrain: Powertrain, police: bool) -> str:
    while True:
        if police:
            plate = f"鄂A{rng.randint(0, 9999):04d}警"
        elif powertrain in (Powertrain.bev, Powertrain.phev, Powertrain.fcev):
            plate = f"鄂A{rng.choice('DF')}{rng.randint(0, 99999):05d}"
        else:
            plate = f"鄂A{rng.choice('BCEGHJKLMN')}{rng.randint(0, 9999):04d}"
        if plate not in c.plates:
            c.plates.add(plate)
            return plate


def _near(rng: random.Random, spread_km: float = 12.0) -> tuple[float, float]:
    return (round(CENTRE[0] + rng.uniform(-1, 1) * spread_km / 111, 5),
            round(CENTRE[1] + rng.uniform(-1, 1) * spread_km / 96, 5))


def vehicle_data(rng: random.Random, c: Counters, *, agency: str, category: Category, model: Model,
                 acquired_on: date, odometer: int, source: VehicleSource = VehicleSource.retained) -> VehicleIn:
    c.serial += 1
    police = agency == "WH-GAJ" and category is Category.law_enforcement
    if category is Category.confidential_comms:
        marking, exemption = MarkingStatus.exempt, "机要通信保密需要"
    elif agency == "WH-JWJW" and category is Category.law_enforcement:
        marking, exemption = MarkingStatus.exempt, "纪检监察办案保密需要"
    elif c.serial in UNMARKED_SERIALS:
        marking, exemption = MarkingStatus.unmarked, None
    else:
        marking, exemption = MarkingStatus.marked, None
    lat, lon = _near(rng)
    return VehicleIn(
        plate=_plate(rng, c, model.powertrain, police), vin=_vin(rng, c.serial), model=model.name,
        category=category, powertrain=model.powertrain, seats=model.seats, price_cny=Decimal(model.price),
        displacement_l=Decimal(model.litres) if model.litres else None, range_km=model.range_km,
        acquired_on=acquired_on, odometer_km=odometer, home_lat=lat, home_lon=lon, marking=marking,
        marking_exemption=exemption, source=source,
    )


def _share_nev(rng: random.Random, year: int) -> float:
    """Older fleets are mostly fuel; new-energy purchases rose after 2020."""
    return 0.05 if year < 2018 else 0.2 if year < 2021 else 0.45


def seed(session: Session, *, seed: int = 2026, today: date | None = None) -> dict[str, object]:
    """Create the demo jurisdiction and its retained fleet (as stock-taken at the end of last year)."""
    rng = random.Random(seed)
    today = today or clock.today()
    year = today.year
    stocktake = date(year - 1, 12, 31)
    c = Counters()
    # The platform went live at the stocktake: the fleet held then is registered; later vehicles come through plans.
    registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(code="420000", name="湖北省", level="province",
                                                                     live_on=stocktake))
    registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(
        code="420100", name="武汉市", level="city", parent="420000", live_on=stocktake))
    for code, name in (("420102", "江岸区"), ("420106", "武昌区"), ("420111", "洪山区")):
        registry.create_jurisdiction(session, ADMIN, data=JurisdictionIn(
            code=code, name=name, level="county", parent="420100", live_on=stocktake))
    for code, name, jurisdiction, quotas in AGENCIES:
        registry.create_agency(session, ADMIN, data=AgencyIn(code=code, name=name, jurisdiction=jurisdiction))
        for category, limit in quotas.items():
            registry.set_quota(session, ADMIN, data=QuotaIn(
                agency=code, category=category, limit=limit, reason="公务用车制度改革后核定编制"))
            # Agencies hold 80-95 % of their quota; the city-management bureau has room for its plan.
            held = limit - HEADROOM.get(code, max(1, round(limit * rng.uniform(0.02, 0.12))))
            for _ in range(held):
                bought = rng.randint(year - 13, year - 1)
                pool = models_for(category)
                nev = [m for m in pool if m.powertrain in (Powertrain.bev, Powertrain.phev)]
                fuel = [m for m in pool if m not in nev] or pool
                model = rng.choice(nev if nev and rng.random() < _share_nev(rng, bought) else fuel)
                acquired = date(bought, rng.randint(1, 12), rng.randint(1, 28))
                km_per_year = rng.randint(9000, 26000 if category is Category.law_enforcement else 18000)
                odometer = int(km_per_year * ((stocktake - acquired).days / 365.25))
                source = VehicleSource.platform if code == "WH-JGSW" else VehicleSource.retained
                data = vehicle_data(rng, c, agency=code, category=category, model=model, acquired_on=acquired,
                                    odometer=odometer, source=source)
                try:
                    vehicles.register(session, ADMIN, agency=code, data=data, read_on=stocktake)
                except StandardExceeded:  # bought before today's standard: on the books with its basis, reported
                    vehicles.register(session, ADMIN, agency=code, read_on=stocktake, data=data.model_copy(update={
                        "registration_basis": RegistrationBasis.other_approved,
                        "registration_note": f"{acquired.year}年按当时配备标准购置，经机关事务管理局核准保留"}))
    for i in range(60):
        agency = None if i < 24 else rng.choice(AGENCIES)[0]
        night = i % 8 == 0
        drivers.add_driver(session, ADMIN, data=DriverIn(
            name=f"{rng.choice('王李张刘陈杨黄赵周吴')}{rng.choice(GIVEN_NAMES)}{i:02d}",
            licence_class="A1" if i % 15 == 0 else "C1", agency=agency,
            shift_start="20:00" if night else "07:30", shift_end="08:00" if night else "18:30"))
    return {"rng": rng, "counters": c}


@dataclass
class PlanOutcome:
    agency: str
    title: str
    vehicles: int
    new_energy: int
    status: str
    note: str


def _old_vehicles(session: Session, agency: str, category: Category, n: int, before: date) -> list[str]:
    return list(session.scalars(
        sa.select(Vehicle.plate).join(Agency).where(
            Agency.code == agency, Vehicle.category == category, Vehicle.acquired_on <= before,
            Vehicle.status == VehicleStatus.active).order_by(Vehicle.acquired_on).limit(n)))


def plan_year(session: Session, *, today: date | None = None) -> list[PlanOutcome]:
    """This year's plans: two approved, one refused for the new-energy share and then corrected and approved."""
    today = today or clock.today()
    year = today.year
    cutoff = date(today.year - 8, today.month, min(today.day, 28))  # old enough to renew today
    nev = {"powertrain": "bev", "unit_price_cny": 140000}
    fuel = {"powertrain": "ice", "unit_price_cny": 115000, "displacement_l": "1.5"}
    police_old = _old_vehicles(session, "WH-GAJ", Category.law_enforcement, 5, cutoff)
    drafts = [
        ("WH-GAJ", f"市公安局{year}年执法执勤用车更新计划", [
            {"kind": "renewal", "category": "law_enforcement", "count": len(police_old), "replaces": police_old, **nev},
            {"kind": "new", "category": "law_enforcement", "count": 3, **fuel},
            {"kind": "new", "category": "special_technical", "count": 1, "powertrain": "ice",
             "unit_price_cny": 300000, "displacement_l": "2.8", "seats": 6,
             "new_energy_exemption": "排爆专用车型暂无新能源车型"},
        ]),
        ("WH-YJJ", f"市应急管理局{year}年应急用车配备计划", [
            {"kind": "new", "category": "emergency", "count": 1, "powertrain": "phev", "unit_price_cny": 158000,
             "displacement_l": "1.5"},
            {"kind": "new", "category": "emergency", "count": 2, "powertrain": "ice", "unit_price_cny": 170000,
             "displacement_l": "1.8", "seats": 7},
        ]),
        ("WH-CGW", f"市城管执法委{year}年执法用车配备计划", [
            {"kind": "new", "category": "law_enforcement", "count": 10, **fuel},
        ]),
    ]
    outcomes = [_decide(session, agency, title, lines, today) for agency, title, lines in drafts]
    # The refused bureau follows the fix the refusal gave and resubmits.
    outcomes.append(_decide(session, "WH-CGW", f"市城管执法委{year}年执法用车配备计划(修订)", [
        {"kind": "new", "category": "law_enforcement", "count": 4, **nev},
        {"kind": "new", "category": "law_enforcement", "count": 6, **fuel},
    ], today))
    return outcomes


def _decide(session: Session, agency: str, title: str, lines: list[dict[str, object]], today: date) -> PlanOutcome:
    plan = plans.create_plan(session, ADMIN, today=today, data=PlanIn.parse(
        {"agency": agency, "year": today.year, "title": title, "lines": lines}))
    plans.submit_plan(session, ADMIN, plan_id=plan.id, today=today)
    policy = queries.policy_for(session, plan.agency.jurisdiction)
    count = sum(ln.count for ln in plan.lines)
    nev = sum(ln.count for ln in plan.lines if policy.is_new_energy(ln.powertrain))
    try:
        plans.approve_plan(session, APPROVER, plan_id=plan.id, today=today)
        return PlanOutcome(agency, title, count, nev, "approved", "")
    except RuleViolation as refusal:
        plans.reject_plan(session, APPROVER, plan_id=plan.id, reason=refusal.detail)
        return PlanOutcome(agency, title, count, nev, f"rejected ({refusal.rule})", refusal.detail)


def _day_this_year(rng: random.Random, today: date) -> date:
    """A random day from 2 January to today (today itself on 1 and 2 January)."""
    first = min(date(today.year, 1, 2), today)
    return first + timedelta(days=rng.randint(0, (today - first).days))


def carry_out(session: Session, rng: random.Random, c: Counters, *, today: date | None = None) -> None:
    """Buy and renew under the approved plans, transfer, seal, repair and dispose, through the year."""
    today = today or clock.today()
    year = today.year
    approved = session.scalars(sa.select(Plan).where(Plan.year == year, Plan.status == "approved")
                               .order_by(Plan.id)).all()
    for plan in approved:
        for line in plan.lines:
            for i in range(line.count):
                on = _day_this_year(rng, today)
                if line.kind == "renewal":  # not before the replaced vehicle reaches its renewal age
                    on = max(on, rules.renewal_due(line.replaces[i].acquired_on, 8))
                pool = [m for m in models_for(line.category) + SEDANS_NEV + SEDANS_ICE + SPECIAL
                        if m.powertrain is line.powertrain and m.seats == line.seats
                        and Decimal(m.price) <= line.unit_price_cny
                        and (Decimal(m.litres) if m.litres else Decimal(0)) <= (line.displacement_l or Decimal(0))]
                model = rng.choice(pool) if pool else Model(
                    "应急指挥车", line.powertrain, int(line.unit_price_cny) - 2000,
                    str(line.displacement_l) if line.displacement_l else None, 300, seats=line.seats)
                data = vehicle_data(rng, c, agency=plan.agency.code, category=line.category, model=model,
                                    acquired_on=on, odometer=0)
                if line.kind == "renewal":
                    old = line.replaces[i]
                    vehicles.renew(session, ADMIN, plan_line_id=line.id, replaced_vehicle_id=old.id, data=data,
                                   disposal=DisposalIn(method=DisposalMethod.auction, disposed_on=on,
                                                       proceeds_cny=Decimal(rng.randint(6, 22) * 1000)))
                else:
                    vehicles.acquire(session, ADMIN, plan_line_id=line.id, data=data)
    # 调剂: two law-enforcement cars move from the city-management bureau to the districts.
    for to in ("JA-ZF", "WC-ZF"):
        v = session.scalars(sa.select(Vehicle).join(Agency).where(
            Agency.code == "WH-CGW", Vehicle.status == VehicleStatus.active, Vehicle.plan_line_id.is_(None))
            .order_by(Vehicle.id)).first()
        if v is not None:
            vehicles.transfer(session, ADMIN, vehicle_id=v.id, data=TransferIn(
                to_agency=to, transferred_on=min(date(year, 4, 15), today), reason="区级执法力量补充，市级调剂"))
    # Old vehicles sealed and disposed of; one in the workshop.
    oldest = session.scalars(sa.select(Vehicle).where(Vehicle.status == VehicleStatus.active,
                                                      Vehicle.acquired_on < date(year - 11, 1, 1))
                             .order_by(Vehicle.acquired_on).limit(7)).all()
    for i, v in enumerate(oldest):
        vehicles.seal(session, ADMIN, vehicle_id=v.id, reason="超过使用年限，待处置")
        if i < 4:
            method = (DisposalMethod.auction, DisposalMethod.scrap, DisposalMethod.manufacturer_recycling,
                      DisposalMethod.auction)[i]
            proceeds = Decimal(0) if method is DisposalMethod.scrap else Decimal(rng.randint(3, 15) * 1000)
            vehicles.dispose(session, ADMIN, vehicle_id=v.id, data=DisposalIn(
                method=method, disposed_on=min(date(year, 5 + i, 10), today), proceeds_cny=proceeds,
                note="公开处置，收入上缴国库" if proceeds else "报废回收"))
    workshop = session.scalars(sa.select(Vehicle).where(Vehicle.status == VehicleStatus.active)
                               .order_by(Vehicle.id).offset(40)).first()
    if workshop is not None:
        vehicles.maintenance_in(session, ADMIN, vehicle_id=workshop.id, reason="事故维修")


def ledger(session: Session, rng: random.Random, *, today: date | None = None) -> int:
    """A year of costs for every vehicle in use: fuel or charging monthly with the odometer, maintenance,
    insurance, tolls and parking. Returns the number of entries."""
    today = today or clock.today()
    year = today.year
    fleet = session.scalars(sa.select(Vehicle).where(Vehicle.status != VehicleStatus.disposed)
                            .order_by(Vehicle.id)).all()
    accident = fleet[len(fleet) // 3].id if fleet else None
    entries = 0

    def book(v: Vehicle, kind: CostKind, on: date, amount: Decimal, odometer: int | None = None,
             note: str | None = None) -> None:
        nonlocal entries
        if v.acquired_on <= on <= today:
            costs.record_cost(session, CLERK, vehicle_id=v.id, data=CostIn(
                kind=kind, incurred_on=on, amount_cny=max(Decimal(20), amount), odometer_km=odometer, note=note))
            entries += 1

    for v in fleet:
        electric = v.powertrain in (Powertrain.bev, Powertrain.fcev)
        per_km = ENERGY_CNY_PER_KM[v.powertrain]
        monthly_km = rng.randint(600, 2600 if v.category is Category.law_enforcement else 1800)
        if v.status is VehicleStatus.sealed:
            monthly_km = rng.randint(5, 40)
        km = v.odometer_km
        for month in range(1, 13):
            driven = int(monthly_km * rng.uniform(0.7, 1.3))
            fill_up = date(year, month, 25)
            if v.acquired_on <= fill_up <= today:
                km += driven
                book(v, CostKind.charging if electric else CostKind.fuel, fill_up,
                     (per_km * driven).quantize(Decimal("1")), km)
            if month % 4 == 0:
                book(v, CostKind.maintenance, date(year, month, 12), Decimal(rng.randint(300, 1800)))
            if rng.random() < 0.3:
                book(v, rng.choice([CostKind.tolls, CostKind.parking]), date(year, month, 18),
                     Decimal(rng.randint(15, 260)))
        book(v, CostKind.insurance, max(date(year, 1, 1), v.acquired_on) + timedelta(days=3),
             Decimal(rng.randint(2800, 4600)))
        if v.id == accident:
            book(v, CostKind.maintenance, date(year, 3, 3), Decimal(38600), note="事故维修(保险未覆盖部分)")
    return entries


def show(console: Console, session: Session, outcomes: list[PlanOutcome], report: reports.AnnualReport,
         written: list[Path], verification: audit.Verification) -> None:
    s = report.summary
    console.print(Panel.fit(
        f"[bold]{report.scope_name} {report.year}[/] — {s['agencies']} agencies, {s['vehicles_held']} vehicles "
        f"held against a quota of {s['quota_total']} ({s['quota_use_pct']} %), "
        f"{s['new_energy_held']} new-energy",
        title="公车 Gongche demo jurisdiction"))

    by_cat = RichTable(title="Quota use by category 编制使用")
    for col in ("category", "quota", "held", "use"):
        by_cat.add_column(col, justify="right" if col != "category" else "left")
    quota_rows = report.table("quota_use").rows
    for cat in Category:
        rows = [r for r in quota_rows if r[2] == cat]
        quota, held = sum(r[3] for r in rows), sum(r[4] for r in rows)
        if quota:
            by_cat.add_row(f"{cat.value} {cat.zh}", str(quota), str(held), f"{100 * held / quota:.0f} %")
    console.print(by_cat)

    plan_table = RichTable(title=f"{report.year} acquisition and renewal plans 配备更新计划")
    for col in ("#", "agency", "plan", "vehicles", "new-energy", "decision"):
        plan_table.add_column(col, overflow="fold")
    for i, o in enumerate(outcomes, start=1):
        decision = "[green]approved[/]" if o.status == "approved" else f"[red]{o.status}[/]"
        plan_table.add_row(str(i), o.agency, o.title, str(o.vehicles), str(o.new_energy), decision)
    console.print(plan_table)
    for i, o in enumerate(outcomes, start=1):
        if o.note:
            console.print(f"[red]Plan {i} refused:[/] {o.note}", highlight=False)
    console.print(f"New-energy share of {report.year} additions: [bold]{s['additions_new_energy']} of "
                  f"{s['additions']}[/] vehicles acquired ({s['additions_new_energy_pct']} %), "
                  f"policy minimum {s['new_energy_minimum_pct']} % of approved plan vehicles")

    top = RichTable(title="Highest cost per km 单车核算 (year to date)")
    for col in ("plate", "agency", "category", "powertrain", "km", "cost CNY", "CNY/km"):
        top.add_column(col, justify="right" if col in ("km", "cost CNY", "CNY/km") else "left")
    for row in report.table("top_cost_per_km").rows[:10]:
        top.add_row(row[0], row[1], row[2].value, row[3].value, f"{row[4]:,}", f"{row[5]:,.0f}", f"{row[6]}")
    console.print(top)
    console.print(f"Fleet: {s['km_driven']:,} km driven, operating cost {s['operating_cost_cny']:,.0f} CNY, "
                  f"{s['cost_per_km_cny']} CNY/km, {s['cost_per_vehicle_cny']:,} CNY per vehicle; "
                  f"{s['disposals']} disposals brought {s['disposal_proceeds_cny']:,.0f} CNY")
    console.print("Annual report written: " + ", ".join(str(p) for p in written))
    style = "green" if verification.ok else "bold red"
    console.print(f"[{style}]{verification}[/]")


def run(session: Session, *, out_dir: Path, seed_value: int = 2026, today: date | None = None,
        console: Console | None = None) -> audit.Verification:
    """The main job: seed, plan, carry out, book costs, report, verify. Returns the audit verification."""
    console = console or Console()
    today = today or clock.today()
    with console.status("Seeding the demo jurisdiction (agencies, quotas, retained fleet, drivers)…"):
        state = seed(session, seed=seed_value, today=today)
        session.commit()
    rng, counters = state["rng"], state["counters"]
    assert isinstance(rng, random.Random)
    assert isinstance(counters, Counters)
    with console.status("Deciding this year's plans…"):
        outcomes = plan_year(session, today=today)
        session.commit()
    with console.status("Acquiring, renewing, transferring, disposing…"):
        carry_out(session, rng, counters, today=today)
        session.commit()
    with console.status("Booking a year of costs…"):
        ledger(session, rng, today=today)
        session.commit()
    out_dir.mkdir(parents=True, exist_ok=True)
    report = reports.annual_report(session, year=today.year, jurisdiction="420100")
    written = []
    for fmt in reports.FORMATS:
        path = out_dir / f"annual-{today.year}-420100.{fmt}"
        report.write(path, fmt)
        written.append(path)
    verification = audit.verify(session)
    show(console, session, outcomes, report, written, verification)
    dispatch_day.run(session, console, today=today, out_dir=out_dir)
    return verification
